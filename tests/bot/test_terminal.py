"""Terminal mode scripted from stdin, `qabot run` start-up paths, and 200 concurrent askers."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot import async_store
from bot.answering.answerer import Answerer
from bot.cli import app
from bot.retrain import RetrainJob
from bot.terminal import Terminal
from storage.models import Exchange, TaughtPair
from training.runtime.generate import Generator


def count(store, model) -> int:
    with store() as session:
        return session.scalar(select(func.count()).select_from(model))


async def test_terminal_is_scriptable_from_stdin(tmp_path, store, answerer):
    export = tmp_path / "out.jsonl"
    script = "\n".join(
        [
            "Who won the 2014 World Cup?",
            "",
            "/teach What is VAR? | The video assistant referee.",
            "/unanswered",
            "/stats",
            "/model",
            f"/export jsonl {export}",
            "/bogus",
            "/retrain epochs=1",
            "/quit",
            "this line is never read",
        ]
    )
    out = io.StringIO()
    # /bin/false as the trainer: a retrain that fails at once (real runs are in test_retrain.py).
    job = RetrainJob(
        answerer=answerer,
        session_factory=store,
        model_pointer=tmp_path / "models" / "current",
        python="/bin/false",
    )
    terminal = Terminal(
        answerer=answerer, session_factory=store, retrain_job=job, stdin=io.StringIO(script + "\n"), out=out
    )
    await terminal.run()
    text = out.getvalue()
    assert "echo: Who won the 2014 World Cup?" in text
    assert "Learned pair #1" in text
    assert "No unanswered questions" in text
    assert "Questions: 1" in text and "fake-v1" in text
    assert "Exported 2 rows (jsonl)" in text
    exported = [json.loads(line) for line in export.read_text().splitlines()]
    assert {"question": "What is VAR?", "answer": "The video assistant referee."} in exported
    assert "Unknown command /bogus" in text
    # /retrain runs in the background; the terminal waits for it at the end and prints the result.
    assert "[retrain] failed: Training failed: the trainer exited with code 1" in text
    assert "never read" not in text
    with store() as session:
        [row] = session.scalars(select(Exchange)).all()
        assert (row.source, row.question) == ("terminal", "Who won the 2014 World Cup?")
    assert count(store, TaughtPair) == 1


async def test_terminal_export_shows_the_kto_balance_warning(tmp_path, store, answerer):
    await async_store.teach(store, "What is VAR?", "The video assistant referee.", admin_id=None)
    script = f"/export kto {tmp_path}\n/export json {tmp_path}\n/quit\n"
    out = io.StringIO()
    await Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(script), out=out
    ).run()
    lines = out.getvalue().splitlines()
    at = lines.index(f"Exported 1 rows (kto) to {tmp_path / 'qabot-kto.jsonl'}")
    # The same words `qabot export` prints: every row desirable, which KTO cannot train on.
    assert lines[at + 1] == (
        "warning: kto: all 1 rows are desirable; KTO needs both kinds (downvoted or corrected answers are "
        "the undesirable ones)"
    )
    assert lines[at + 2].startswith("Exported 1 rows (json)") and "warning" not in "".join(lines[at + 2 :])


@pytest.mark.slow
async def test_200_concurrent_questions_get_200_answers_and_200_rows(store, tiny_checkpoint):
    generator = Generator.load(tiny_checkpoint, precision="fp32")
    questions = [f"Who won the 2014 World Cup? ({i})" for i in range(200)]
    async with Answerer(generator, max_batch_size=32, max_new_tokens=8, batch_wait_ms=5) as answerer:

        async def ask_and_log(question: str):
            answer = await answerer.answer(question)
            await async_store.log_exchange(store, answer, source="discord", user_id=hash(question) % 1000)
            return answer

        answers = await asyncio.gather(*(ask_and_log(q) for q in questions))
    assert len(answers) == 200
    assert [a.question for a in answers] == questions  # each caller got its own answer
    assert all(a.text for a in answers)
    assert count(store, Exchange) == 200


# -- qabot run -----------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """Run the CLI from an empty folder (no .env) with no token in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path


@pytest.mark.slow
def test_qabot_run_local_answers_stdin_and_logs(cli_env, tiny_checkpoint):
    db = f"sqlite:///{cli_env / 'db.sqlite'}"
    result = CliRunner().invoke(
        app,
        ["run", "--local", "--db", db, "--model", str(tiny_checkpoint)],
        input="Who won the 2014 World Cup?\n",
    )
    assert result.exit_code == 0, result.output
    assert "Germany won it." in result.stdout
    from storage.db import open_store

    store = open_store(db)
    with store() as session:
        assert session.scalars(select(Exchange.source)).all() == ["terminal"]


def test_qabot_run_refuses_an_in_memory_store(cli_env):
    result = CliRunner().invoke(app, ["run", "--local", "--db", "sqlite://"], input="hi\n")
    assert result.exit_code == 2
    assert "DATABASE_URL (or --db) is an in-memory SQLite database" in result.output


def test_qabot_run_without_a_model_prints_the_train_command(cli_env):
    result = CliRunner().invoke(app, ["run", "--local", "--model", str(cli_env / "nothing")])
    assert result.exit_code == 1
    assert "qabot train --data examples/soccer.json --base scratch" in result.output


@pytest.mark.slow
def test_bootstrap_trains_the_example_model_when_none_exists(cli_env, tiny_checkpoint, monkeypatch):
    import shutil

    import bot.launcher

    (cli_env / "examples").mkdir()
    (cli_env / "examples" / "soccer.json").write_text('[{"question": "q?", "answer": "a."}]')
    calls = []

    def fake_train_example(
        data, out, synonyms=None
    ):  # the real child: test_bootstrap_training_runs_in_a_child
        calls.append((data, out, synonyms))
        shutil.copytree(tiny_checkpoint, out)
        return 0

    monkeypatch.setattr(bot.launcher, "train_example", fake_train_example)
    result = CliRunner().invoke(
        app, ["run", "--bootstrap", "--db", f"sqlite:///{cli_env / 'd.db'}"], input=""
    )
    assert result.exit_code == 0, result.output
    [(data, out, synonyms)] = calls
    assert data.name == "soccer.json" and out.parent.name == "models"
    assert synonyms is None  # no examples/soccer_synonyms.json here: trained without a glossary
    assert (cli_env / "models" / "current").resolve() == out.resolve()


@pytest.mark.slow  # starts `python -m training` in a child process
def test_bootstrap_training_runs_in_a_child_and_a_failure_leaves_no_model(cli_env, monkeypatch, capfd):
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token-value")
    (cli_env / "examples").mkdir()
    (cli_env / "examples" / "soccer.json").write_text('[{"question": "q?"}]')  # no answer: a data error
    db = f"sqlite:///{cli_env / 'd.db'}"
    result = CliRunner().invoke(app, ["run", "--bootstrap", "--local", "--db", db])
    child = capfd.readouterr()  # the child's own output goes to the real file descriptors
    assert result.exit_code == 1
    assert "could not train the example model: training exited with code 2" in result.output
    assert "soccer.json" in child.err and "answer" in child.err  # the child named the file and the field
    assert "secret-token-value" not in result.output + child.out + child.err
    assert not (cli_env / "models").exists() or not any((cli_env / "models").iterdir())


def test_bootstrap_training_output_goes_to_stderr(tmp_path, monkeypatch, capfd):
    """`printf 'q\\n' | make run` prints one line per question: training's own output is not on stdout."""
    import bot.launcher

    child = tmp_path / "fake-python"
    child.write_text("#!/bin/sh\necho 'loss 0.5'\necho 'Saved model to x'\n")
    child.chmod(0o755)
    monkeypatch.setattr(bot.launcher.sys, "executable", str(child))
    assert bot.launcher.train_example(Path("data.json"), tmp_path / "out") == 0
    seen = capfd.readouterr()
    assert "loss 0.5" in seen.err and "Saved model to x" in seen.err
    assert seen.out == ""


def test_bootstrap_training_child_gets_no_discord_token_in_any_case(tmp_path, monkeypatch):
    import bot.launcher

    seen = {}

    class Child:
        def __init__(self, cmd, env, stdout):
            seen.update(env)

        def wait(self):
            return 0

    for name in ("DISCORD_TOKEN", "discord_token", "Discord_Token"):  # settings read the name in any case
        monkeypatch.setenv(name, "MTIz.secret")
    monkeypatch.setattr(bot.launcher.subprocess, "Popen", Child)
    assert bot.launcher.train_example(Path("data.json"), tmp_path / "out") == 0
    assert seen and "MTIz.secret" not in seen.values()


def test_bootstrap_training_runs_the_trainers_own_command_line(tmp_path, monkeypatch):
    """The example model is trained from scratch into the new folder; the pointer is the launcher's."""
    import sys

    import bot.launcher
    from training.config import parse_config

    commands = []

    class Child:
        def __init__(self, cmd, env, stdout):
            commands.append(cmd)

        def wait(self):
            return 0

    monkeypatch.setattr(bot.launcher.subprocess, "Popen", Child)
    assert bot.launcher.train_example(Path("data.json"), tmp_path / "out") == 0
    [cmd] = commands
    assert cmd[:3] == [sys.executable, "-m", "training"]
    config = parse_config(cmd[3:])
    assert (config.data, config.base, config.out) == ([Path("data.json")], "scratch", tmp_path / "out")
    assert config.no_current  # the launcher moves the pointer once the model is saved
    bot.launcher.train_example(Path("data.json"), tmp_path / "out", Path("glossary.json"))
    assert parse_config(commands[-1][3:]).synonyms == Path("glossary.json")


def _response(status: int) -> SimpleNamespace:
    """What discord.HTTPException reads of an aiohttp response."""
    return SimpleNamespace(status=status, reason="Service Unavailable")


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (discord.LoginFailure("Improper token has been passed."), 2, "Discord rejected the token"),
        (OSError("Network is unreachable"), 3, "could not reach Discord"),
        (discord.PrivilegedIntentsRequired(None), 2, "Message Content Intent"),
        (discord.DiscordServerError(_response(503), "upstream connect error"), 3, "try again in a few"),
    ],
    ids=["rejected-token", "unreachable", "intent", "server-error"],
)
@pytest.mark.slow
def test_discord_startup_failures_exit_with_a_clear_message(
    cli_env, tiny_checkpoint, monkeypatch, error, code, message
):
    secret = "MTIz.fake.SECRET-TOKEN-VALUE"
    monkeypatch.setenv("DISCORD_TOKEN", secret)

    async def failing_login(self, token):
        assert token == secret
        raise error

    monkeypatch.setattr(discord.Client, "login", failing_login)
    db = f"sqlite:///{cli_env / 'db.sqlite'}"
    result = CliRunner().invoke(app, ["run", "--db", db, "--model", str(tiny_checkpoint)])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert secret not in result.output


def test_sync_needs_a_token(cli_env):
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 1 and "DISCORD_TOKEN is not set" in result.output


async def test_a_failed_generation_does_not_end_the_terminal_session(store, fake_generator):
    calls = {"n": 0}
    generate = fake_generator.generate

    def flaky(questions, config=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA out of memory")
        return generate(questions, config)

    fake_generator.generate = flaky
    out = io.StringIO()
    async with Answerer(fake_generator, batch_wait_ms=0) as answerer:
        stdin = io.StringIO("first question\nsecond question\n")
        await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    assert "could not answer: CUDA out of memory" in out.getvalue()
    assert "echo: second question" in out.getvalue()
    assert count(store, Exchange) == 1


async def test_a_closed_stdin_is_end_of_input(store, answerer, monkeypatch):
    monkeypatch.setattr("sys.stdin", None)  # what Python sets when fd 0 is closed (`qabot run --local 0<&-`)
    out = io.StringIO()
    await Terminal(answerer=answerer, session_factory=store, retrain_job=None, out=out).run()
    assert out.getvalue() == ""
    assert count(store, Exchange) == 0


async def test_nothing_typed_ends_the_terminal_session(store, answerer, monkeypatch):
    out = io.StringIO()
    calls = {"n": 0}
    log_exchange = async_store.log_exchange

    async def flaky(*args, **kwargs):  # the store fails once (a locked or vanished database)
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk I/O error")
        return await log_exchange(*args, **kwargs)

    monkeypatch.setattr(async_store, "log_exchange", flaky)
    # "²" is a digit to str.isdigit() and not to int(); then a question whose log fails, then one that works.
    stdin = io.StringIO("²\nfirst question\nsecond question\n")
    await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    text = out.getvalue()
    assert "echo: ²" in text and "could not answer: disk I/O error" in text
    assert "echo: second question" in text


async def test_scripted_answers_with_line_breaks_stay_one_line(store, answerer, fake_generator):
    fake_generator.answers["two lines?"] = "Line one.\nLine two."
    out = io.StringIO()
    stdin = io.StringIO("two lines?\nnext\n")
    await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    assert out.getvalue().splitlines() == ["Line one. Line two.", "echo: next"]


async def test_terminal_unanswered_groups_similar_questions(store, answerer):
    from types import SimpleNamespace

    for question in ("how long is a match", "How long is a football match?", "who is the best keeper"):
        unanswered = SimpleNamespace(
            question=question, text="Not sure.", confidence=0.1, unanswered=True, latency_s=0.0,
            model_version="v", zone="fallback", matched_question=None, match_score=None,
        )  # fmt: skip
        await async_store.log_exchange(store, unanswered, source="terminal")
    out = io.StringIO()
    terminal = Terminal(
        answerer=answerer,
        session_factory=store,
        retrain_job=None,
        stdin=io.StringIO("/unanswered\n"),
        out=out,
    )
    await terminal.run()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("•")]
    assert lines[0].startswith("• 2× how long is a match (+1 similar)")
    assert lines[1].startswith("• 1× who is the best keeper")
    assert "`" not in out.getvalue()
    assert "answer with /teach QUESTION | ANSWER" in out.getvalue()  # the terminal's syntax, not Discord's


async def test_a_did_you_mean_choice_by_number_teaches_the_wording(store):
    from tests.bot.fakes import FakeGenerator
    from training.retrieval.zones import ZoneThresholds

    known = [
        {"question": "How long is a football match?", "answer": "90 minutes."},
        {"question": "How long is half-time in a football match?", "answer": "15 minutes."},
    ]
    generator = FakeGenerator(
        {p["question"]: p["answer"] for p in known},
        known=known,
        zones=ZoneThresholds(answer_score=0.8, answer_margin=0.2, suggest_score=0.5),
    )
    out = io.StringIO()
    async with Answerer(generator, batch_wait_ms=0) as answerer:
        stdin = io.StringIO("how long\n2\nhow long?\n")
        await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    assert out.getvalue().splitlines() == [
        "Did you mean: 1) How long is a football match? | 2) How long is half-time in a football match?",
        "15 minutes.",
        "15 minutes.",  # the wording learned from the choice
    ]
    with store() as session:
        rows = list(session.scalars(select(Exchange).order_by(Exchange.id)))
    assert [(r.zone, r.chosen_question) for r in rows] == [
        ("suggest", "How long is half-time in a football match?"),
        ("answer", None),
        ("answer", None),
    ]
