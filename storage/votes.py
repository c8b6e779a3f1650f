"""Votes on the bot's answers: one per user per exchange (+1 / -1), set, changed or taken back as
reactions come and go, and the net votes per known question that rank questions (``question_vote``,
``vote_totals``). Like ``storage.repo``, each function takes a ``Session`` whose transaction the caller
owns; Discord ids are converted with ``storage.repo.discord_id``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.changes import note
from storage.models import Exchange, Feedback, utc_now
from storage.repo import discord_id
from storage.text import question_key

__all__ = ["change_vote", "question_vote", "remove_vote", "set_vote", "vote_of", "vote_totals"]


def set_vote(session: Session, exchange_id: int, user_id: int | str, vote: int) -> None:
    """Record ``user_id``'s vote (+1 / -1) on an exchange, replacing any earlier vote of theirs.

    One atomic ``INSERT … ON CONFLICT DO UPDATE``, so two concurrent reactions of the same user cannot
    both insert.
    """
    if vote not in (1, -1):
        raise ValueError(f"vote must be +1 or -1, got {vote!r}")
    now = utc_now()
    values = {"exchange_id": exchange_id, "user_id": discord_id(user_id), "vote": vote, "created_at": now}
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"votes on {dialect} are not supported")
    # ORM-enabled insert: the UTCDateTime type processes the timestamps.
    stmt = insert(Feedback).values(**values, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Feedback.exchange_id, Feedback.user_id],
        set_={"vote": stmt.excluded.vote, "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt)
    note(session, "vote")  # rankings follow the votes in every process


def vote_of(session: Session, exchange_id: int, user_id: int | str) -> int | None:
    """``user_id``'s vote (+1 / -1) on an exchange, or None when they have not voted on it."""
    return session.scalar(
        select(Feedback.vote).where(
            Feedback.exchange_id == exchange_id, Feedback.user_id == discord_id(user_id)
        )
    )


def remove_vote(session: Session, exchange_id: int, user_id: int | str) -> bool:
    """Remove ``user_id``'s vote on an exchange; True if there was one."""
    row = session.scalars(
        select(Feedback).where(Feedback.exchange_id == exchange_id, Feedback.user_id == discord_id(user_id))
    ).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    note(session, "vote")
    return True


def change_vote(
    session: Session, exchange_id: int, user_id: int | str, vote: int | None, *, only_if: int | None = None
) -> int:
    """Set (``vote`` = +1/-1) or remove (``vote`` = None) a user's vote; return the change in net votes.

    The change is new vote − old vote (a removal: −old; 0 when nothing changed). With ``only_if``, a removal
    happens only while the user's current vote equals it. The exchange row is locked first (``FOR UPDATE``
    on PostgreSQL; SQLite writers are serialized anyway), so concurrent reactions on one answer cannot
    both read the same old vote.
    """
    if vote is not None and vote not in (1, -1):
        raise ValueError(f"vote must be +1, -1 or None, got {vote!r}")
    session.execute(select(Exchange.id).where(Exchange.id == exchange_id).with_for_update())
    old = vote_of(session, exchange_id, user_id) or 0
    if vote is not None:
        set_vote(session, exchange_id, user_id, vote)
        return vote - old
    if not old or (only_if is not None and old != only_if):
        return 0
    remove_vote(session, exchange_id, user_id)
    return -old


def _votes_on_answers() -> Any:
    """Every vote on an answer that used a known question: (question, user, vote), oldest first.

    A "did you mean" reply answers nothing, so votes on one count for no question."""
    return (
        select(Exchange.matched_question, Feedback.user_id, Feedback.vote)
        .join(Feedback, Feedback.exchange_id == Exchange.id)
        .where(
            Exchange.matched_question.is_not(None), or_(Exchange.zone.is_(None), Exchange.zone != "suggest")
        )
        .order_by(Feedback.updated_at, Feedback.id)
    )


def question_vote(session: Session, user_id: int | str, matched_question: str) -> int:
    """``user_id``'s vote on known ``matched_question``: their latest vote on any answer that used it, in any
    wording with the same key (0: none). One person counts once per known question, however often they ask
    and vote, and whatever wording an admin re-taught it under."""
    key = question_key(matched_question)
    latest = 0
    for question, _, vote in session.execute(
        _votes_on_answers().where(Feedback.user_id == discord_id(user_id))
    ):
        if question_key(question) == key:
            latest = vote
    return latest


def vote_totals(session: Session) -> dict[str, int]:
    """Net votes per known question (by ``question_key``; named by its latest wording): the sum of each
    user's ``question_vote`` on it, read in one query."""
    latest: dict[tuple[str, str], int] = {}
    names: dict[str, str] = {}
    for question, user_id, vote in session.execute(_votes_on_answers()):
        key = question_key(question)
        latest[key, user_id] = vote
        names[key] = question
    totals: dict[str, int] = {}
    for (key, _), vote in latest.items():
        totals[key] = totals.get(key, 0) + vote
    return {names[key]: total for key, total in totals.items() if total}
