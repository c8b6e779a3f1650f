"""The change log: every write that changes what the bot knows appends a row in its own transaction, so
every process serving the store (``SHARD_IDS``, a second ``qabot run``) sees it and reloads.

``note`` is called by the writers of ``storage.repo`` (taught pairs, corrections, learned wordings),
``storage.synonyms``, ``storage.votes``, ``storage.importing``, and the retrain job for a swapped model. A
reader keeps a ``ChangeFeed``: ``mark()`` where it starts, then ``read()`` returns each change committed
since, once.

Why a window of ids and not just ``max(id)``: on PostgreSQL ids come from a sequence when a row is inserted,
not when it commits, so a transaction that took id 10 may commit after one that took 11; a reader that saw
max 11 would never notice 10. The feed remembers the ids it saw among the last ``WINDOW`` and reads them
again (a primary-key range: a few rows), so a late commit is seen as new. On SQLite writers are serialised
and ids commit in order anyway. Rows older than ``KEEP`` are pruned by ``note`` now and then; the newest row
always stays, so ids never go back (SQLite reuses the highest rowid if it is deleted).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.db import READ_ONLY
from storage.models import Change, utc_now

__all__ = ["KINDS", "ChangeFeed", "Noted", "note", "prune", "read_session"]

KINDS = ("taught", "correction", "wording", "vote", "model", "synonym")
WINDOW = 100  # ids below the newest that a feed reads again (transactions that commit out of id order)
KEEP = timedelta(days=1)  # rows older than this are pruned (every PRUNE_EVERY-th note)
PRUNE_EVERY = 100


class Noted(NamedTuple):
    """A change as a feed reads it."""

    id: int
    kind: str
    model_path: str | None = None
    model_version: str | None = None


def note(
    session: Session, kind: str, *, model_path: str | None = None, model_version: str | None = None
) -> int:
    """Log a change of ``kind`` in the caller's transaction (so it commits, or not, with the change)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    row = Change(kind=kind, model_path=model_path, model_version=model_version, created_at=utc_now())
    session.add(row)
    session.flush()
    if row.id % PRUNE_EVERY == 0:
        prune(session)
    return row.id


def prune(session: Session, keep: timedelta = KEEP) -> int:
    """Delete changes older than ``keep``, never the newest one; how many went."""
    newest = select(func.max(Change.id)).scalar_subquery()
    stmt = delete(Change).where(Change.created_at < utc_now() - keep, Change.id < newest)
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


@contextmanager
def read_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A plain read: on SQLite it neither queues behind the writers nor holds them up (one snapshot)."""
    with session_factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


class ChangeFeed:
    """What one process has seen of the change log (see the module docstring). Not thread-safe: one
    reader at a time."""

    def __init__(self, session_factory: sessionmaker[Session], window: int = WINDOW) -> None:
        self.session_factory = session_factory
        self.window = window
        self._floor = 0  # every id at or below it is behind us
        self._seen: set[int] = set()  # the ids above the floor already read

    def mark(self) -> None:
        """Start here: what is in the log now is not new."""
        with read_session(self.session_factory) as session:
            newest = session.scalar(select(func.max(Change.id))) or 0
            self._floor = max(0, newest - self.window)
            self._seen = set(session.scalars(select(Change.id).where(Change.id > self._floor)))

    def read(self) -> list[Noted]:
        """The changes committed since the last ``read`` (or ``mark``), oldest first."""
        stmt = select(Change.id, Change.kind, Change.model_path, Change.model_version)
        with read_session(self.session_factory) as session:
            rows = [
                Noted(*row)
                for row in session.execute(stmt.where(Change.id > self._floor).order_by(Change.id))
            ]
        new = [row for row in rows if row.id not in self._seen]
        if rows:
            self._floor = max(self._floor, rows[-1].id - self.window)
        self._seen = {row.id for row in rows if row.id > self._floor}
        return new
