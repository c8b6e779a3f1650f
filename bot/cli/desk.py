"""`qabot` sub-commands for the admins' knowledge desk: `gaps`, `review`.

    qabot gaps                                  # the last 30 days' gaps, most askers first
    qabot gaps --since 2025-05-01 --json        # clusters with their questions, for scripts
    qabot gaps --plot gaps.png                  # top gaps and answered / suggested / not-sure per day
    qabot review --json                         # what waits for an admin
    qabot review --accept phrasing:12           # or --reject ID, or --edit ID --answer "…"
    qabot harvest --channel 123456789012345678  # a channel's answered questions, for review

``--db`` defaults to the ``DATABASE_URL`` setting and ``--model`` to ``MODEL_DIR``: the checkpoint's
encoder and index are read (the model is not loaded).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail
from bot.cli.store import DbOption, _parse_time
from training.exit_codes import EXIT_ERROR

DEFAULT_DAYS = 30  # the period `qabot gaps` looks at without --since
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", "-m", help="Checkpoint folder (default: MODEL_DIR, models/current).")
]


def _check_model(model: Path | None) -> None:
    """A ``--model`` named on the command line must be there: a typo would be read as a bot that knows
    nothing (every gap uncovered), not refused as ``ask`` and ``eval`` refuse it (exit 2)."""
    if model is not None and not model.is_dir():
        from training.checkpoint import TRAIN_HINT

        what = "is not a model folder" if model.exists() else "does not exist"
        raise fail(f"--model {model} {what}. Train one with: {TRAIN_HINT}")


def _open(db: str | None):
    """The settings and the existing store (never created here); exits with EXIT_ERROR without one."""
    from bot.cli.common import check_store_url, load_settings
    from storage.db import StoreError, open_store

    settings = load_settings(database_url=db)
    url = check_store_url(settings.database_url)
    try:
        return settings, open_store(url, create=False)
    except StoreError as exc:
        raise fail(str(exc), EXIT_ERROR) from exc


def gaps(
    db: DbOption = None,
    model: ModelOpt = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Questions from this date/time on (UTC). "
            f"[default: {DEFAULT_DAYS} days before --until, or now]",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Questions before this date/time (a date includes that day).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=200, help="How many gaps to report.")] = 20,
    as_json: JsonOpt = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write a PNG: top gaps, and answer shares per day.")
    ] = None,
) -> None:
    """What people asked and nobody answered, grouped by meaning, most askers first.

    Unanswered and 👎'd questions of the period, clustered with the checkpoint's
    sentence encoder; each gap with its count, a few wordings and the nearest
    known question (a near miss reads differently from a new topic).
    """
    from bot.desk import service
    from bot.desk.report import gaps_png, gaps_text, shares_line
    from storage.db import dispose
    from training.checkpoint import CheckpointError

    end = _parse_time(until, "--until", end_of_day=True)
    start = _parse_time(since, "--since") or (end or datetime.now(UTC)) - timedelta(days=DEFAULT_DAYS)
    if end is not None and end <= start:
        raise fail(f"--until ({until}) is not after --since ({start:%Y-%m-%d %H:%M})")
    if plot is not None:
        _check_plot(plot)  # before the slow part
    _check_model(model)
    settings, store = _open(db)
    model_dir = model or settings.model_dir
    try:
        report = service.offline_gaps(
            model_dir, store, settings.zone_overrides(), since=start, until=end, shown=top,
            guilds=settings.home_guilds,
        )  # fmt: skip
        shares = service.read_shares(store, start, end)
    except service.DeskUnavailable as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    finally:
        dispose(store)
    if plot is not None:
        _write_plot(plot, gaps_png(report, shares))
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(gaps_text(report))
    typer.echo(shares_line(shares))
    if plot is not None:
        typer.echo(f"wrote {plot}")


def _check_plot(path: Path) -> None:
    """Exit with a clear error unless a PNG can be written at ``path`` (its folder is made here)."""
    if path.is_dir():
        raise fail(f"--plot {path} is a folder: give a file name like {path / 'gaps.png'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--plot {path}: cannot create its folder ({exc.strerror or exc})") from None


def _write_plot(path: Path, png: bytes) -> None:
    """Write ``png`` whole or not at all (a temporary file beside it, then renamed)."""
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(png)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise fail(f"--plot {path}: cannot write it ({exc.strerror or exc})") from None


ItemOpt = Annotated[str | None, typer.Option(metavar="ID", help="A review item, e.g. phrasing:12.")]


def review(
    db: DbOption = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    accept: ItemOpt = None,
    reject: ItemOpt = None,
    edit: ItemOpt = None,
    question: Annotated[str | None, typer.Option(help="With --edit: the corrected question.")] = None,
    answer: Annotated[str | None, typer.Option(help="With --edit: the corrected answer.")] = None,
    admin_id: Annotated[str | None, typer.Option(help="Who decides (stored with the decision).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Items listed per kind.")] = 50,
) -> None:
    """What waits for an admin: alternate phrasings, 👎'd answers, members' answers.

    Without an option, lists the queue. --accept, --reject or --edit decides
    one item; every running bot serves the decision within SYNC_INTERVAL_S.
    """
    import asyncio

    from bot.desk import review as review_mod
    from bot.desk.report import plain, review_text
    from storage.db import dispose
    from training.checkpoint import CheckpointError

    chosen = [(a, i) for a, i in (("accept", accept), ("reject", reject), ("edit", edit)) if i]
    if len(chosen) > 1:
        raise fail("give one of --accept, --reject, --edit")
    settings, store = _open(db)
    try:
        if not chosen:
            items = asyncio.run(review_mod.items(store, limit))
            if as_json:  # people's words with their secrets masked, as every listing shows them
                items = [_masked(item) for item in items]
                typer.echo(json.dumps({"items": items}, ensure_ascii=False, indent=2, default=_json_default))
            else:
                typer.echo(review_text(items, counts=asyncio.run(review_mod.waiting(store))))
            return
        from bot.desk.service import checkpoint_knowledge

        action, item = chosen[0]
        _check_exists(store, item)  # before the checkpoint is read
        knowledge = None
        if item.startswith("phrasing:"):  # the known question's answer comes from the checkpoint
            try:
                knowledge, _ = checkpoint_knowledge(model or settings.model_dir, store, {})
            except CheckpointError as exc:
                raise fail(str(exc)) from None
        try:
            decision = asyncio.run(
                review_mod.decide(
                    store, None, item, action, admin_id, question=question, answer=answer, knowledge=knowledge
                )
            )
        except (review_mod.ReviewError, ValueError, LookupError) as exc:
            raise fail(str(exc)) from exc
    finally:
        dispose(store)
    if as_json:
        typer.echo(
            json.dumps({"item": item, "done": decision.done, "text": decision.text}, ensure_ascii=False)
        )
    else:
        typer.echo(plain(decision.text.replace("`", ""), 10_000))  # it quotes people's words
    if not decision.done:
        raise typer.Exit(EXIT_ERROR)


def _check_exists(store, item: str) -> None:
    """Exit with ``EXIT_USAGE`` when ``item`` is not a review item's id or names nothing in the store (a
    typo, not an item "no longer waiting")."""
    import asyncio

    from bot import async_store
    from bot.desk.review import ReviewError, parse_item
    from storage.review import exists

    try:
        kind, number = parse_item(item)
    except ReviewError as exc:
        raise fail(str(exc)) from None
    if not asyncio.run(async_store.run_in_session(store, exists, kind, number)):
        raise fail(f"{item} does not exist: there is no such review item (`qabot review` lists what waits)")


def harvest(
    channel: Annotated[
        int, typer.Option("--channel", min=1, max=2**63 - 1, help="The text channel, thread or forum id.")
    ],
    db: DbOption = None,
    model: ModelOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Messages to read this time.")] = 1000,
) -> None:
    """Propose what a Discord channel already answered for review.

    Reads the channel's history through Discord's API (DISCORD_TOKEN; the bot
    needs Read Message History there) from where the last harvest stopped:
    solved forum posts, trusted members' replies (TRUSTED_ROLE_IDS), replies
    marked ✅. What the bot already answers, or was proposed before, is left out.
    """
    import asyncio

    from bot.desk.service import checkpoint_knowledge, known_checker
    from storage.db import dispose
    from training.checkpoint import CheckpointError
    from training.exit_codes import EXIT_USAGE

    _check_model(model)
    settings, store = _open(db)
    token = settings.token
    if not token:
        dispose(store)
        raise fail("harvest reads the channel through Discord's API: set DISCORD_TOKEN", EXIT_USAGE)
    from bot.discord_app.harvest import HarvestFailed, harvest_with_token

    try:
        knowledge, zones = checkpoint_knowledge(model or settings.model_dir, store, settings.zone_overrides())
        known = known_checker(knowledge, zones)
        trusted = frozenset(settings.trusted_role_ids)
        result = asyncio.run(harvest_with_token(token, channel, store, known, trusted, limit=limit))
    except HarvestFailed as exc:
        raise fail(str(exc), exc.code) from None
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    finally:
        dispose(store)
    typer.echo(result.text())


def _masked(item: dict) -> dict:
    """A review item for ``--json``: its texts with secrets masked (the store masks them as it logs; a row
    logged before it did may hold one)."""
    from storage.masking import mask_secrets

    return {k: mask_secrets(v) if isinstance(v, str) else v for k, v in item.items()}


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `qabot` app."""
    app.command("gaps")(gaps)
    app.command("review")(review)
    app.command("harvest")(harvest)
