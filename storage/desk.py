"""The admins' knowledge desk's reads: the questions people could not get answered (``gap_questions``),
how the answers of a period split between the zones (``zone_shares``), and the 👎'd answers
(``downvoted_answers``). Like ``storage.repo``, each function takes a ``Session`` whose transaction the
caller owns; rows come back as plain dicts.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session

from storage.models import NOT_ASKED, Correction, Dismissal, Exchange, Feedback, TaughtPair

__all__ = ["downvoted_answers", "gap_questions", "zone_shares"]


def _period(stmt: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        stmt = stmt.where(Exchange.created_at >= since)
    if until is not None:
        stmt = stmt.where(Exchange.created_at < until)
    return stmt


def _answered() -> Any:
    """An exchange whose reply answered a question: not "did you mean", chat or abuse (``NOT_ASKED``)."""
    return or_(Exchange.zone.is_(None), Exchange.zone.not_in(("suggest", *NOT_ASKED)))


def _net_votes() -> Any:
    """Each exchange's net vote (+1 per 👍, -1 per 👎) as a correlated scalar."""
    return (
        select(func.coalesce(func.sum(Feedback.vote), 0))
        .where(Feedback.exchange_id == Exchange.id)
        .scalar_subquery()
    )


def gap_questions(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    guilds: Collection[int | str] | None = None,
) -> list[dict[str, Any]]:
    """The questions of a period nobody has answered yet, oldest first: those the bot was not sure about
    (``why`` "unanswered": no correction, no taught pair of that wording, no wording chosen for it since)
    and the answers people 👎'd more than 👍'd that no admin corrected or judged right (``why``
    "downvoted"; ``storage.review.dismiss``); chat and abuse (``NOT_ASKED``) are neither. Dicts of
    ``id``, ``question``, ``user_id``, ``created_at``, ``why``, ``message_id``, ``channel_id``. ``guilds``:
    only those asked there or outside any guild (the home community's: ``HOME_GUILD_IDS``)."""
    corrected = exists().where(Correction.exchange_id == Exchange.id)
    taught = exists().where(TaughtPair.question_key == Exchange.question_key, TaughtPair.active.is_(True))
    net = _net_votes()
    unanswered = (Exchange.unanswered.is_(True)) & ~taught & Exchange.chosen_question.is_(None)
    downvoted = (Exchange.unanswered.is_(False)) & _answered()
    dismissed = exists().where(Dismissal.exchange_id == Exchange.id, Dismissal.kind == "downvote")
    downvoted = downvoted & (net < 0) & ~dismissed
    stmt = select(
        Exchange.id,
        Exchange.question,
        Exchange.user_id,
        Exchange.created_at,
        Exchange.unanswered,
        Exchange.message_id,
        Exchange.channel_id,
    ).where(~corrected, or_(unanswered, downvoted))
    # Another guild's questions are not the home community's gaps.
    stmt = stmt.where(Exchange.asked_in(guilds))
    stmt = _period(stmt, since, until).order_by(Exchange.created_at, Exchange.id)
    return [
        {
            "id": i,
            "question": q,
            "user_id": user,
            "created_at": at,
            "why": "unanswered" if not_sure else "downvoted",
            "message_id": message,
            "channel_id": channel,
        }
        for i, q, user, at, not_sure, message, channel in session.execute(stmt)
    ]


def _as_date(value: Any) -> date:
    # SQLite's date() returns text, PostgreSQL's a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def zone_shares(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Per UTC day of the period with questions, oldest first: ``day`` (a date) and how many were
    ``answered``, ``suggested`` ("did you mean") and ``not_sure`` (chat and abuse are no questions)."""
    day = func.date(Exchange.created_at)
    zone = case(
        (Exchange.unanswered.is_(True), "not_sure"),
        (Exchange.zone == "suggest", "suggested"),
        else_="answered",
    )
    asked = or_(Exchange.zone.is_(None), Exchange.zone.not_in(NOT_ASKED))
    stmt = _period(select(day, zone, func.count()).where(asked), since, until).group_by(day, zone)
    days: dict[date, dict[str, Any]] = {}
    for d, z, n in session.execute(stmt):
        row = days.setdefault(_as_date(d), {"answered": 0, "suggested": 0, "not_sure": 0})
        row[z] += int(n)
    return [{"day": d, **counts} for d, counts in sorted(days.items())]


def downvoted_answers(
    session: Session, *, since: datetime | None = None, until: datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The answers of a period with more 👎 than 👍 that no admin corrected, most 👎'd first: dicts of
    ``id``, ``question``, ``answer``, ``matched_question``, ``downvotes``, ``net``, ``created_at``,
    ``user_id``, ``channel_id``, ``reply_message_id``."""
    corrected = exists().where(Correction.exchange_id == Exchange.id)
    down = func.sum(case((Feedback.vote < 0, 1), else_=0)).label("down")
    net = func.sum(Feedback.vote).label("net")
    stmt = (
        select(
            Exchange.id,
            Exchange.question,
            Exchange.answer,
            Exchange.matched_question,
            Exchange.created_at,
            Exchange.user_id,
            Exchange.channel_id,
            Exchange.reply_message_id,
            down,
            net,
        )
        .join(Feedback, Feedback.exchange_id == Exchange.id)
        .where(~corrected, Exchange.unanswered.is_(False), _answered())
        .group_by(Exchange.id)
        .having(func.sum(Feedback.vote) < 0)
        .order_by(down.desc(), Exchange.created_at.desc(), Exchange.id.desc())
        .limit(limit)
    )
    stmt = _period(stmt, since, until)
    return [
        {
            "id": i,
            "question": q,
            "answer": a,
            "matched_question": m,
            "created_at": at,
            "user_id": user,
            "channel_id": channel,
            "reply_message_id": reply,
            "downvotes": int(d),
            "net": int(n),
        }
        for i, q, a, m, at, user, channel, reply, d, n in session.execute(stmt)
    ]
