"""`qabot` sub-commands for the Q&A store: `export`, `import`, `db upgrade`.

    qabot export --format json -o data/feedback.json --min-score 1 --exclude-unanswered
    qabot import examples/soccer.json
    qabot db upgrade --db postgresql+psycopg://bot@localhost/qabot

``--db`` defaults to the ``DATABASE_URL`` setting (``sqlite:///data/qabot.db``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from storage.formats import FORMATS

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy database URL. [default: DATABASE_URL, sqlite:///data/qabot.db]"),
]


ExportFormat = StrEnum("ExportFormat", {fmt: fmt for fmt in FORMATS})  # typer offers an Enum's values


def _database_url(db: str | None) -> str:
    if db:
        return db
    from bot.cli.common import load_settings

    return load_settings().database_url


def _parse_time(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """ISO date or date-time (UTC unless it says otherwise); a bare ``--until`` date includes that day."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO date like 2024-05-31", param_hint=option) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end_of_day and len(value) <= len("2024-05-31"):
        parsed += timedelta(days=1)
    return parsed


def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Dataset format to write.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (atomically).")],
    db: DbOption = None,
    since: Annotated[str | None, typer.Option(help="Only exchanges from this date/time on (UTC).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Only exchanges before this date/time (a date includes that day).")
    ] = None,
    min_score: Annotated[int | None, typer.Option(help="Only answers with at least this net vote.")] = None,
    only_rated: Annotated[bool, typer.Option(help="Only answers someone voted on.")] = False,
    exclude_unanswered: Annotated[bool, typer.Option(help="Leave out 'I don't know' answers.")] = False,
    corrections: Annotated[
        bool, typer.Option("--corrections/--no-corrections", help="Replace answers by admins' corrections.")
    ] = True,
    taught: Annotated[
        bool, typer.Option("--taught/--no-taught", help="Include taught and imported pairs.")
    ] = True,
    keep_pii: Annotated[
        bool, typer.Option(help="Do not mask mentions, e-mail addresses and phone numbers.")
    ] = False,
) -> None:
    """Export logged Q&A (with votes and corrections) as a training dataset."""
    from storage.db import StoreError, dispose, open_store
    from storage.export import ExportFilters, export_dataset

    filters = ExportFilters(
        since=_parse_time(since, "--since"),
        until=_parse_time(until, "--until", end_of_day=True),
        min_score=min_score,
        only_rated=only_rated,
        exclude_unanswered=exclude_unanswered,
        include_corrections=corrections,
        include_taught=taught,
        keep_pii=keep_pii,
    )
    url = _database_url(db)
    try:
        # An export never creates an empty database by accident.
        session_factory = open_store(url, create=False)
        try:
            n = export_dataset(session_factory, fmt.value, out, filters)
        finally:
            dispose(session_factory)
    except (StoreError, OSError) as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    typer.echo(f"wrote {n} {fmt.value} rows to {out}")


def import_(
    path: Annotated[Path, typer.Argument(help="Dataset file: JSON, JSONL, CSV, alpaca, sharegpt ...")],
    db: DbOption = None,
    fmt: Annotated[str | None, typer.Option("--format", help="File format (default: guessed).")] = None,
    question_field: Annotated[str | None, typer.Option(help="Field holding the question.")] = None,
    answer_field: Annotated[str | None, typer.Option(help="Field holding the answer.")] = None,
    records_key: Annotated[str | None, typer.Option(help="Key of the record list in a JSON object.")] = None,
    admin_id: Annotated[str | None, typer.Option(help="Who imported (stored with each pair).")] = None,
) -> None:
    """Import a dataset file as taught question/answer pairs (duplicates are skipped)."""
    from storage.db import StoreError, dispose, open_store, transaction
    from storage.export import import_records
    from training.data import DatasetError, load_dataset_file

    try:
        records = load_dataset_file(
            path, fmt=fmt, question_field=question_field, answer_field=answer_field, records_key=records_key
        )
    except DatasetError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    url = _database_url(db)
    try:
        session_factory = open_store(url)
        try:
            with transaction(session_factory, "import records") as session:
                added, skipped = import_records(session, records, admin_id=admin_id)
        finally:
            dispose(session_factory)
    except StoreError as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    typer.echo(f"imported {path}: added {added}, skipped {skipped} (duplicates or empty)")


def upgrade(db: DbOption = None) -> None:
    """Create the database or bring its schema to the newest revision."""
    from storage.db import StoreError, describe
    from storage.db import upgrade as upgrade_db

    url = _database_url(db)
    try:
        revision = upgrade_db(url)
    except StoreError as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    typer.echo(f"{describe(url)} is at revision {revision} (head)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `qabot` app."""
    app.command("export")(export)
    app.command("import")(import_)
    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    db_app.command("upgrade")(upgrade)
    app.add_typer(db_app, name="db")
