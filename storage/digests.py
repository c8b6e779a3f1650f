"""Claims on the weekly digest (revision 0009): several processes may serve one store, and each one's
digest loop fires at the same hour; the one whose claim of the week lands posts the digest, the others
skip it. Like ``storage.repo``, each function takes a ``Session`` whose transaction the caller owns.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import DigestPost, utc_now

__all__ = ["claim_digest", "release_digest", "week_of"]


def week_of(now: datetime) -> str:
    """The ISO week ``now`` (UTC; naive is taken as UTC) falls in, as the digest's claim names it:
    "2026-W49". ISO years: 2026-12-31 can be week 1 of 2027, and one week never has two names."""
    when = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def claim_digest(session: Session, week: str) -> bool:
    """Claim the digest of ``week`` for this caller: True for the one claim that inserted it, False when
    the week is claimed already. One ``INSERT … ON CONFLICT DO NOTHING``: of processes racing, the
    database lets exactly one insert land (PostgreSQL makes the second wait for the first to commit; SQLite
    writes one at a time). Post only after the transaction committed."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"digest claims on {dialect} are not supported")
    # ORM-enabled insert: the UTCDateTime type processes the timestamp. RETURNING, not the row count (which
    # the ORM's insert does not pass on): a skipped insert returns no row.
    stmt = insert(DigestPost).values(week=week, claimed_at=utc_now()).on_conflict_do_nothing()
    return session.execute(stmt.returning(DigestPost.week)).first() is not None


def release_digest(session: Session, week: str) -> bool:
    """Give back the claim of ``week`` (its digest could not be posted); whether there was one."""
    return session.execute(delete(DigestPost).where(DigestPost.week == week)).rowcount == 1
