"""Import ``{"question", "answer"}`` records (any shape ``training.data`` loads) as taught pairs.

``storage`` does not read dataset files itself: the ``qabot import`` command loads them with
``training.data.load_dataset_file`` (or, for TRL KTO/DPO files, ``training.data.preference``) and hands the
records over. A record may carry ``"label": False`` (a KTO row marked undesirable, a DPO ``rejected``
answer): it is counted and never taught, so a bad answer cannot come back as an admin's answer.

``import_in_batches`` commits every ``BATCH`` records: a running bot's writes (its exchanges, votes,
``/teach``) wait for one batch, not for the whole file (a 450k-record import held SQLite's write lock for
14 s, past the bots' 10 s busy timeout, and their writes failed). An import stopped half-way can be run
again: what it added is skipped as already taught.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from storage.changes import note
from storage.db import StoreError, transaction
from storage.models import TaughtPair, utc_now
from storage.text import normalize_question, question_key

log = logging.getLogger(__name__)

# Keys per IN (...) lookup: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
BATCH = 5000  # records per transaction of ``import_in_batches`` (about 0.2 s of write lock on SQLite)
PAUSE_S = 0.02  # between batches: a writer waiting on SQLite's lock gets its turn


class ImportResult(NamedTuple):
    added: int  # new taught pairs
    skipped: int  # duplicates of a taught pair (or of an earlier record), or empty
    undesirable: int = 0  # records labelled undesirable (``"label": False``): not taught


def import_in_batches(
    session_factory: sessionmaker[Session],
    records: Sequence[Mapping[str, Any]],
    admin_id: int | str | None = None,
) -> ImportResult:
    """``import_records`` in transactions of ``BATCH`` records (``storage.db.transaction``: a StoreError
    says why one failed). The last batch tells every running bot (``storage.changes``), with its rows: also
    when nothing was added, since a run after one that failed half-way may add nothing new. A failed batch
    tells them too if earlier ones were added, as best it can: the batch's error is the one raised."""
    added = skipped = undesirable = 0
    told = False
    try:
        for start in range(0, len(records), BATCH):
            if start:
                time.sleep(PAUSE_S)
            batch = records[start : start + BATCH]
            last = start + BATCH >= len(records)
            with transaction(session_factory, "import records") as session:
                result = import_records(session, batch, admin_id, announce=False)
                if last and (added + result.added or skipped + result.skipped):
                    note(session, "taught")  # every running bot answers them within seconds
            told = last  # committed, its note with it
            added, skipped = added + result.added, skipped + result.skipped
            undesirable += result.undesirable
    finally:
        if (added or skipped) and not told:
            try:
                with transaction(session_factory, "announce the imported pairs") as session:
                    note(session, "taught")
            except StoreError as e:
                log.warning("%s: running bots serve the imported pairs after a restart or the next import", e)
    return ImportResult(added, skipped, undesirable)


def import_records(
    session: Session,
    records: Iterable[Mapping[str, Any]],
    admin_id: int | str | None = None,
    *,
    announce: bool = True,
) -> ImportResult:
    """Add each record as an active taught pair; return ``(added, skipped, undesirable)``.

    Skipped: a pair whose normalized question and answer an active taught pair already has (or an
    earlier record of the same import), and records with an empty question or answer. A question that
    is already taught with a different answer is added: the latest taught answer wins in exports.
    Records with ``"label": False`` are counted as undesirable and not imported.
    """
    added = skipped = undesirable = 0
    chunk: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()

    def flush() -> None:
        nonlocal added, skipped
        keys = {key for key, _, _, _ in chunk}
        existing = session.execute(
            select(TaughtPair.question_key, TaughtPair.answer).where(
                TaughtPair.question_key.in_(keys), TaughtPair.active.is_(True)
            )
        )
        seen.update((key, normalize_question(answer)) for key, answer in existing)
        rows = []
        now = utc_now()
        for key, answer_key, question, answer in chunk:
            if (key, answer_key) in seen:
                skipped += 1
                continue
            seen.add((key, answer_key))
            rows.append(
                {
                    "question": question,
                    "question_key": key,
                    "answer": answer,
                    "admin_id": None if admin_id is None else str(admin_id),
                    "source": "import",
                    "active": True,
                    "created_at": now,
                }
            )
        if rows:
            session.execute(insert(TaughtPair), rows)
            added += len(rows)
        chunk.clear()

    for record in records:
        if record.get("label", True) is False:
            undesirable += 1
            continue
        question = str(record.get("question") or "").strip()
        answer = str(record.get("answer") or "").strip()
        if not question or not answer:
            skipped += 1
            continue
        chunk.append((question_key(question), normalize_question(answer), question, answer))
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    if added and announce:
        note(session, "taught")  # every running bot answers them within seconds (storage.changes)
    return ImportResult(added, skipped, undesirable)
