"""`qabot` sub-commands for the Q&A store: `export`, `import`, `db upgrade`.

    qabot export --format json -o data/feedback.json --min-score 1 --exclude-unanswered
    qabot export --format kto -o data/kto.jsonl      # TRL conversational; warns when unbalanced
    qabot import examples/soccer.json
    qabot import data/kto.jsonl                      # only the desirable rows become taught pairs
    qabot db upgrade --db postgresql+psycopg://bot@localhost/qabot

``--db`` defaults to the ``DATABASE_URL`` setting (``sqlite:///data/qabot.db``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import fail
from bot.cli.data import EncodingOpt, SplitOpt
from storage.formats import FORMATS
from training.exit_codes import EXIT_ERROR, EXIT_USAGE

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy database URL. [default: DATABASE_URL, sqlite:///data/qabot.db]"),
]


ExportFormat = StrEnum("ExportFormat", {fmt: fmt for fmt in FORMATS})  # typer offers an Enum's values


def _database_url(db: str | None) -> str:
    """``--db`` or the ``DATABASE_URL`` setting; an in-memory SQLite URL exits with ``EXIT_USAGE``."""
    from bot.cli.common import check_store_url, load_settings

    return check_store_url(db or load_settings().database_url)


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
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="Dataset format to write (see above for sft, kto, dpo)."),
    ],
    out: Annotated[
        str,  # not Path: a trailing "/" (a folder) must survive
        typer.Option(
            "--out",
            "-o",
            help="File to write (atomically), or a folder (an existing one, or a name ending in /, which is "
            "created) to write qabot-<format><suffix> in.",
        ),
    ],
    db: DbOption = None,
    since: Annotated[str | None, typer.Option(help="Only exchanges from this date/time on (UTC).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Only exchanges before this date/time (a date includes that day).")
    ] = None,
    min_score: Annotated[int | None, typer.Option(help="Only answers with at least this net vote.")] = None,
    only_rated: Annotated[bool, typer.Option(help="Only answers someone voted on.")] = False,
    exclude_unanswered: Annotated[bool, typer.Option(help="Leave out 'I don't know' answers.")] = True,
    corrections: Annotated[
        bool, typer.Option("--corrections/--no-corrections", help="Replace answers by admins' corrections.")
    ] = True,
    taught: Annotated[
        bool, typer.Option("--taught/--no-taught", help="Include taught and imported pairs.")
    ] = True,
    keep_pii: Annotated[
        bool, typer.Option(help="Do not mask mentions, Discord ids, e-mail addresses and phone numbers.")
    ] = False,
) -> None:
    """Export logged Q&A (with votes and corrections) as a training dataset.

    json, jsonl, csv: {"question", "answer"} records for `qabot train --data`.

    sft, kto, dpo: TRL's conversational JSONL (prompts and answers are
    message lists), so TRL renders them with the checkpoint's chat template,
    i.e. in qabot's prompt format. sft: "messages" (user, assistant).
    kto: "prompt" (user), "completion" (assistant), "label" (true/false).
    dpo: "prompt" (user), "chosen" (the admin's correction, assistant),
    "rejected" (the bot's answer, assistant).

    kto is mostly desirable (often ~99%): taught pairs and corrections count
    as desirable; only corrected or downvoted bot answers are undesirable.
    When desirable:undesirable is outside the 1:1 to 4:3 that TRL's
    KTOTrainer recommends, a warning on stderr gives the KTOConfig weights
    that fit; no rows are dropped.
    """
    from storage.db import StoreError, dispose, open_store
    from storage.export import ExportFilters, write_export

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
            summary = write_export(session_factory, fmt.value, out, filters)
        finally:
            dispose(session_factory)
    except (StoreError, OSError) as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    typer.echo(f"wrote {summary.rows} {fmt.value} rows to {summary.path}")
    if not summary.rows:
        typer.echo(f"note: {_why_empty(since, until, min_score, only_rated, fmt.value)}", err=True)
    if warning := summary.kto_warning():
        typer.echo(f"warning: {warning}", err=True)


def _why_empty(
    since: str | None, until: str | None, min_score: int | None, only_rated: bool, fmt: str = "json"
) -> str:
    """Why an export wrote no row: the filters that narrowed it, else what the format needs."""
    used = [("--since", since), ("--until", until), ("--min-score", min_score is not None)]
    narrowed = [name for name, on in [*used, ("--only-rated", only_rated)] if on]
    if narrowed:
        return f"no exchange passed {', '.join(narrowed)} (nobody voted on one yet?); drop them to see all"
    if fmt == "dpo":  # a pair of answers to one question: what the bot said, and what an admin put instead
        return "dpo rows are corrected answers (the bot's answer rejected, the correction chosen): none yet"
    return "the store holds no answered question, correction or taught pair yet"


def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="Dataset: a JSON, JSONL, CSV, Parquet or Arrow file, a save_to_disk folder or "
            "hf:owner/name; question/answer, alpaca, sharegpt, TRL sft/kto/dpo ..."
        ),
    ],
    db: DbOption = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="File format, e.g. kto or dpo (default: guessed).")
    ] = None,
    question_field: Annotated[str | None, typer.Option(help="Field holding the question.")] = None,
    answer_field: Annotated[str | None, typer.Option(help="Field holding the answer.")] = None,
    records_key: Annotated[str | None, typer.Option(help="Key of the record list in a JSON object.")] = None,
    encoding: EncodingOpt = None,
    split: SplitOpt = "train",
    admin_id: Annotated[str | None, typer.Option(help="Who imported (stored with each pair).")] = None,
    filters: Annotated[
        bool,
        typer.Option(
            "--filter/--no-filter",
            help="Drop offensive, spam and too-short pairs as `qabot data check` does (secrets are "
            "always dropped).",
        ),
    ] = True,
) -> None:
    """Import a dataset file as taught question/answer pairs (duplicates are skipped).

    Records are cleaned as `qabot data check` cleans them (normalized;
    secrets, offensive language, spam and empty answers dropped; a question
    repeated in the file keeps its last answer), and the report says how
    many each rule removed. A TRL kto file keeps its verdicts: rows with
    "label": false are counted and not taught. A dpo file teaches each
    "chosen" answer, never the "rejected" one.
    """
    from storage.db import StoreError, dispose, open_store
    from storage.importing import import_in_batches
    from training.data import DatasetError, load_dataset_file
    from training.data.preference import read_preference_file
    from training.data.tables import HUB_PREFIX

    # A UTF-8 KTO/DPO file is read with its verdicts counted; everything else (folders, hub datasets,
    # other encodings) by the general loader, which also sets a KTO file's undesirable rows aside.
    not_a_file = path.is_dir() or (str(path).startswith(HUB_PREFIX) and not path.exists())
    try:
        plain_options = question_field or answer_field or records_key or encoding or not_a_file
        preference = None if plain_options else read_preference_file(path, fmt)
        if preference is not None:
            records = preference.records
        else:
            fields = {"question_field": question_field, "answer_field": answer_field}
            records = load_dataset_file(
                path, fmt=fmt, records_key=records_key, encoding=encoding, split=split, **fields
            )
        records, undesirable, removed = _cleaned(records, filters)
    except DatasetError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    url = _database_url(db)
    try:
        session_factory = open_store(url)
        try:
            result = import_in_batches(session_factory, records, admin_id=admin_id)
        finally:
            dispose(session_factory)
    except StoreError as exc:
        raise fail(str(exc), EXIT_ERROR) from exc
    line = f"imported {path}: added {result.added}, skipped {result.skipped} (already taught)"
    if removed:
        line += ", removed by cleaning: " + ", ".join(f"{n} {reason}" for reason, n in removed.items())
    if preference is not None:
        why = "label false" if preference.kind == "kto" else "rejected answers"
        line += f", skipped {undesirable} undesirable ({preference.kind} {why})"
    typer.echo(line)


def _cleaned(records: Any, filters: bool) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    """The records an import teaches, cleaned as ``qabot data check`` cleans (no near-duplicate merging:
    an admin's wordings are kept), how many were undesirable (KTO label false: never taught), and the
    removals per reason that removed any."""
    from training.data.options import CleanOptions
    from training.data.pipeline import clean_records

    records = list(records)
    wanted = [r for r in records if r.get("label", True) is not False]
    undesirable = len(records) - len(wanted)
    switches = {} if filters else {"offensive": False, "spam": False, "short": False}
    options = CleanOptions(near_duplicates=False, token_stats=False, conflicts="last", **switches)
    result = clean_records(wanted, options)
    removed = {reason: n for reason, n in result.report.removed.items() if n}
    return result.records, undesirable, removed


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
