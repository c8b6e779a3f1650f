"""Usage statistics for the ``/stats`` command: questions per day, top questions, unanswered, votes."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from storage.models import NOT_ASKED, Correction, Exchange, Feedback

DEFAULT_DAYS = 14
DEFAULT_TOP = 5


def _as_date(value: Any) -> date:
    # SQLite's date() returns text, PostgreSQL's a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def get_stats(
    session: Session,
    days: int = DEFAULT_DAYS,
    *,
    top: int = DEFAULT_TOP,
    now: datetime | None = None,
    guilds: Collection[int | str] | None = None,
) -> dict[str, Any]:
    """A JSON-able summary of the store.

    Keys: ``total`` (exchanges ever), ``per_day`` (``[(iso date, n)]`` for the last ``days`` UTC days,
    zeros included, oldest first), ``top_questions`` (``[(question, n)]`` over those days, grouped by
    normalized question; chat and abuse are no questions), ``unanswered`` (exchanges the bot could not
    answer), ``unanswered_pending`` (those of them not corrected yet), ``upvotes``, ``downvotes``,
    ``vote_ratio`` (up / all votes, or None without votes). With ``guilds``, the top questions are the
    home community's only (``Exchange.asked_in``): another server's members' words are not its admins' to
    read, and a stranger repeating one would put it there; the counts are the whole bot's load.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    first_day = now.date() - timedelta(days=max(days, 1) - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)

    total = session.scalar(select(func.count()).select_from(Exchange)) or 0

    day = func.date(Exchange.created_at)
    counts = {
        _as_date(d): n
        for d, n in session.execute(
            select(day, func.count()).where(Exchange.created_at >= since).group_by(day)
        )
    }
    per_day = [
        ((first_day + timedelta(days=i)).isoformat(), counts.get(first_day + timedelta(days=i), 0))
        for i in range(max(days, 1))
    ]

    n = func.count().label("n")
    top_rows = session.execute(
        select(func.min(Exchange.question), n)
        .where(Exchange.created_at >= since, or_(Exchange.zone.is_(None), Exchange.zone.not_in(NOT_ASKED)))
        .where(Exchange.asked_in(guilds))
        .group_by(Exchange.question_key)
        .order_by(n.desc(), func.min(Exchange.question))
        .limit(top)
    ).all()

    corrected = select(Correction.id).where(Correction.exchange_id == Exchange.id).exists()
    unanswered, pending = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((~corrected, 1), else_=0)), 0),
        ).where(Exchange.unanswered.is_(True))
    ).one()

    up, down = session.execute(
        select(
            func.coalesce(func.sum(case((Feedback.vote > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Feedback.vote < 0, 1), else_=0)), 0),
        )
    ).one()
    return {
        "total": int(total),
        "per_day": per_day,
        "top_questions": [(q, int(c)) for q, c in top_rows],
        "unanswered": int(unanswered),
        "unanswered_pending": int(pending),
        "upvotes": int(up),
        "downvotes": int(down),
        "vote_ratio": (int(up) / (int(up) + int(down))) if (up or down) else None,
    }
