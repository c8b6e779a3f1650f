"""Repository functions: every read and write the bot makes, each taking a ``Session`` (the training-run
rows are in ``storage.runs``, the votes in ``storage.votes``).

The caller owns the transaction (``with session_factory.begin() as session:``); nothing here commits.
Ids of Discord objects are stored as strings (snowflakes overflow some databases' signed 64-bit
integers); every function takes them as ``int`` or ``str`` and converts them with ``discord_id``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from storage.changes import note
from storage.masking import mask_secrets
from storage.models import (
    NOT_ASKED,
    Correction,
    Exchange,
    TaughtPair,
    utc_now,
)
from storage.stats import get_stats
from storage.text import question_key

__all__ = [
    "NOT_ASKED",
    "NothingToCorrect",
    "add_correction",
    "add_taught_pair",
    "corrected_question",
    "discord_id",
    "exchange_by_id",
    "exchange_by_reply",
    "get_stats",
    "live_pairs",
    "log_exchange",
    "mark_escalated",
    "mark_outsider",
    "unanswered_queue",
]

SOURCES = ("discord", "terminal")
# The answer path's decision: answered, "did you mean" suggestions, or the fallback; or a message it could
# not answer that asked nothing to teach (``NOT_ASKED``: chat, abuse), never unanswered.
ZONES = ("answer", "suggest", "fallback", *NOT_ASKED)


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
    matched_question: str | None = None,
    match_score: float | None = None,
    zone: str | None = None,
    followup_words: str | None = None,
) -> Exchange:
    """Add one question and the bot's answer (flushed: the returned row has its id).

    ``matched_question``/``match_score``/``zone`` say how the answer was found: the known question that
    retrieval matched, its score, and the zone (one of ``ZONES``; a ``NOT_ASKED`` one is never
    ``unanswered``); all optional. ``followup_words``: a follow-up's words as typed, ``question`` being its
    reading with the question before it; answered (``zone`` "answer" with a ``matched_question``), it stands
    for that known question (``followup_key``). Secrets in what was typed are masked before it is stored
    (``storage.masking.mask_secrets``): a pasted token never reaches the database or its backups.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if zone is not None and zone not in ZONES:
        raise ValueError(f"zone must be one of {ZONES} or None, got {zone!r}")
    question = mask_secrets(_text(question, "question"))
    followup_words = mask_secrets((followup_words or "").strip()) or None
    # An answered follow-up is its known question's row (exports, corrections); "did you mean" has none.
    known = matched_question if followup_words and zone == "answer" else None
    row = Exchange(
        question=question,
        question_key=question_key(question),
        answer=answer,
        model_version=model_version,
        confidence=confidence,
        unanswered=bool(unanswered) and zone not in NOT_ASKED,
        latency_ms=latency_ms,
        source=source,
        guild_id=discord_id(guild_id),
        channel_id=discord_id(channel_id),
        message_id=discord_id(message_id),
        user_id=discord_id(user_id),
        reply_message_id=discord_id(reply_message_id),
        created_at=created_at or utc_now(),
        matched_question=matched_question or None,  # "" would be a key no vote total could use
        match_score=None if match_score is None else float(match_score),
        zone=zone,
        followup_words=followup_words,
        followup_key=question_key(known) if known else None,
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


def exchange_by_id(session: Session, exchange_id: int) -> Exchange | None:
    """The exchange with id ``exchange_id``, or None."""
    return session.get(Exchange, exchange_id)


def mark_escalated(session: Session, exchange_id: int, *, at: datetime | None = None) -> bool:
    """Mark an exchange as posted to the admins; True only for the call that set it (once per exchange).

    One ``UPDATE … WHERE escalated_at IS NULL``: of concurrent callers exactly one gets True. False also
    when there is no such exchange.
    """
    stmt = (
        update(Exchange)
        .where(Exchange.id == exchange_id, Exchange.escalated_at.is_(None))
        .values(escalated_at=at or utc_now())
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1


def mark_outsider(session: Session, exchange_id: int) -> None:
    """Mark an exchange as a DM from someone in none of the home guilds (``Exchange.asked_in`` leaves it
    out of what the admins review)."""
    session.execute(
        update(Exchange)
        .where(Exchange.id == exchange_id)
        .values(outsider=True)
        .execution_options(synchronize_session=False)
    )


def record_choice(session: Session, exchange_id: int, question: str, *, by_admin: bool = False) -> bool:
    """Record the known ``question`` an exchange turned out to mean: what the asker of a "did you mean"
    chose, or (``by_admin``) the wording an admin taught a "not sure" question as. True when recorded
    (False: no such exchange, it was answered, or it is a follow-up: neither its words alone nor its
    reading with the question before are a wording to learn). A later one replaces an earlier one."""
    stmt = (
        update(Exchange)
        .where(
            Exchange.id == exchange_id,
            Exchange.zone.in_(("suggest", "fallback")),
            Exchange.followup_words.is_(None),
        )
        .values(chosen_question=_text(question, "question"), chosen_by_admin=by_admin)
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount != 1:
        return False
    note(session, "wording")  # every process serving the store learns it (storage.changes)
    return True


def learned_wordings(session: Session) -> list[dict[str, Any]]:
    """Every wording resolved to a known question (``record_choice``), oldest first (so later ones win):
    dicts of ``wording`` (what was typed), ``question`` (the known question), ``created_at``, ``by_admin``
    (an admin taught it) and ``user_id`` (who asked)."""
    stmt = (
        select(
            Exchange.question,
            Exchange.chosen_question,
            Exchange.created_at,
            Exchange.chosen_by_admin,
            Exchange.user_id,
        )
        .where(Exchange.chosen_question.is_not(None))
        .order_by(Exchange.created_at, Exchange.id)
    )
    return [
        {"wording": w, "question": q, "created_at": at, "by_admin": admin, "user_id": user}
        for w, q, at, admin, user in session.execute(stmt)
    ]


def forget_wording(session: Session, wording: str, question: str) -> int:
    """Unlearn ``wording`` as a way to ask known ``question``: clear it from every exchange where a member's
    choice recorded it (``record_choice``); how many did. An admin's teaching stays. ``wording`` as typed:
    its secrets are masked as they were when it was stored."""
    stmt = (
        update(Exchange)
        .where(
            Exchange.question_key == question_key(mask_secrets(wording)),
            Exchange.chosen_question == question,
            Exchange.chosen_by_admin.is_(False),
        )
        .values(chosen_question=None)
        .execution_options(synchronize_session=False)
    )
    forgotten = session.execute(stmt).rowcount
    if forgotten:
        note(session, "wording")
    return forgotten


# ``corrected_question`` in SQL, for live pairs and exports: the question an exchange's row stands for, its
# ``question_key``, and whether it has one (a follow-up answered with "did you mean" has none).
STANDS_FOR = case((Exchange.followup_key.is_not(None), Exchange.matched_question), else_=Exchange.question)
STANDS_FOR_KEY = func.coalesce(Exchange.followup_key, Exchange.question_key)
HAS_QUESTION = or_(Exchange.followup_words.is_(None), Exchange.followup_key.is_not(None))


class NothingToCorrect(ValueError):
    """A follow-up answered with "did you mean": no known question for a correction to answer."""

    def __init__(self, exchange_id: int, words: str) -> None:
        super().__init__(
            f'exchange {exchange_id} is a follow-up ({words!r}) that was offered "did you mean": no known '
            "question to correct; teach it as a question of its own"
        )
        self.exchange_id, self.words = exchange_id, words


def corrected_question(row: Exchange) -> str | None:
    """The question a correction of exchange ``row`` answers from then on: what was asked; for an answered
    follow-up, the known question it matched (its reading with the question before it would take that
    question's askers); None for a follow-up answered with "did you mean". ``live_pairs`` and the exports
    read corrections by the same rule."""
    if row.followup_words is None:
        return row.question
    return row.matched_question if row.followup_key is not None else None


def add_correction(
    session: Session,
    exchange_id: int,
    answer: str,
    admin_id: int | str | None,
    *,
    created_at: datetime | None = None,
) -> Correction:
    """Store an admin's corrected answer; the latest correction replaces the bot's answer in exports.
    ``LookupError``: no such exchange; ``NothingToCorrect``: a follow-up no known question answered."""
    exchange = session.get(Exchange, exchange_id)
    if exchange is None:
        raise LookupError(f"no exchange {exchange_id}")
    if corrected_question(exchange) is None:
        raise NothingToCorrect(exchange_id, exchange.followup_words or "")
    row = Correction(
        exchange_id=exchange_id,
        answer=_text(answer, "answer"),
        admin_id=discord_id(admin_id),
        created_at=created_at or utc_now(),
    )
    session.add(row)
    session.flush()
    note(session, "correction")
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
    note(session, "taught")
    return row


def unanswered_queue(
    session: Session, limit: int = 20, guilds: Collection[int | str] | None = None
) -> list[Exchange]:
    """Unanswered exchanges, oldest first, that no correction or active taught pair has answered yet (nor
    one under another wording: ``record_choice``); with ``guilds``, only those ``Exchange.asked_in`` them."""
    corrected = exists().where(Correction.exchange_id == Exchange.id)
    taught = exists().where(TaughtPair.question_key == Exchange.question_key, TaughtPair.active.is_(True))
    stmt = (
        select(Exchange)
        .where(Exchange.unanswered.is_(True), ~corrected, ~taught, Exchange.chosen_question.is_(None))
        .where(Exchange.asked_in(guilds))
        .order_by(Exchange.created_at, Exchange.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def live_pairs(session: Session, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """What the bot must answer at once, without a retrain, oldest first (so later ones win).

    Every active taught pair (``origin`` "taught") and, for each exchange with corrections, its latest
    correction paired with the question it answers (``corrected_question``: an answered follow-up's known
    question; ``origin`` "correction"); each a dict of
    ``question``, ``answer``, ``origin``, ``created_at``. With ``since``, only those created after it.
    """
    taught = select(TaughtPair.question, TaughtPair.answer, TaughtPair.created_at, TaughtPair.id).where(
        TaughtPair.active.is_(True)
    )
    rank = (
        func.row_number()
        .over(
            partition_by=Correction.exchange_id,
            order_by=(Correction.created_at.desc(), Correction.id.desc()),
        )
        .label("rank")
    )
    ranked = select(
        Correction.exchange_id, Correction.answer, Correction.created_at, Correction.id, rank
    ).subquery("ranked")
    corrected = (
        select(STANDS_FOR, ranked.c.answer, ranked.c.created_at, ranked.c.id)
        .join(ranked, ranked.c.exchange_id == Exchange.id)
        .where(ranked.c.rank == 1, HAS_QUESTION)
    )
    if since is not None:
        taught = taught.where(TaughtPair.created_at > since)
        corrected = corrected.where(ranked.c.created_at > since)
    rows = [(at, 0, i, q, a, "taught") for q, a, at, i in session.execute(taught)]
    rows += [(at, 1, i, q, a, "correction") for q, a, at, i in session.execute(corrected)]
    rows.sort(key=lambda r: r[:3])
    return [{"question": q, "answer": a, "origin": o, "created_at": at} for at, _, _, q, a, o in rows]
