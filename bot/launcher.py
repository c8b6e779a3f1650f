"""Start-up for ``qabot run`` and ``qabot sync``: build the services from ``Settings`` and run a front end.

Discord when ``DISCORD_TOKEN`` is set (and not ``--local``), the terminal otherwise. Start-up failures end
with a message that says what to do and one of ``training.exit_codes``; the token itself is never
printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import fail
from bot.settings import Settings
from storage.masking import mask_secrets
from training.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from training.redact import RedactingFilter

if TYPE_CHECKING:
    import typer

    from bot.answering.answerer import Answerer
    from bot.answering.knowledge_sync import KnowledgeSync
    from bot.async_store import SessionFactory
    from bot.discord_app.startup import DiscordStartupError
    from bot.retrain import RetrainJob

log = logging.getLogger(__name__)

BOOTSTRAP_DATA = Path("examples/soccer.json")
# The example community's glossary ("subs", "goalie", "ucl"), as its admins would give it (`--synonyms`).
BOOTSTRAP_SYNONYMS = Path("examples/soccer_synonyms.json")


@dataclass
class Services:
    """What both front ends serve with, built once from the settings by ``build_services``."""

    answerer: Answerer
    session_factory: SessionFactory
    retrain_job: RetrainJob
    sync: KnowledgeSync  # what the store knows, loaded at start and followed while serving


def members_secrets_filter() -> logging.Filter:
    """Masks the secrets members paste into questions (``storage.masking.mask_secrets``: API keys, JWTs,
    webhooks…) in a log record that quotes one; ``training.redact``'s filter, installed before it, masks
    qabot's own (the bot token, settings lines) and formats the record's traceback."""
    return RedactingFilter(mask_secrets)


_MEMBERS_SECRETS = members_secrets_filter()


def setup_logging(level: int) -> None:
    """Log to stderr at ``level``, with secrets masked in every record (``training.redact``, and the ones
    members paste into questions: ``members_secrets_filter``)."""
    from training.redact import redact_logging

    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )
    redact_logging()
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        if handler is not None and _MEMBERS_SECRETS not in handler.filters:
            handler.addFilter(_MEMBERS_SECRETS)


def train_example(data: Path, out: Path, synonyms: Path | None = None) -> int:
    """``python -m training`` from scratch on ``data`` (with the admins' ``synonyms``, when given) into
    ``out``, in a child process; its exit code.

    A child rather than this process: training here would leave the main thread with an OpenMP team of its
    own beside the torch thread's, and every answer afterwards would be slower (see
    bot/answering/torch_thread.py). Ctrl-C reaches the child too; it removes its unfinished folder before it
    exits.
    """
    from bot.retrain.trainer_process import SECRET_ENV, trainer_command

    cmd = trainer_command(out, [data], options=["--synonyms", str(synonyms)] if synonyms is not None else ())
    env = {k: v for k, v in os.environ.items() if k.upper() != SECRET_ENV}  # settings read any case
    # Its output goes to stderr (file descriptor 2): stdout carries only the answers that follow, so
    # `printf 'question\n' | make run` prints one line per question even when it trains first.
    child = subprocess.Popen(cmd, env=env, stdout=2)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.wait()  # it got the same Ctrl-C and is cleaning up
        raise


def bootstrap_model(settings: Settings, data: Path = BOOTSTRAP_DATA) -> Path:
    """Train the from-scratch example model (progress bar) and point ``MODEL_DIR`` at it."""
    from training.checkpoint import CheckpointError, point_current, pointer_free, resolve_model_dir

    pointer = Path(settings.model_dir)
    if pointer.exists() and not pointer.is_symlink():
        # A real (incomplete) folder: not ours to replace.
        raise CheckpointError(
            f"MODEL_DIR {pointer} is a folder but no complete model, and not one qabot replaces; set "
            "MODEL_DIR to a model folder, or to a path that does not exist yet (default: models/current)"
        )
    if not data.is_file():
        raise CheckpointError(f"{data} is missing; run `qabot run` from the repository root")
    print(
        f"No model at {pointer} yet: training the example model on {data} (a few minutes on a CPU)…",
        file=sys.stderr,
    )
    out = pointer.parent / time.strftime("%Y%m%d-%H%M%S")
    code = train_example(data, out, BOOTSTRAP_SYNONYMS if BOOTSTRAP_SYNONYMS.is_file() else None)
    if code != EXIT_OK:
        raise CheckpointError(f"training exited with code {code} (its messages are above)")
    with pointer_free(pointer):
        point_current(out, pointer=pointer)
    return resolve_model_dir(pointer)


def build_services(settings: Settings) -> Services:
    """The answerer, the store and the retrain job for ``settings``; raises CheckpointError/StoreError."""
    from bot.answering.answerer import Answerer
    from bot.answering.knowledge_sync import KnowledgeSync, marked_feed
    from bot.retrain import RetrainJob
    from storage.db import open_store

    session_factory = open_store(settings.database_url)
    feed = marked_feed(session_factory)  # before the model loads
    answerer = Answerer.load(settings)
    job = RetrainJob(
        answerer=answerer,
        session_factory=session_factory,
        model_pointer=settings.model_dir,
        base_datasets=settings.base_datasets,
        precision=settings.precision,
    )
    sync = KnowledgeSync(
        answerer, session_factory, interval_s=settings.sync_interval_s, feed=feed, retrain_job=job
    )
    return Services(answerer, session_factory, job, sync)


def run(settings: Settings, *, local: bool = False, bootstrap: bool = False) -> None:
    """``qabot run``: serve until the input ends or the connection closes; failures raise ``fail(...)``."""
    discord_mode = settings.token is not None and not local
    setup_logging(logging.INFO if discord_mode else logging.WARNING)
    from storage.db import StoreError
    from training.checkpoint import CheckpointError, resolve_model_dir

    try:
        resolve_model_dir(settings.model_dir)
    except CheckpointError as e:  # no model: the user's to fix (train one, or --model), as for ask and eval
        if not bootstrap:
            raise fail(str(e), EXIT_USAGE) from None
        try:
            bootstrap_model(settings)
        except Exception as boot_error:  # training's own errors already say what is wrong
            raise fail(f"could not train the example model: {boot_error}", EXIT_ERROR) from None
    try:
        services = build_services(settings)
    except CheckpointError as e:  # a damaged model folder
        raise fail(str(e), EXIT_USAGE) from None
    except StoreError as e:
        raise fail(str(e), EXIT_ERROR) from None
    except ValueError as e:  # a precision this machine cannot run (a setting)
        raise fail(f"cannot load the model: {e}", EXIT_USAGE) from None
    if settings.token is None and not discord_mode:
        print("No DISCORD_TOKEN set: terminal mode (/help for commands).", file=sys.stderr)
    try:
        asyncio.run(
            _run_discord(settings, services)
            if discord_mode
            else _run_terminal(services, settings.home_guilds)
        )
    except asyncio.CancelledError:  # SIGTERM (_stop_on_sigterm): a requested stop, done cleanly
        print("Stopped (SIGTERM).", file=sys.stderr)


def _stop_on_sigterm() -> None:
    """SIGTERM (``docker stop``, ``systemctl stop``, ``kill``) cancels the serving task as Ctrl-C does, so
    the front ends' ``finally`` runs: a retrain's trainer is stopped (it runs in its own session and would
    outlive us, half-written), the Discord connection and the store are closed. By default the signal ended
    the process on the spot."""
    task, loop = asyncio.current_task(), asyncio.get_running_loop()

    def stop() -> None:  # once: a second SIGTERM must not cancel the shutdown itself
        loop.add_signal_handler(signal.SIGTERM, lambda: log.warning("SIGTERM again: still shutting down"))
        task.cancel()

    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no Unix; not main thread
            loop.add_signal_handler(signal.SIGTERM, stop)


async def _run_terminal(services: Services, guilds: Collection[int] = ()) -> None:
    from bot.terminal import Terminal

    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # invalid UTF-8 on stdin becomes U+FFFD, never a crash
    _stop_on_sigterm()
    # The sync loads what the store knows, then follows what other processes on it change.
    async with services.answerer, services.sync:
        try:
            await Terminal(
                answerer=services.answerer,
                session_factory=services.session_factory,
                retrain_job=services.retrain_job,
                guilds=guilds,
            ).run()
        finally:
            await (
                services.retrain_job.cancel()
            )  # Ctrl-C: the trainer runs in its own session, would outlive us


async def _run_discord(settings: Settings, services: Services) -> None:
    from bot.discord_app.startup import DiscordStartupError, run_bot

    _stop_on_sigterm()
    async with services.answerer, services.sync:
        try:
            await run_bot(settings, services.answerer, services.session_factory, services.retrain_job)
        except DiscordStartupError as e:
            raise _startup_failure(e) from None
        finally:
            await services.retrain_job.cancel()  # shutting down: stop a retrain's trainer (its own session)


def _startup_failure(error: DiscordStartupError) -> typer.Exit:
    """How the CLI reports a Discord start-up failure: the token or intents are the user's to fix
    (``EXIT_USAGE``); an unreachable Discord is not (``EXIT_UNREACHABLE``)."""
    return fail(str(error), EXIT_USAGE if error.reachable else EXIT_UNREACHABLE)


def sync(settings: Settings, *, guild_id: int | None, global_: bool) -> None:
    """``qabot sync``: push the slash commands to one guild (instant) or to every guild (up to an hour)."""
    setup_logging(logging.WARNING)
    if settings.token is None:
        raise fail("DISCORD_TOKEN is not set (see .env.example)", EXIT_USAGE)  # a setting, as for harvest
    from bot.discord_app.startup import DiscordStartupError, sync_commands

    target = None if global_ else (guild_id or settings.dev_guild_id)
    try:
        synced = asyncio.run(sync_commands(settings, target))
    except DiscordStartupError as e:
        raise _startup_failure(e) from None
    where = f"guild {target}" if target else "all guilds (may take up to an hour to appear)"
    print(f"Synced {len(synced)} commands to {where}: " + ", ".join(f"/{c.name}" for c in synced))
