"""The admins' word alterations (``/synonym``): people type ``word`` for each of ``means``. Every process
applies them to its searches from the next change on (``storage.changes``). The caller owns the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.changes import note
from storage.models import MAX_SYNONYM_CHARS, Synonym, utc_now
from storage.repo import _text, discord_id
from storage.text import normalize_question

__all__ = ["remove_synonym", "set_synonym", "synonyms"]


def _synonym_text(value: str, what: str) -> str:
    text = " ".join(_text(value, what).split())
    if len(text) > MAX_SYNONYM_CHARS:
        raise ValueError(f"{what} is {len(text)} characters; the limit is {MAX_SYNONYM_CHARS}")
    return text


def set_synonym(session: Session, word: str, means: list[str], admin_id: int | str | None = None) -> Synonym:
    """Store an admin's synonym: people type ``word`` for each of ``means`` (replacing what ``word`` had;
    an empty ``means``: ``word`` has no alterations, not even learned ones)."""
    word = _synonym_text(word, "word")
    means = list(dict.fromkeys(_synonym_text(m, "meaning") for m in means))
    key = normalize_question(word)
    row = session.scalar(select(Synonym).where(Synonym.word_key == key))
    now = utc_now()
    if row is None:
        row = Synonym(word=word, word_key=key, created_at=now)
        session.add(row)
    row.word, row.means, row.admin_id, row.updated_at = word, means, discord_id(admin_id), now
    session.flush()
    note(session, "synonym")
    return row


def remove_synonym(session: Session, word: str) -> bool:
    """Delete the admins' synonym for ``word``; False when there was none."""
    row = session.scalar(select(Synonym).where(Synonym.word_key == normalize_question(word)))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    note(session, "synonym")
    return True


def synonyms(session: Session) -> list[dict[str, Any]]:
    """The admins' synonyms, oldest change first (so later ones win): dicts of ``word``, ``means`` (a
    list; empty: no alterations for ``word``), ``admin_id`` and ``updated_at``."""
    stmt = select(Synonym).order_by(Synonym.updated_at, Synonym.id)
    return [
        {"word": r.word, "means": list(r.means or []), "admin_id": r.admin_id, "updated_at": r.updated_at}
        for r in session.scalars(stmt)
    ]
