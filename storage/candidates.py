"""Candidate pairs from the community (``storage.models.Candidate``): proposed, then accepted or rejected.

``propose`` stores one (a trusted member's answer can be accepted at once: ``trusted=True``); the same
question and answer messages, or the same question and answer text while one waits, are proposed once.
``accept`` (optionally with an admin's edited question or answer) makes a ``TaughtPair`` with source
"member", which every process serves at once (``storage.changes``: "taught") and the next retrain learns;
``reject`` closes it. ``pending`` is the review queue's part, oldest first. Like ``storage.repo``, the
caller owns the transaction; Discord ids are taken as ``int`` or ``str``. Members' words are stored with
their secrets masked (``storage.masking.mask_secrets``), as an exchange's are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.masking import mask_secrets
from storage.models import Candidate, Correction, Exchange, TaughtPair, utc_now
from storage.repo import _text, add_taught_pair, discord_id, record_choice
from storage.text import question_key

__all__ = ["SOURCES", "STATUSES", "accept", "candidate", "open_question", "pending", "propose", "reject"]

# reply: a trusted member replied to the question; reaction: ✅ by the asker or a trusted member;
# command: the "Mark as answer" message command; forum: a forum post marked solved; harvest: found in a
# channel's history.
SOURCES = ("reply", "reaction", "command", "forum", "harvest")
STATUSES = ("pending", "accepted", "rejected")
TAUGHT_SOURCE = "member"  # TaughtPair.source of an accepted candidate


def propose(
    session: Session,
    *,
    question: str,
    answer: str,
    source: str,
    guild_id: int | str | None = None,
    channel_id: int | str | None = None,
    question_message_id: int | str | None = None,
    answer_message_id: int | str | None = None,
    question_url: str | None = None,
    answer_url: str | None = None,
    asker_id: int | str | None = None,
    author_id: int | str | None = None,
    marked_by: int | str | None = None,
    exchange_id: int | None = None,
    trusted: bool = False,
    created_at: datetime | None = None,
) -> tuple[Candidate, bool]:
    """Store a candidate pair; ``(candidate, new)``. Not new: the same pair was proposed before (by its
    messages, or by its text while pending), and that one is returned unchanged. ``trusted``: accepted at
    once, decided by its author (``marked_by`` if none)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    question = mask_secrets(_text(question, "question"))
    answer = mask_secrets(_text(answer, "answer"))
    key = question_key(question)
    same = None
    if answer_message_id is not None:  # the same messages, whatever became of them
        same = session.scalars(
            select(Candidate).where(
                Candidate.answer_message_id == discord_id(answer_message_id),
                Candidate.question_message_id.is_(None)
                if question_message_id is None
                else Candidate.question_message_id == discord_id(question_message_id),
            )
        ).first()
    if same is None:  # the same text, still waiting
        same = session.scalars(
            select(Candidate).where(
                Candidate.question_key == key, Candidate.answer == answer, Candidate.status == "pending"
            )
        ).first()
    if same is not None:
        return same, False
    row = Candidate(
        created_at=created_at or utc_now(),
        status="pending",
        source=source,
        question=question,
        question_key=key,
        answer=answer,
        guild_id=discord_id(guild_id),
        channel_id=discord_id(channel_id),
        question_message_id=discord_id(question_message_id),
        answer_message_id=discord_id(answer_message_id),
        question_url=question_url,
        answer_url=answer_url,
        asker_id=discord_id(asker_id),
        author_id=discord_id(author_id),
        marked_by=discord_id(marked_by),
        exchange_id=exchange_id,
    )
    session.add(row)
    session.flush()
    if trusted:
        accept(session, row.id, author_id if author_id is not None else marked_by)
    return row, True


def candidate(session: Session, candidate_id: int) -> Candidate | None:
    return session.get(Candidate, candidate_id)


def pending(session: Session, limit: int = 20) -> list[Candidate]:
    """Candidates waiting for an admin, oldest first."""
    stmt = (
        select(Candidate)
        .where(Candidate.status == "pending")
        .order_by(Candidate.created_at, Candidate.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def accept(
    session: Session,
    candidate_id: int,
    admin_id: int | str | None,
    *,
    question: str | None = None,
    answer: str | None = None,
) -> TaughtPair | None:
    """Accept a pending candidate, with the admin's edits if any: the taught pair it became (served at
    once), or None when there is no such pending candidate (already decided, or never proposed). A
    question the admin reworded also answers the asker's own wording, as the Teach form's does (an admin's
    choice on the candidate's exchange: every process learns it)."""
    row = session.get(Candidate, candidate_id, with_for_update=True)
    if row is None or row.status != "pending":
        return None
    if question is not None:
        reworded = question_key(question) != row.question_key
        row.question = _text(question, "question")
        row.question_key = question_key(row.question)
        if reworded and row.exchange_id is not None:
            record_choice(session, row.exchange_id, row.question, by_admin=True)
    if answer is not None:
        row.answer = _text(answer, "answer")
    pair = add_taught_pair(session, row.question, row.answer, admin_id, source=TAUGHT_SOURCE)
    row.status, row.decided_by, row.decided_at, row.taught_pair_id = (
        "accepted",
        discord_id(admin_id),
        utc_now(),
        pair.id,
    )
    session.flush()
    return pair


def reject(session: Session, candidate_id: int, admin_id: int | str | None) -> bool:
    """Reject a pending candidate; False when there is no such pending candidate."""
    row = session.get(Candidate, candidate_id, with_for_update=True)
    if row is None or row.status != "pending":
        return False
    row.status, row.decided_by, row.decided_at = "rejected", discord_id(admin_id), utc_now()
    session.flush()
    return True


def open_question(
    session: Session,
    *,
    message_id: int | str | None = None,
    thread_id: int | str | None = None,
    replied_author: int | str | None = None,
) -> dict[str, Any] | None:
    """The question a member's answer answers, as a plain dict of its exchange: the unanswered exchange of
    message ``message_id`` (the question, or the bot's reply to it; none when it is answered); when that
    message is no exchange's but its author's, ``replied_author``, asked that question (an aside), or none
    is given, the latest question asked in thread ``thread_id`` (its starter message, which has the thread's
    id, or one inside it) if the bot was not sure of it. None once a member's answer to it was accepted or
    an admin answered it (taught, corrected), or when there is none."""
    mid = discord_id(message_id)
    of_message = or_(Exchange.message_id == mid, Exchange.reply_message_id == mid)
    aside = None  # a reply to a message that is no exchange's: the thread's question, if its asker wrote it
    exchange = select(Exchange.id).where(of_message).limit(1)
    if mid is not None and thread_id is not None and session.scalars(exchange).first() is None:
        mid, aside = None, discord_id(replied_author) or ""  # unknown author: nobody's aside
    if mid is not None:  # the question, or the bot's "not sure" reply to it
        stmt = select(Exchange).where(of_message, Exchange.unanswered.is_(True))
    elif thread_id is not None:  # the thread's latest question, if the bot was not sure of it
        tid = discord_id(thread_id)
        stmt = select(Exchange).where(or_(Exchange.message_id == tid, Exchange.channel_id == tid))
    else:
        return None
    newest = stmt.order_by(Exchange.created_at.desc(), Exchange.id.desc()).limit(1)
    row = session.scalars(newest).first()
    if row is None or not row.unanswered or (aside is not None and row.user_id != aside):
        return None
    accepted = select(Candidate.id).where(Candidate.exchange_id == row.id, Candidate.status == "accepted")
    if session.scalars(accepted).first() is not None:
        return None  # a member's answer to it was accepted
    taught = select(TaughtPair.id).where(TaughtPair.question_key == row.question_key, TaughtPair.active)
    corrected = select(Correction.id).where(Correction.exchange_id == row.id)
    if row.chosen_by_admin or any(session.scalars(q).first() is not None for q in (taught, corrected)):
        return None  # an admin answered it (Teach, a correction): no member's answer replaces that
    return {
        "id": row.id,
        "question": row.question,
        "guild_id": row.guild_id,
        "channel_id": row.channel_id,
        "message_id": row.message_id,
        "user_id": row.user_id,
        "escalated": row.escalated_at is not None,
    }
