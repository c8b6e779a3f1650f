"""Import ``{"question", "answer"}`` records (any shape ``training.data`` loads) as taught pairs.

``storage`` does not read dataset files itself: the ``qabot import`` command loads them with
``training.data.load_dataset_file`` and hands the records over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from storage.models import TaughtPair, utc_now
from storage.text import normalize_question, question_key

# Keys per IN (...) lookup: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


def import_records(
    session: Session, records: Iterable[Mapping[str, Any]], admin_id: int | str | None = None
) -> tuple[int, int]:
    """Add each record as an active taught pair; return ``(added, skipped)``.

    Skipped: a pair whose normalized question and answer an active taught pair already has (or an
    earlier record of the same import), and records with an empty question or answer. A question that
    is already taught with a different answer is added: the latest taught answer wins in exports.
    """
    added = skipped = 0
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
    return added, skipped
