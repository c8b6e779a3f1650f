"""Two real bot processes on one store: a pair taught in one (``qabot run --local``'s ``/teach``) is answered
by the other (``qabot run --local``, or ``qabot chat``) within seconds, with no restart; on SQLite and on
PostgreSQL. Slow: each process loads torch and the tiny checkpoint."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.storage.conftest import postgres_server  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

QUESTION, ANSWER = "What does VAR stand for?", "The video assistant referee."
SYNC_INTERVAL_S = 0.5


class Bot:
    """A ``qabot`` process driven line by line through its stdin and stdout (scripted: one line each)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.stderr = cwd / f"{name}.stderr"
        with self.stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, text=True, bufsize=1,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
            )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def say(self, line: str, timeout: float = 120) -> str:
        """Send one line; the one line it answers with."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer to {line!r}; stderr:\n{self.stderr.read_text()}") from None

    def end_input(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # end of input: the bot exits

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() != "DISCORD_TOKEN"}
    env.update(DATABASE_URL=url, SYNC_INTERVAL_S=str(SYNC_INTERVAL_S), PRECISION="fp32")
    return env


def taught_elsewhere_is_answered(tmp_path: Path, checkpoint: Path, url: str, asker: str) -> None:
    from storage.db import dispose, open_store

    dispose(open_store(url))  # the schema first: two first starts would race to create it
    env, model = env_for(url), ["--model", str(checkpoint)]
    asking = ["run", "--local", *model] if asker == "run" else ["chat", *model]
    teacher = Bot(["run", "--local", *model], env, tmp_path, "teacher")
    other = Bot(asking, env, tmp_path, "asker")
    try:
        assert other.say(QUESTION) != ANSWER  # it is up, and does not know it yet
        assert teacher.say(f"/teach {QUESTION} | {ANSWER}").startswith("Learned pair #1")
        taught = time.monotonic()
        answers = []
        while time.monotonic() - taught < 10 * SYNC_INTERVAL_S + 5:
            answers.append(other.say(QUESTION))
            if answers[-1] == ANSWER:
                break
            time.sleep(0.2)
        waited = time.monotonic() - taught
        assert answers[-1] == ANSWER, f"{answers}; stderr:\n{other.stderr.read_text()}"
        assert waited < 5, waited  # within seconds: a poll every SYNC_INTERVAL_S, then a reload
    finally:
        teacher.end_input(), other.end_input()  # both exit at once
        codes = teacher.wait(), other.wait()
    assert codes == (0, 0), other.stderr.read_text() + teacher.stderr.read_text()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qabot.db'}"
    return request.getfixturevalue("postgres_server").database()


def test_a_pair_taught_in_one_bot_process_is_answered_by_another(
    tmp_path: Path, tiny_checkpoint: Path, store_url: str
) -> None:
    """On SQLite two `qabot run --local`; on PostgreSQL `qabot run --local` and `qabot chat`."""
    asker = "run" if store_url.startswith("sqlite") else "chat"
    taught_elsewhere_is_answered(tmp_path, tiny_checkpoint, store_url, asker)
