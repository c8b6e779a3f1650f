"""``TrainerProcess``: one ``python -m training --progress json`` child, followed line by line.

The trainer prints one JSON object per line on stdout (``log`` / ``eval`` / ``done`` / ``error``); stderr
goes to a file (a pipe nobody reads could fill up and block the child), whose tail explains a crash.
The child runs in its own session so that stopping it reaches its worker processes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from training.exit_codes import EXIT_OK
from training.redact import redact
from training.workdirs import PARENT_ENV

log = logging.getLogger(__name__)

KILL_GRACE_S = 10.0  # after SIGTERM the trainer deletes its staging folder; SIGKILL if it takes longer
STDERR_TAIL_LINES = 15
STDERR_TAIL_CHARS = 1500


class TrainerFailed(Exception):
    """The trainer exited without a ``done`` event; the message carries its reason and stderr tail."""


SECRET_ENV = "DISCORD_TOKEN"


def trainer_command(
    out: Path,
    data: Sequence[Path],
    *,
    base: Path | None = None,
    json_progress: bool = False,
    options: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    """The command line of a ``python -m training`` child (the bot's and the tests' only one): train on
    ``data`` into ``out``, from scratch or fine-tuning ``base``, and leave the ``models/current`` pointer to
    the caller (``--no-current``). ``json_progress``: one JSON event a line on stdout, what
    ``TrainerProcess`` follows. ``options``: more of the trainer's options, last (so they win). ``python``:
    the interpreter (default: this one's)."""
    cmd = [python or sys.executable, "-m", "training", "--out", str(out), "--no-current"]
    if json_progress:
        cmd += ["--progress", "json"]
    for path in data:
        cmd += ["--data", str(path)]
    cmd += ["--base", "scratch" if base is None else str(base)]
    return cmd + list(options)


class TrainerProcess:
    def __init__(self, cmd: Sequence[str], stderr_path: Path) -> None:
        self.cmd = list(cmd)
        self.stderr_path = Path(stderr_path)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def run(self, on_log: Callable[[dict[str, Any]], Awaitable[None]]) -> dict[str, Any]:
        """Run to the end; ``on_log`` gets every ``log`` event. Returns the ``done`` event.

        Cancelling the caller stops the trainer (``stop``) and waits for it to exit before re-raising.
        """
        # The trainer needs no secrets: never hand it the Discord token. PYTHONUNBUFFERED: progress lines
        # must not wait in a pipe buffer.
        # PARENT_ENV: if this process dies, the trainer stops rather than train on into an ungated model.
        env = {k: v for k, v in os.environ.items() if k.upper() != SECRET_ENV} | {  # discord_token too
            "PYTHONUNBUFFERED": "1",
            PARENT_ENV: str(os.getpid()),
        }
        with open(self.stderr_path, "wb") as stderr:
            self._proc = await asyncio.create_subprocess_exec(
                *self.cmd, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env, start_new_session=True
            )
            try:
                done, error = await self._follow(on_log)
            except asyncio.CancelledError:  # the run was cancelled: the trainer must not outlive it
                self.stop()
                raise
            finally:
                returncode = await self._proc.wait()
        if returncode != EXIT_OK or done is None:
            why = error or f"the trainer exited with code {returncode}"
            tail = self.stderr_tail()
            raise TrainerFailed(f"Training failed: {why}" + (f"\n```\n{tail}\n```" if tail else ""))
        return done

    async def _follow(self, on_log: Callable[[dict[str, Any]], Awaitable[None]]):
        done: dict[str, Any] | None = None
        error: str | None = None
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                log.debug("trainer: %s", raw.decode(errors="replace").rstrip())
                continue
            kind = event.get("event") if isinstance(event, dict) else None
            if kind == "log":
                await on_log(event)
            elif kind == "done":
                done = event
            elif kind == "error":
                error = str(event.get("message", "unknown error"))
        return done, error

    def stop(self) -> None:
        """SIGTERM the trainer's process group now, SIGKILL after ``KILL_GRACE_S`` if it is still there."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)

        def force() -> None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

        asyncio.get_running_loop().call_later(KILL_GRACE_S, force)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        # Masked before it is cut: a token the cut fell into would no longer look like one.
        return redact("\n".join(text.strip().splitlines()[-lines:]))[-STDERR_TAIL_CHARS:]
