"""Terminal mode scripted from stdin, and 200 concurrent askers (`qabot run`'s start-up paths:
``test_qabot_run.py``)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from bot import async_store
from bot.answering.answerer import Answerer
from bot.line_input import read_line
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


async def test_terminal_export_mistakes_are_one_line_not_a_traceback(tmp_path, store, answerer, caplog):
    script = (
        f'/export xml\n/export json {tmp_path} extra\n/export json "{tmp_path}\n/export json {tmp_path}\n'
    )
    out = io.StringIO()
    await Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(script), out=out
    ).run()
    lines = out.getvalue().splitlines()
    usage = "Usage: /export [FORMAT] [PATH], FORMAT one of json, jsonl, csv, sft, kto, dpo (default: json)"
    assert lines[:3] == [
        f"/export: unknown format 'xml'. {usage}",
        f"/export: too many words. {usage}",
        f"/export: No closing quotation. {usage}",
    ]
    assert lines[3] == f"Exported 0 rows (json) to {tmp_path / 'qabot-json.json'}"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no "/export failed" traceback


async def test_teaching_an_invisible_or_wordless_question_stores_nothing(store, answerer, caplog):
    """A zero-width space is no question: it was stored as a taught pair before the answerer refused it,
    with a traceback, and then sat in the store as an empty question for every /retrain. "⚽ ?" has no
    word to ask it by: stored, it was offered for any gibberish and answered "?"."""
    script = "/teach \u200b | zero\n/teach What is VAR? | \u200b\u2060\n/teach ⚽ ? | a ball\n"
    out = io.StringIO()
    await Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(script), out=out
    ).run()
    assert out.getvalue().splitlines()[:3] == [
        *["Both question and answer are needed."] * 2,
        "The question needs a word or a number people would ask it by. Nothing was taught.",
    ]
    assert count(store, TaughtPair) == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_read_line_hands_back_the_line_and_the_end_of_input():
    assert await read_line(io.StringIO("who won?\n").readline) == "who won?\n"
    with pytest.raises(EOFError):  # Ctrl-D at input()'s prompt
        await read_line(lambda: (_ for _ in ()).throw(EOFError))
    with pytest.raises(EOFError):  # a scripted reader's end: StopIteration cannot settle a future (hung)
        await asyncio.wait_for(read_line(iter([]).__next__), timeout=10)


def _ctrl_c_on() -> None:
    """In the child: Ctrl-C as a terminal delivers it. A test run started in the background of a shell
    without job control inherits SIGINT ignored, and Python then installs no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_waiting_for_a_line_ends_the_program_at_once():
    """asyncio.to_thread's worker is joined at exit: Ctrl-C at the prompt did nothing until Enter."""
    script = (
        "import asyncio, threading; from bot.line_input import read_line\n"
        "print('waiting', flush=True)\n"
        "asyncio.run(read_line(threading.Event().wait))\n"  # a line that never comes
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_ctrl_c_on
    )
    assert child.stdout.readline() == b"waiting\n"
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=10) != 0  # interrupted, not hung


def test_ctrl_c_at_a_readline_prompt_gives_the_terminal_back_as_it_was():
    """readline switches echo and line mode off while it waits; ended by Ctrl-C on another thread, it left
    the user's shell without echo."""
    import pty
    import select
    import termios

    script = (
        "import asyncio, readline; from bot.line_input import read_line\n"
        "asyncio.run(read_line(input, 'you> '))\n"
    )
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        preexec_fn=_ctrl_c_on,
    )
    seen, deadline = b"", time.monotonic() + 60
    while b"you> " not in seen and time.monotonic() < deadline:
        if select.select([leader], [], [], 0.5)[0]:
            seen += os.read(leader, 4096)
    assert b"you> " in seen
    time.sleep(0.3)
    assert not termios.tcgetattr(follower)[3] & termios.ECHO  # readline at work
    os.killpg(child.pid, signal.SIGINT)
    child.wait(timeout=10)
    assert termios.tcgetattr(follower)[3] & termios.ECHO and termios.tcgetattr(follower)[3] & termios.ICANON


def test_the_default_export_names_are_git_ignored():
    """`/export` with no PATH writes qabot-<format><suffix> in the working folder, the repository root
    when run from there: every such name is in .gitignore, so an export is never committed by mistake."""
    from fnmatch import fnmatch
    from pathlib import Path

    from storage.formats import FORMATS, default_file_name

    lines = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    patterns = [line.strip().lstrip("/") for line in lines if line.strip() and not line.startswith("#")]
    for fmt in FORMATS:
        assert any(fnmatch(default_file_name(fmt), p) for p in patterns), default_file_name(fmt)


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


async def test_a_pasted_secret_is_warned_about_on_the_answers_line(store, answerer):
    from bot.answering.answer_path import SECRET_WARNING

    out = io.StringIO()
    stdin = io.StringIO("why does my key " + "sk-proj-" + "a1B2c3D4" * 4 + " fail?\nnext\n")
    await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith(SECRET_WARNING + " echo:") and lines[1] == "echo: next"


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
    from tests.bot.fakes import lengths_generator

    generator = lengths_generator()
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


async def test_a_bare_number_with_no_choice_pending_or_out_of_range_is_no_question(store):
    """A number picks a "did you mean" choice or says why it cannot: never asked (nor logged) as a
    question ("Did you mean: How is the classic 4-4-2 set up?" for `4`)."""
    from tests.bot.fakes import lengths_generator

    generator = lengths_generator()
    out = io.StringIO()
    async with Answerer(generator, batch_wait_ms=0) as answerer:
        stdin = io.StringIO("4\nhow long\n3\n0\n2\n1\n")
        await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    assert out.getvalue().splitlines() == [
        '(nothing to pick: 4 answers no "did you mean" list; type a question)',
        "Did you mean: 1) How long is a football match? | 2) How long is half-time in a football match?",
        "(pick 1..2: the number of a question offered)",
        "(pick 1..2: the number of a question offered)",
        "15 minutes.",  # the choices stayed pending
        '(nothing to pick: 1 answers no "did you mean" list; type a question)',  # an answer offers none
    ]
    with store() as session:
        rows = list(session.scalars(select(Exchange).order_by(Exchange.id)))
    assert [(r.question, r.zone) for r in rows] == [
        ("how long", "suggest"),
        ("How long is half-time in a football match?", "answer"),
    ]


async def test_terminal_admin_views_show_the_home_communitys_questions_only(store, answerer):
    """The terminal serves the bot's store too: its /unanswered and /stats showed another guild's questions
    and a stranger's DMs, which the Discord commands leave out."""
    from types import SimpleNamespace

    def unanswered(question: str) -> SimpleNamespace:
        return SimpleNamespace(
            question=question, text="Not sure.", confidence=0.1, unanswered=True, latency_s=0.0,
            model_version="v", zone="fallback", matched_question=None, match_score=None,
        )  # fmt: skip

    await async_store.log_exchange(store, unanswered("home topic"), source="discord", guild_id=1)
    await async_store.log_exchange(store, unanswered("other guild topic"), source="discord", guild_id=2)
    stranger = await async_store.log_exchange(store, unanswered("stranger topic"), source="discord")
    await async_store.mark_outsider(store, stranger)
    await async_store.log_exchange(store, unanswered("typed here"), source="terminal")
    out = io.StringIO()
    stdin = io.StringIO("/unanswered\n/stats\n")
    await Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out, guilds={1}
    ).run()
    text = out.getvalue()
    assert "home topic" in text and "typed here" in text
    assert "other guild" not in text and "stranger" not in text
