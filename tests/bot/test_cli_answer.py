"""`qabot ask` / `qabot chat`: output, --json, exit codes, piped chat, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from training.checkpoint import TRAIN_HINT


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    # Settings read .env from the working directory: run from an empty folder so none leaks in.
    monkeypatch.chdir(tmp_path)
    for name in ("MODEL_DIR", "CONFIDENCE_THRESHOLD", "FALLBACK_ANSWER", "PRECISION", "MAX_NEW_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.mark.slow
def test_ask_prints_the_answer(runner: CliRunner, tiny_checkpoint: Path) -> None:
    result = runner.invoke(app, ["ask", "--model", str(tiny_checkpoint), "Who won the 2014 World Cup?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Germany won it."


@pytest.mark.slow
def test_ask_json_has_confidence_latency_and_tokens(runner: CliRunner, tiny_checkpoint: Path) -> None:
    args = [
        "ask",
        "-m",
        str(tiny_checkpoint),
        "--json",
        "--precision",
        "fp32",
        "How many players are on a team?",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "Eleven players."
    assert 0 < data["confidence"] <= 1 and data["tokens"] > 0 and data["latency_s"] > 0
    assert data["model_version"] == "tiny-run" and data["unanswered"] is False


@pytest.mark.slow
def test_ask_uses_model_dir_setting_and_threshold_override(
    runner: CliRunner, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_DIR", str(tiny_checkpoint))
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9999999")
    monkeypatch.setenv("FALLBACK_ANSWER", "No idea yet.")
    result = runner.invoke(app, ["ask", "--json", "Who won the 2014 World Cup?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unanswered"] is True and data["answer"] == "No idea yet."


def test_ask_without_a_model_says_how_to_train_one(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ask", "Who won?"])  # models/current does not exist in tmp_path
    assert result.exit_code == 2
    assert TRAIN_HINT in result.output


@pytest.mark.parametrize("question", ["", "   "])
def test_ask_empty_question_exits_2_before_loading_a_model(
    runner: CliRunner, tmp_path: Path, question: str
) -> None:
    result = runner.invoke(app, ["ask", "--model", str(tmp_path / "missing"), question])
    assert result.exit_code == 2
    assert "empty" in result.output and TRAIN_HINT not in result.output  # rejected before the model load


@pytest.mark.slow
def test_ask_rejects_a_precision_the_device_lacks(runner: CliRunner, tiny_checkpoint: Path) -> None:
    result = runner.invoke(app, ["ask", "--model", str(tiny_checkpoint), "--precision", "fp16", "Who won?"])
    assert result.exit_code == 2
    assert "GPU" in result.output


@pytest.mark.slow
def test_chat_piped_gives_one_answer_per_line(runner: CliRunner, tiny_checkpoint: Path) -> None:
    stdin = "Who won the 2014 World Cup?\n\nWhat is a hat trick?\nHow many players are on a team?"
    result = runner.invoke(app, ["chat", "--model", str(tiny_checkpoint)], input=stdin)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Germany won it.",
        "",
        "Three goals by one player.",
        "Eleven players.",
    ]


@pytest.mark.slow
def test_chat_says_where_a_terminal_command_works(runner: CliRunner, tiny_checkpoint: Path) -> None:
    """`qabot chat` has no store: `/teach` there is not asked as a question; it says to use `qabot run`."""
    stdin = "/teach What is VAR? | The video assistant referee.\nWhat is a hat trick?\n/notacommand\n"
    result = runner.invoke(app, ["chat", "--model", str(tiny_checkpoint)], input=stdin)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["", "Three goals by one player."] and len(lines) == 3
    assert "/teach is a command of the terminal bot" in result.stderr and "qabot run --local" in result.stderr
    assert "/notacommand" not in result.stderr  # not a command: asked like any line


@pytest.mark.slow
def test_chat_with_stdin_closed_ends_at_once(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """`qabot chat 0<&-`: Python starts with sys.stdin None; that is end of input, not a crash."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--model", str(tiny_checkpoint)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


@pytest.mark.slow
def test_chat_survives_invalid_utf8(runner: CliRunner, tiny_checkpoint: Path) -> None:
    stdin = b"\xff\xfe\x80 broken\nWhat is a hat trick?\n"
    result = runner.invoke(app, ["chat", "--model", str(tiny_checkpoint)], input=stdin)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == "Three goals by one player."


def test_chat_without_a_model_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["chat", "--model", str(tmp_path / "missing")], input="hi\n")
    assert result.exit_code == 2
    assert TRAIN_HINT in result.output


@pytest.mark.slow
def test_ask_answers_what_the_store_taught(
    runner: CliRunner, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qabot ask` starts as `qabot run` does: taught pairs in an existing store are answered at once."""
    from storage import repo
    from storage.db import dispose, open_store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    factory = open_store(url)
    with factory.begin() as session:
        repo.add_taught_pair(session, "When does the club train on Tuesdays?", "From 7 pm at Northfield.")
    dispose(factory)
    monkeypatch.setenv("DATABASE_URL", url)
    result = runner.invoke(
        app, ["ask", "-m", str(tiny_checkpoint), "--json", "When does the club train on Tuesdays"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["answer"], data["answered_by"]) == ("From 7 pm at Northfield.", "taught")


@pytest.mark.slow
def test_ask_with_a_malformed_database_url_warns_about_the_store(
    runner: CliRunner, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad DATABASE_URL is a store problem (a warning; the model still answers), not a model one."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:hunter2@host:abc/qabot")
    result = runner.invoke(app, ["ask", "-m", str(tiny_checkpoint), "Who won the 2014 World Cup?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Germany won it."
    assert "DATABASE_URL (or --db) is not a valid database URL" in result.stderr
    assert "hunter2" not in result.output and "model" not in result.stderr


def test_interactive_chat_lists_what_it_takes_and_never_asks_a_bare_number(monkeypatch, capsys) -> None:
    """`/help` in `qabot chat` lists what a chat takes (it was refused as a terminal-bot command); a number
    with no "did you mean" pending, or out of its range, says so and is not asked as a question."""
    import asyncio
    import builtins

    from bot.answering.answerer import Answerer
    from bot.cli.answer import CHAT_HELP, _interactive
    from tests.bot.fakes import lengths_generator

    generator = lengths_generator()
    typed = iter(["/help", "4", "how long", "3", "2", "/quit"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(typed))

    async def chat() -> None:
        async with Answerer(generator, batch_wait_ms=0) as answerer:
            await _interactive(answerer)

    asyncio.run(chat())
    out, err = capsys.readouterr()
    assert CHAT_HELP in out and "/help is a command of the terminal bot" not in out + err
    assert "/quit" in CHAT_HELP and "qabot run --local" in CHAT_HELP
    assert 'nothing to pick: 4 answers no "did you mean" list' in err
    assert "pick 1..2: the number of a question offered" in err
    replies = [line for line in out.splitlines() if line.startswith("bot> ")]
    assert len(replies) == 2 and replies[0] == "bot> Did you mean:" and "2. How long is half" in out
    assert replies[1] == "bot> 15 minutes."


def test_piped_chat_help_goes_to_stderr_and_keeps_one_line_per_question() -> None:
    from bot.cli.answer import CHAT_HELP, _command_hint

    assert _command_hint("/help") == CHAT_HELP and _command_hint("/HELP ") == CHAT_HELP
