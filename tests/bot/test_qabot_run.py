"""`qabot run` start-up paths: the local terminal, the refusals (an in-memory store, no model), bootstrapping
the example model in a child process, Discord start-up failures, and `qabot sync` without a token (the
terminal session itself: ``test_terminal.py``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from storage.models import Exchange

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.slow
def test_sigterm_stops_qabot_run_cleanly(cli_env, tiny_checkpoint):
    """`docker stop` or `systemctl stop` send SIGTERM: it used to end the process on the spot, leaving a
    retrain's trainer (its own session) running on; now the front end's shutdown runs and it exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--local", "--db", f"sqlite:///{cli_env / 'db.sqlite'}",
         "--model", str(tiny_checkpoint)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        proc.stdin.write("Who won the 2014 World Cup?\n")
        proc.stdin.flush()
        assert "Germany won it." in proc.stdout.readline()  # serving: the loop runs
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Stopped (SIGTERM)." in err


def test_sigterm_stops_a_running_retrain_before_the_process_ends(monkeypatch):
    import bot.launcher
    import bot.terminal

    stopped: list[str] = []

    class Serving:  # the answerer and the sync: async context managers
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            stopped.append("closed")

    class Job:
        async def cancel(self):
            os.kill(os.getpid(), signal.SIGTERM)  # impatient: a second SIGTERM must not cancel the shutdown
            await asyncio.sleep(0.1)
            stopped.append("trainer stopped")

    class Terminal:
        def __init__(self, **_):
            pass

        async def run(self):
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)

    monkeypatch.setattr(bot.terminal, "Terminal", Terminal)
    services = bot.launcher.Services(Serving(), None, Job(), Serving())
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(bot.launcher._run_terminal(services))
    assert stopped == ["trainer stopped", "closed", "closed"]


def test_qabot_run_refuses_an_in_memory_store(cli_env):
    result = CliRunner().invoke(app, ["run", "--local", "--db", "sqlite://"], input="hi\n")
    assert result.exit_code == 2
    assert "DATABASE_URL (or --db) is an in-memory SQLite database" in result.output


@pytest.mark.parametrize("command", [["run", "--local"], ["ask", "What is offside?"], ["chat"], ["eval"]])
def test_every_command_without_a_model_exits_2_with_the_train_command(cli_env, command):
    """No model is the user's to fix (train one, or pass --model): the same exit code (EXIT_USAGE) from
    every command that needs one; `qabot run` gave 1 where `ask` and `eval` gave 2."""
    result = CliRunner().invoke(app, [*command, "--model", str(cli_env / "nothing")], input="hi\n")
    assert result.exit_code == 2, result.output
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


def test_bootstrap_never_advises_removing_a_folder_it_did_not_make(cli_env, monkeypatch):
    """MODEL_DIR=examples (a dataset folder, not a model): it said "remove it"; it is not qabot's."""
    (cli_env / "examples").mkdir()
    (cli_env / "examples" / "soccer.json").write_text('[{"question": "q?", "answer": "a."}]')
    monkeypatch.setenv("MODEL_DIR", "examples")
    result = CliRunner().invoke(
        app, ["run", "--bootstrap", "--local", "--db", f"sqlite:///{cli_env / 'd.db'}"]
    )
    assert result.exit_code != 0 and "remove" not in result.output
    assert "set MODEL_DIR to a model folder" in " ".join(result.output.split())
    assert (cli_env / "examples" / "soccer.json").is_file()


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
    assert result.exit_code == 2 and "DISCORD_TOKEN is not set" in result.output  # a setting (harvest: 2)
