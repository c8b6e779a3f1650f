"""Export the store as training data: ``json`` / ``jsonl`` / ``csv`` records, TRL ``sft`` / ``kto`` / ``dpo``.

- ``json``, ``jsonl``, ``csv`` and ``sft`` collapse duplicates by normalized question to the best-supported
  answer: an admin's (latest correction or taught pair), else the most net votes, else the latest. A
  json/jsonl row that is a member's accepted answer also carries ``source`` "member", ``question_url`` and
  ``answer_url`` (its Discord messages); csv keeps two columns, every cell quoted and none able to start
  a spreadsheet formula (``formats.spreadsheet_cell``). Row shapes: ``storage.formats``.
- ``kto``: one line per distinct (question, completion): admin answers are desirable, a bot answer an
  admin corrected is undesirable, other bot answers take the sign of their net votes (unrated: left out).
- ``dpo``: the latest correction chosen over the bot's answer, one line per distinct (question, rejected).

"Did you mean", chat and abuse exchanges, and by default "not sure" answers, are left out unless an admin
corrected them (an admin's verdict passes the filters). An answered follow-up is a row of the known question
it matched; other follow-ups are left out (``storage.repo.STANDS_FOR``). No user ids are written; secrets are
masked, and mentions, ids in the text, e-mails and phones unless ``keep_pii``. Streamed, atomic.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, sessionmaker

from storage.db import READ_ONLY, StoreError, engine_of, sqlite_path
from storage.formats import (
    FORMATS,
    ExportSummary,
    check_format,
    default_file_name,
    dpo_row,
    kto_row,
    sft_row,
    spreadsheet_cell,
)
from storage.importing import import_records
from storage.masking import mask_pii, mask_secrets
from storage.models import NOT_ASKED, Candidate, Correction, Exchange, Feedback, TaughtPair, UTCDateTime
from storage.repo import HAS_QUESTION, STANDS_FOR, STANDS_FOR_KEY
from storage.text import normalize_question

__all__ = ["FORMATS", "ExportFilters", "ExportSummary", "export_dataset", "import_records", "write_export"]

MEMBER_SOURCE = "member"  # the ``source`` of a json/jsonl row that is a member's accepted answer
# Rows fetched per round trip: large enough to amortize, small enough that memory stays flat.
YIELD_PER = 2000
# One encoder for all rows: json.dumps(..., ensure_ascii=False) would build a new one per row.
_encode = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True)
class ExportFilters:
    since: datetime | None = None  # created at or after (UTC if naive)
    until: datetime | None = None  # created before
    min_score: int | None = None  # net votes (up - down) at least this
    only_rated: bool = False  # exchanges with at least one vote
    # Drop the bot's "I don't know" answers (a dataset to train on): False keeps them, to read what was asked.
    exclude_unanswered: bool = True
    include_corrections: bool = True  # a correction replaces the bot's answer
    include_taught: bool = True  # add /teach and imported pairs
    keep_pii: bool = False  # do not mask mentions, Discord ids, e-mails, phone numbers (secrets always are)


def _time_window(column: Any, f: ExportFilters) -> list[ColumnElement[bool]]:
    conds = []
    if f.since is not None:
        conds.append(column >= f.since)
    if f.until is not None:
        conds.append(column < f.until)
    return conds


def _exchanges(f: ExportFilters) -> Any:
    """Filtered exchanges with their net votes and latest correction (NULL when none or not wanted)."""
    votes = (
        select(Feedback.exchange_id, func.sum(Feedback.vote).label("score"), func.count().label("n_votes"))
        .group_by(Feedback.exchange_id)
        .subquery("votes")
    )
    score = func.coalesce(votes.c.score, 0)
    stmt = select(
        Exchange.id,
        STANDS_FOR_KEY.label("key"),
        STANDS_FOR.label("question"),
        Exchange.answer.label("bot_answer"),
        Exchange.unanswered,
        Exchange.created_at.label("at"),
        score.label("score"),
    ).outerjoin(votes, votes.c.exchange_id == Exchange.id)
    if f.include_corrections:
        newest_first = (Correction.created_at.desc(), Correction.id.desc())
        rn = func.row_number().over(partition_by=Correction.exchange_id, order_by=newest_first)
        ranked = select(Correction.exchange_id, Correction.answer, Correction.created_at, rn.label("rn"))
        corr = ranked.subquery("ranked_corrections")
        stmt = stmt.outerjoin(corr, and_(corr.c.exchange_id == Exchange.id, corr.c.rn == 1))
        stmt = stmt.add_columns(corr.c.answer.label("corr_answer"), corr.c.created_at.label("corr_at"))
        corrected: ColumnElement[bool] = corr.c.answer.is_not(None)
    else:
        stmt = stmt.add_columns(
            cast(null(), Text).label("corr_answer"), cast(null(), UTCDateTime()).label("corr_at")
        )
        corrected = false()
    # A follow-up is written as the known question it was answered with, or not at all (``storage.repo``).
    conds = [HAS_QUESTION, *_time_window(Exchange.created_at, f)]
    # A "did you mean" reply lists known questions, and chat or abuse asked nothing: no answer to learn from
    # (unless an admin gave one).
    conds.append(or_(Exchange.zone.is_(None), Exchange.zone.not_in(("suggest", *NOT_ASKED)), corrected))
    if f.min_score is not None:
        conds.append(or_(score >= f.min_score, corrected))
    if f.only_rated:
        conds.append(or_(func.coalesce(votes.c.n_votes, 0) > 0, corrected))
    if f.exclude_unanswered:
        conds.append(or_(Exchange.unanswered.is_(False), corrected))
    return stmt.where(*conds).subquery("ex")


def _taught(f: ExportFilters) -> list[ColumnElement[bool]]:
    return [TaughtPair.active.is_(True), *_time_window(TaughtPair.created_at, f)]


def _best_answers(f: ExportFilters) -> Select[Any]:
    """One (question, answer) per normalized question: the best-supported answer, oldest group first."""
    ex = _exchanges(f)
    admin = case((ex.c.corr_answer.is_not(None), 1), else_=0)
    parts = [
        select(
            ex.c.key,
            ex.c.question,
            func.coalesce(ex.c.corr_answer, ex.c.bot_answer).label("answer"),
            admin.label("admin"),
            ex.c.corr_at.label("admin_at"),
            ex.c.score,
            ex.c.at,
            literal(0, Integer).label("kind"),
            ex.c.id,
            cast(null(), Text).label("question_url"),
            cast(null(), Text).label("answer_url"),
        )
    ]
    if f.include_taught:
        # A member's accepted answer keeps the links to its question and answer messages (provenance).
        member = Candidate.taught_pair_id == TaughtPair.id
        parts.append(
            select(
                TaughtPair.question_key,
                TaughtPair.question,
                TaughtPair.answer,
                literal(1, Integer),
                TaughtPair.created_at,
                literal(0, Integer),
                TaughtPair.created_at,
                literal(1, Integer),
                TaughtPair.id,
                Candidate.question_url,
                Candidate.answer_url,
            )
            .outerjoin(Candidate, member)
            .where(*_taught(f))
        )
    c = union_all(*parts).subquery("candidates").c
    # Admin answers first (latest wins), then net votes, then the latest; kind/id only make ties stable.
    order = (c.admin.desc(), c.admin_at.desc(), c.score.desc(), c.at.desc(), c.kind.desc(), c.id.desc())
    rank = func.row_number().over(partition_by=c.key, order_by=order).label("rank")
    cols = (c.question, c.answer, c.at, c.kind, c.id, c.question_url, c.answer_url, rank)
    r = select(*cols).subquery("ranked").c
    return (
        select(r.question, r.answer, r.question_url, r.answer_url, r.kind)
        .where(r.rank == 1)
        .order_by(r.at, r.kind, r.id)
    )


def _kto(f: ExportFilters) -> Select[Any]:
    """(question, completion, good, bad, score) per distinct (question key, completion)."""
    ex = _exchanges(f)
    corrected = case((ex.c.corr_answer.is_not(None), 1), else_=0)
    bot = select(
        ex.c.key,
        ex.c.question,
        ex.c.bot_answer.label("completion"),
        literal(0, Integer).label("good"),
        corrected.label("bad"),
        ex.c.score,
        ex.c.at,
    )
    if f.exclude_unanswered:
        bot = bot.where(ex.c.unanswered.is_(False))
    parts = [bot]
    if f.include_corrections:
        parts.append(
            select(
                ex.c.key,
                ex.c.question,
                ex.c.corr_answer,
                literal(1, Integer),
                literal(0, Integer),
                literal(0, Integer),
                ex.c.corr_at,
            ).where(ex.c.corr_answer.is_not(None))
        )
    if f.include_taught:
        parts.append(
            select(
                TaughtPair.question_key,
                TaughtPair.question,
                TaughtPair.answer,
                literal(1, Integer),
                literal(0, Integer),
                literal(0, Integer),
                TaughtPair.created_at,
            ).where(*_taught(f))
        )
    c = union_all(*parts).subquery("kto").c
    good, bad, score = func.max(c.good), func.max(c.bad), func.sum(c.score)
    return (
        select(func.min(c.question), c.completion, good, bad, score)
        .group_by(c.key, c.completion)
        .having(or_(good > 0, bad > 0, score != 0))
        .order_by(func.min(c.at), c.key, c.completion)
    )


def _dpo(f: ExportFilters) -> Select[Any]:
    """(question, chosen, rejected) per distinct (question key, rejected): the latest correction wins."""
    if not f.include_corrections:
        return select(literal("").label("q"), literal(""), literal("")).where(false())
    ex = _exchanges(f)
    conds = [ex.c.corr_answer.is_not(None)]
    if f.exclude_unanswered:
        conds.append(ex.c.unanswered.is_(False))
    rank = func.row_number().over(
        partition_by=(ex.c.key, ex.c.bot_answer), order_by=(ex.c.corr_at.desc(), ex.c.id.desc())
    )
    r = (
        select(ex.c.question, ex.c.corr_answer, ex.c.bot_answer, ex.c.at, ex.c.id, rank.label("rank"))
        .where(*conds)
        .subquery("ranked")
        .c
    )
    return select(r.question, r.corr_answer, r.bot_answer).where(r.rank == 1).order_by(r.at, r.id)


def _rows(session: Session, fmt: str, f: ExportFilters) -> Iterator[dict[str, Any]]:
    """The dataset's rows as dicts, masked (secrets always; personal data unless ``keep_pii``)."""
    m: Callable[[str], str] = mask_secrets if f.keep_pii else mask_pii
    if fmt == "kto":
        stmt = _kto(f)
    elif fmt == "dpo":
        stmt = _dpo(f)
    else:
        stmt = _best_answers(f)
    for row in session.execute(stmt.execution_options(yield_per=YIELD_PER)):
        if fmt in ("json", "jsonl", "csv"):
            record = {"question": m(row[0]), "answer": m(row[1])}
            if fmt != "csv" and row[4] == 1 and (row[2] or row[3]):  # a member's answer: where it came from
                record.update(source=MEMBER_SOURCE, question_url=row[2], answer_url=row[3])
            yield record
        elif fmt == "sft":
            yield sft_row(m(row[0]), m(row[1]))
        elif fmt == "kto":
            question, completion, good, bad, score = row
            yield kto_row(m(question), m(completion), label=bool(good) or (not bad and score > 0))
        else:  # dpo: an admin "correcting" to the same text is no preference
            question, chosen, rejected = row
            if normalize_question(chosen) != normalize_question(rejected):
                yield dpo_row(m(question), m(chosen), m(rejected))


@contextmanager
def _atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text file that appears at ``path`` complete or not at all (created with the usual permissions:
    the umask's, as any other file the user writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and os.fspath(tmp) in (error.filename, error.filename2):
            # The temporary file is ours, not the user's: say what they asked to write.
            raise OSError(error.errno, error.strerror, os.fspath(path)) from error
        raise


def export_path(session_factory: sessionmaker[Session], fmt: str, out_path: str | Path) -> Path:
    """Where an export to ``out_path`` goes: a folder (an existing one, or a name ending in ``/``, which
    is created) gets ``default_file_name(fmt)`` in it. Never the store's own SQLite file (``StoreError``):
    the export would replace the database it reads."""
    text = os.fspath(out_path)
    out = Path(text)
    if text.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)) or out.is_dir():
        if out.exists() and not out.is_dir():
            raise StoreError(f"{out} is a file, not a folder; give a folder or a file name")
        out = out / default_file_name(fmt)
    own = sqlite_path(engine_of(session_factory).url)
    if own is not None and out.resolve() == own.resolve():
        raise StoreError(f"{out} is the store's own database; export to another file")
    return out


def _tally(rows: Iterator[dict[str, Any]], summary: ExportSummary) -> Iterator[dict[str, Any]]:
    for row in rows:
        summary.rows += 1
        if "label" in row:
            summary.labels[row["label"]] += 1
        yield row


def _write(fmt: str, rows: Iterator[dict[str, Any]], fh: IO[str]) -> int:
    n = 0
    if fmt == "json":
        fh.write("[")
        for row in rows:
            fh.write(("\n  " if n == 0 else ",\n  ") + _encode(row))
            n += 1
        fh.write("\n]\n" if n else "]\n")
    elif fmt == "csv":
        # Every cell quoted: a spreadsheet whose locale splits on ";" must not cut a cell in two either.
        writer = csv.DictWriter(
            fh, fieldnames=["question", "answer"], lineterminator="\n", quoting=csv.QUOTE_ALL
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({key: spreadsheet_cell(text) for key, text in row.items()})
            n += 1
    else:
        for row in rows:
            fh.write(_encode(row) + "\n")
            n += 1
    return n


def write_export(
    session_factory: sessionmaker[Session],
    fmt: str,
    out_path: str | Path,
    filters: ExportFilters | None = None,
) -> ExportSummary:
    """Write the store as a ``fmt`` dataset to ``out_path`` (atomically; a folder: ``export_path``); say
    what was written (``ExportSummary.path``: where)."""
    check_format(fmt)
    f = filters or ExportFilters()
    summary = ExportSummary(fmt)
    summary.path = out = export_path(session_factory, fmt, out_path)
    with session_factory() as session:
        # A plain read: on SQLite it must not queue behind (or hold up) the bot's writers.
        session.connection(execution_options={READ_ONLY: True})
        with _atomic_text(out) as fh:
            _write(fmt, _tally(_rows(session, fmt, f), summary), fh)
    return summary


def export_dataset(
    session_factory: sessionmaker[Session],
    fmt: str,
    out_path: str | Path,
    filters: ExportFilters | None = None,
) -> int:
    """Write the store as a ``fmt`` dataset to ``out_path`` (atomically); return the number of rows."""
    return write_export(session_factory, fmt, out_path, filters).rows
