"""Start-up for ``qabot run`` and ``qabot sync``: build the services from ``Settings`` and run a front end.

Discord when ``DISCORD_TOKEN`` is set (and not ``--local``), the terminal otherwise. Start-up failures end
with a message that says what to do and a distinct exit code; the token itself is never printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bot.settings import Settings

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SETUP = 1  # no model, unreadable store, bad settings
EXIT_TOKEN = 2  # Discord rejected the token (or a required intent is not enabled)
EXIT_UNREACHABLE = 3  # Discord could not be reached
BOOTSTRAP_DATA = Path("examples/soccer.json")
PORTAL = "https://discord.com/developers/applications"


def _fail(message: str, code: int) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return code


def setup_logging(level: int) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )


def train_example(data: Path, out: Path) -> int:
    """``python -m training`` from scratch on ``data`` into ``out``, in a child process; its exit code.

    A child rather than this process: training here would leave the main thread with an OpenMP team of its
    own beside the torch thread's, and every answer afterwards would be slower (see bot/torch_thread.py).
    Ctrl-C reaches the child too; it removes its unfinished folder before it exits.
    """
    from bot.trainer_process import SECRET_ENV

    cmd = [sys.executable, "-m", "training", "--data", str(data), "--base", "scratch", "--out", str(out),
           "--no-current"]  # fmt: skip
    child = subprocess.Popen(cmd, env={k: v for k, v in os.environ.items() if k != SECRET_ENV})
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.wait()  # it got the same Ctrl-C and is cleaning up
        raise


def bootstrap_model(settings: Settings, data: Path = BOOTSTRAP_DATA) -> Path:
    """Train the from-scratch example model (progress bar) and point ``MODEL_DIR`` at it."""
    from training.checkpoint import CheckpointError, point_current, resolve_model_dir

    pointer = Path(settings.model_dir)
    if pointer.exists() and not pointer.is_symlink():
        # A real (incomplete) folder: not ours to replace.
        raise CheckpointError(f"{pointer} exists but is not a complete model; remove it or set MODEL_DIR")
    if not data.is_file():
        raise CheckpointError(f"{data} is missing; run `qabot run` from the repository root")
    print(f"No model at {pointer} yet: training the example model on {data} (a few minutes on a CPU)…")
    out = pointer.parent / time.strftime("%Y%m%d-%H%M%S")
    code = train_example(data, out)
    if code != 0:
        raise CheckpointError(f"training exited with code {code} (its messages are above)")
    point_current(out, pointer=pointer)
    return resolve_model_dir(pointer)


def build_services(settings: Settings) -> tuple[Any, Any, Any]:
    """(answerer, session_factory, retrain_job) for ``settings``; raises CheckpointError/StoreError."""
    from transformers.utils import logging as hf_logging

    from bot import torch_thread
    from bot.answerer import Answerer
    from bot.retrain import RetrainJob
    from storage.db import open_store
    from training.checkpoint import resolve_model_dir
    from training.generate import Generator

    hf_logging.disable_progress_bar()  # the bot shows answers, not weight-loading bars
    model_dir = resolve_model_dir(settings.model_dir)
    session_factory = open_store(settings.database_url)
    generator = torch_thread.call(Generator.load, model_dir, precision=settings.precision)
    answerer = Answerer.from_settings(generator, settings)
    job = RetrainJob(
        answerer=answerer,
        session_factory=session_factory,
        model_pointer=settings.model_dir,
        base_datasets=settings.base_datasets,
        precision=settings.precision,
    )
    return answerer, session_factory, job


def run(settings: Settings, *, local: bool = False, bootstrap: bool = False) -> int:
    """``qabot run``: returns the exit code."""
    discord_mode = settings.token is not None and not local
    setup_logging(logging.INFO if discord_mode else logging.WARNING)
    from storage.db import StoreError
    from training.checkpoint import CheckpointError, resolve_model_dir

    try:
        resolve_model_dir(settings.model_dir)
    except CheckpointError as e:
        if not bootstrap:
            return _fail(str(e), EXIT_SETUP)
        try:
            bootstrap_model(settings)
        except Exception as boot_error:  # training's own errors already say what is wrong
            return _fail(f"could not train the example model: {boot_error}", EXIT_SETUP)
    try:
        answerer, session_factory, job = build_services(settings)
    except (CheckpointError, StoreError) as e:
        return _fail(str(e), EXIT_SETUP)
    except ValueError as e:  # a precision this machine cannot run
        return _fail(f"cannot load the model: {e}", EXIT_SETUP)
    if discord_mode:
        return asyncio.run(_run_discord(settings, answerer, session_factory, job))
    if settings.token is None:
        print("No DISCORD_TOKEN set: terminal mode (/help for commands).", file=sys.stderr)
    return asyncio.run(_run_terminal(answerer, session_factory, job))


async def _run_terminal(answerer: Any, session_factory: Any, job: Any) -> int:
    from bot.terminal import Terminal

    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # invalid UTF-8 on stdin becomes U+FFFD, never a crash
    async with answerer:
        try:
            await Terminal(answerer=answerer, session_factory=session_factory, retrain_job=job).run()
        finally:
            await job.cancel()  # Ctrl-C: the trainer runs in its own session and would outlive us
    return EXIT_OK


async def _run_discord(settings: Settings, answerer: Any, session_factory: Any, job: Any) -> int:
    from bot.client import QABot

    async with answerer:
        bot = QABot(settings=settings, answerer=answerer, session_factory=session_factory, retrain_job=job)
        try:
            return await _with_discord_errors(_start(bot, settings))
        finally:
            await job.cancel()  # shutting down: stop a retrain's trainer, which runs in its own session


async def _start(bot: Any, settings: Settings) -> int:
    async with bot:
        await bot.start(settings.token)
    return EXIT_OK


async def _with_discord_errors(coro: Any) -> int:
    """Run a coroutine that talks to Discord; translate the start-up failures into messages + exit codes."""
    import aiohttp
    import discord

    try:
        return await coro
    except discord.LoginFailure:
        return _fail(
            f"Discord rejected the token. Copy a new one from {PORTAL} → your app → Bot → Reset Token, "
            "and put it in DISCORD_TOKEN (.env).",
            EXIT_TOKEN,
        )
    except discord.PrivilegedIntentsRequired:
        return _fail(
            f"Discord refused the Message Content intent. Enable it at {PORTAL} → your app → Bot → "
            "Privileged Gateway Intents → Message Content Intent.",
            EXIT_TOKEN,
        )
    except (aiohttp.ClientError, discord.GatewayNotFound, OSError, TimeoutError) as e:
        return _fail(
            f"could not reach Discord ({type(e).__name__}: {e}). Check the network, proxy or firewall; "
            "use `qabot run --local` for the terminal.",
            EXIT_UNREACHABLE,
        )


def sync(settings: Settings, *, guild_id: int | None, global_: bool) -> int:
    """``qabot sync``: push the slash commands to one guild (instant) or to every guild (up to an hour)."""
    setup_logging(logging.WARNING)
    if settings.token is None:
        return _fail("DISCORD_TOKEN is not set (see .env.example)", EXIT_SETUP)
    target = None if global_ else (guild_id or settings.dev_guild_id)
    return asyncio.run(_with_discord_errors(_sync(settings, target)))


async def _sync(settings: Settings, guild_id: int | None) -> int:
    from bot.client import QABot

    # No model or store needed: syncing only uploads the command definitions.
    bot = QABot(
        settings=settings, answerer=None, session_factory=None, retrain_job=None, sync_dev_guild=False
    )
    async with bot:
        await bot.login(settings.token)  # runs setup_hook, which loads the cogs
        synced = await bot.sync_commands(guild_id)
    where = f"guild {guild_id}" if guild_id else "all guilds (may take up to an hour to appear)"
    print(f"Synced {len(synced)} commands to {where}: " + ", ".join(f"/{c.name}" for c in synced))
    return EXIT_OK
