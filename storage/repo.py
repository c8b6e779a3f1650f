"""Repository functions: every read and write the bot makes, each taking a ``Session``.

The caller owns the transaction (``with session_factory.begin() as session:``); nothing here commits.
Ids of Discord objects are stored as strings (snowflakes overflow some databases' signed 64-bit
integers); every function takes them as ``int`` or ``str`` and converts them with ``discord_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Correction, Exchange, Feedback, TaughtPair, TrainingRun, utc_now
from storage.stats import get_stats
from storage.text import question_key

__all__ = [
    "add_correction",
    "add_taught_pair",
    "discord_id",
    "exchange_by_reply",
    "finish_training_run",
    "get_stats",
    "latest_training_run",
    "log_exchange",
    "remove_vote",
    "set_vote",
    "start_training_run",
    "unanswered_queue",
    "vote_of",
]

SOURCES = ("discord", "terminal")
RUN_STATUSES = ("running", "succeeded", "failed", "cancelled")


def discord_id(value: int | str | None) -> str | None:
    """A Discord id (snowflake) as the store keeps it: a string (None stays None)."""
    return None if value is None else str(value)


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


def log_exchange(
    session: Session,
    *,
    question: str,
    answer: str,
    model_version: str,
    confidence: float | None,
    unanswered: bool,
    latency_ms: float | None,
    source: str,
    guild_id: int | str | None = None,
    channel_id: int | str | None = None,
    message_id: int | str | None = None,
    user_id: int | str | None = None,
    reply_message_id: int | str | None = None,
    created_at: datetime | None = None,
) -> Exchange:
    """Add one question and the bot's answer (flushed: the returned row has its id)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    question = _text(question, "question")
    row = Exchange(
        question=question,
        question_key=question_key(question),
        answer=answer,
        model_version=model_version,
        confidence=confidence,
        unanswered=bool(unanswered),
        latency_ms=latency_ms,
        source=source,
        guild_id=discord_id(guild_id),
        channel_id=discord_id(channel_id),
        message_id=discord_id(message_id),
        user_id=discord_id(user_id),
        reply_message_id=discord_id(reply_message_id),
        created_at=created_at or utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def exchange_by_reply(session: Session, reply_message_id: int | str | None) -> Exchange | None:
    """The exchange whose answer was posted as message ``reply_message_id`` (reactions arrive with it)."""
    if reply_message_id is None:
        return None
    stmt = (
        select(Exchange)
        .where(Exchange.reply_message_id == discord_id(reply_message_id))
        .order_by(Exchange.id)
    )
    return session.scalars(stmt.limit(1)).first()


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
    return True


def add_correction(
    session: Session,
    exchange_id: int,
    answer: str,
    admin_id: int | str | None,
    *,
    created_at: datetime | None = None,
) -> Correction:
    """Store an admin's corrected answer; the latest correction replaces the bot's answer in exports."""
    if session.get(Exchange, exchange_id) is None:
        raise LookupError(f"no exchange {exchange_id}")
    row = Correction(
        exchange_id=exchange_id,
        answer=_text(answer, "answer"),
        admin_id=discord_id(admin_id),
        created_at=created_at or utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def add_taught_pair(
    session: Session,
    question: str,
    answer: str,
    admin_id: int | str | None = None,
    *,
    source: str = "teach",
    created_at: datetime | None = None,
) -> TaughtPair:
    """Store a question/answer an admin taught (``/teach``) or imported."""
    question = _text(question, "question")
    row = TaughtPair(
        question=question,
        question_key=question_key(question),
        answer=_text(answer, "answer"),
        admin_id=discord_id(admin_id),
        source=source,
        active=True,
        created_at=created_at or utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def unanswered_queue(session: Session, limit: int = 20) -> list[Exchange]:
    """Unanswered exchanges, oldest first, that no correction or active taught pair has answered yet."""
    corrected = exists().where(Correction.exchange_id == Exchange.id)
    taught = exists().where(TaughtPair.question_key == Exchange.question_key, TaughtPair.active.is_(True))
    stmt = (
        select(Exchange)
        .where(Exchange.unanswered.is_(True), ~corrected, ~taught)
        .order_by(Exchange.created_at, Exchange.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def start_training_run(
    session: Session,
    *,
    triggered_by: int | str | None,
    dataset_sha256: str | None = None,
    counts: dict[str, Any] | None = None,
) -> TrainingRun:
    """Record that a retrain started (status ``running``)."""
    row = TrainingRun(
        triggered_by=discord_id(triggered_by),
        dataset_sha256=dataset_sha256,
        counts=counts,
        status="running",
        started_at=utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def finish_training_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    metrics: dict[str, Any] | None = None,
    model_path: str | None = None,
    error: str | None = None,
    dataset_sha256: str | None = None,
    counts: dict[str, Any] | None = None,
) -> TrainingRun:
    """Record how a retrain ended; unset arguments keep what ``start_training_run`` stored."""
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
    row = session.get(TrainingRun, run_id)
    if row is None:
        raise LookupError(f"no training run {run_id}")
    row.status = status
    row.finished_at = utc_now()
    row.metrics = metrics if metrics is not None else row.metrics
    row.model_path = model_path if model_path is not None else row.model_path
    row.error = error
    row.dataset_sha256 = dataset_sha256 or row.dataset_sha256
    row.counts = counts if counts is not None else row.counts
    session.flush()
    return row


def latest_training_run(session: Session) -> TrainingRun | None:
    """The most recently started training run, if any."""
    stmt = select(TrainingRun).order_by(TrainingRun.started_at.desc(), TrainingRun.id.desc()).limit(1)
    return session.scalars(stmt).first()
