"""The async facade over the store: every database call the bot makes, each in a worker thread and its own
transaction.

Front ends (Discord cogs, the terminal, the retrain job) call these coroutines instead of touching
``storage`` directly, so that (a) the event loop never blocks on SQL and (b) logging an exchange can
never cost a user their answer: failures are logged and swallowed here, in one place. The queries
themselves live in ``storage.repo``; Discord ids go there as they come (``int``), and ``storage.repo``
converts them to the strings the store keeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")
SessionFactory = sessionmaker[Session]


class AnswerLike(Protocol):
    """The fields of ``bot.answering.answerer.Answer`` that an exchange row needs.

    ``zone`` ("answer" | "suggest" | "fallback"), ``matched_question`` and ``match_score`` say how the
    answer was found; ``log_exchange`` stores None for an answer object that lacks them. An answer's
    ``not_asked`` ("chat" or "abuse", optional) is stored as its zone, never as unanswered.
    """

    question: str
    text: str
    confidence: float
    unanswered: bool
    latency_s: float
    model_version: str
    zone: str
    matched_question: str | None
    match_score: float | None


@dataclass(frozen=True)
class VoteResult:
    """What ``apply_vote`` did: the exchange voted on, the known question it matched, the net-vote change."""

    exchange_id: int
    matched_question: str | None
    delta: int  # the change in the matched question's net votes (the user's vote on it, new − old)
    question: str  # what the asker typed


@dataclass(frozen=True)
class Corrected:
    """What ``record_correction`` stored: the exchange, and the question the correction answers from now on
    (``storage.repo.corrected_question``; for a follow-up, whose words were ``followup_words``, the known
    question it was answered with)."""

    exchange_id: int
    question: str
    followup_words: str | None = None


async def run_in_session(
    session_factory: SessionFactory, fn: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """Run ``fn(session, *args, **kwargs)`` in a thread inside ``storage.db.transaction``: a database
    error is a ``StoreError`` whose one line says why ("database … is locked by another program"), not
    SQLAlchemy's three with the SQL.

    ``fn`` should return plain values (ids, dicts), not ORM objects: those expire when the session closes.
    """
    from storage.db import transaction

    def work() -> T:
        with transaction(session_factory, getattr(fn, "__name__", "write").strip("_")) as session:
            return fn(session, *args, **kwargs)

    return await asyncio.to_thread(work)


async def log_exchange(
    session_factory: SessionFactory,
    answer: AnswerLike,
    *,
    source: str,
    guild_id: int | str | None = None,
    channel_id: int | str | None = None,
    message_id: int | str | None = None,
    user_id: int | str | None = None,
    reply_message_id: int | str | None = None,
    followup_words: str | None = None,
) -> int | None:
    """Store one question/answer; return the exchange id, or None when the database failed (logged).

    A follow-up is stored as it was read, with the previous question ("who won euro 2016? and 2004"): its
    words alone are no question to export, correct, teach or show admins. Its words are kept beside it
    (``followup_words``), which marks it: answered, it stands for the known question it matched; it
    teaches no wording. ``followup_words`` given here: ``answer.question`` is a follow-up's reading
    already (an admin's answer to a logged follow-up). A "not sure" that asked nothing to teach
    (``Answer.not_asked``: chat, abuse) is stored with that zone, not as unanswered; secrets in what was
    typed are masked before it is stored (``storage.repo.log_exchange``)."""
    from bot.answering.followups import read_as
    from storage import repo

    if getattr(answer, "followup_of", None):
        question, followup_words = read_as(answer), answer.question
    else:
        question = answer.question
    not_asked = getattr(answer, "not_asked", None)  # getattr: answer objects made before it existed

    def write(session: Session) -> int:
        row = repo.log_exchange(
            session,
            question=question,
            answer=answer.text,
            model_version=answer.model_version,
            confidence=answer.confidence,
            unanswered=answer.unanswered and not not_asked,
            latency_ms=answer.latency_s * 1000.0,
            source=source,
            guild_id=guild_id,
            channel_id=channel_id,
            message_id=message_id,
            user_id=user_id,
            reply_message_id=reply_message_id,
            # getattr: answer objects made before these fields existed (tests, old callers) still log.
            matched_question=getattr(answer, "matched_question", None),
            match_score=getattr(answer, "match_score", None),
            zone=not_asked or getattr(answer, "zone", None),
            followup_words=followup_words,
        )
        session.flush()
        return row.id

    try:
        return await run_in_session(session_factory, write)
    except Exception:
        # The user already has their answer; losing the row is bad, but crashing the reply is worse.
        log.exception("could not log exchange (source=%s, message=%s)", source, message_id)
        return None


async def apply_vote(
    session_factory: SessionFactory,
    reply_message_id: int | str,
    user_id: int | str,
    vote: int | None,
    *,
    only_if: int | None = None,
) -> VoteResult | None:
    """Set (``vote`` = +1/-1) or remove (``vote`` = None) a user's vote on the answer ``reply_message_id``.

    With ``only_if``, a removal happens only while the user's current vote equals it (so taking back 👎
    after switching to 👍 keeps the 👍). Returns the exchange, its matched question (None for a "did you
    mean" reply) and the change in that question's net votes (to nudge its ranking: one vote per user per
    known question, ``votes.question_vote``), or None when the message is not a logged answer.
    """
    from storage import repo, votes

    def write(session: Session) -> VoteResult | None:
        exchange = repo.exchange_by_reply(session, reply_message_id)
        if exchange is None:
            return None
        # A "did you mean" reply offers questions and answers none: a vote on it says nothing of the one
        # stored as its best match, so it nudges no ranking and takes back no wording.
        matched = None if exchange.zone == "suggest" else exchange.matched_question
        before = votes.question_vote(session, user_id, matched) if matched else 0
        votes.change_vote(session, exchange.id, user_id, vote, only_if=only_if)
        after = votes.question_vote(session, user_id, matched) if matched else 0
        return VoteResult(exchange.id, matched, after - before, exchange.question)

    return await run_in_session(session_factory, write)


async def record_vote(
    session_factory: SessionFactory,
    reply_message_id: int | str,
    user_id: int | str,
    vote: int | None,
    *,
    only_if: int | None = None,
) -> int | None:
    """``apply_vote``, returning only the exchange id (None when the message is not a logged answer)."""
    result = await apply_vote(session_factory, reply_message_id, user_id, vote, only_if=only_if)
    return None if result is None else result.exchange_id


async def vote_totals(session_factory: SessionFactory) -> dict[str, int]:
    """Net votes per matched known question (``storage.votes.vote_totals``), to rank questions at startup."""
    from storage import votes

    return await run_in_session(session_factory, votes.vote_totals)


async def record_correction(
    session_factory: SessionFactory, reply_message_id: int | str, answer: str, admin_id: int | str
) -> Corrected | None:
    """Store an admin's corrected answer for the bot answer ``reply_message_id``; None if no such answer.
    ``storage.repo.NothingToCorrect`` for a follow-up that was offered "did you mean" (nothing stored)."""
    from storage import repo

    def write(session: Session) -> Corrected | None:
        exchange = repo.exchange_by_reply(session, reply_message_id)
        if exchange is None:
            return None
        repo.add_correction(session, exchange.id, answer, admin_id)
        question = repo.corrected_question(exchange)
        assert question is not None  # add_correction refused the follow-ups that have none
        return Corrected(exchange.id, question, exchange.followup_words)

    return await run_in_session(session_factory, write)


async def teach(
    session_factory: SessionFactory, question: str, answer: str, admin_id: int | str | None
) -> int:
    """Add a taught question/answer pair; return its id."""
    from storage import repo

    def write(session: Session) -> int:
        pair = repo.add_taught_pair(session, question, answer, admin_id=admin_id)
        session.flush()
        return pair.id

    return await run_in_session(session_factory, write)


async def live_pairs(session_factory: SessionFactory) -> list[dict[str, Any]]:
    """Taught pairs and latest corrections to answer at once, oldest first (``storage.repo.live_pairs``)."""
    from storage import repo

    return await run_in_session(session_factory, repo.live_pairs)


async def record_choice(
    session_factory: SessionFactory, exchange_id: int, question: str, *, by_admin: bool = False
) -> bool:
    """The asker of "did you mean" exchange ``exchange_id`` chose ``question``, or (``by_admin``) an admin
    taught it as ``question`` (``repo.record_choice``); False also when the database failed (logged: the
    asker still gets the answer they chose)."""
    from storage import repo

    try:
        return await run_in_session(
            session_factory, repo.record_choice, exchange_id, question, by_admin=by_admin
        )
    except Exception:
        log.exception("could not record the choice on exchange %s", exchange_id)
        return False


async def forget_wording(session_factory: SessionFactory, wording: str, question: str) -> int:
    """Unlearn ``wording`` as a way to ask ``question`` (``repo.forget_wording``)."""
    from storage import repo

    return await run_in_session(session_factory, repo.forget_wording, wording, question)


async def learned_wordings(session_factory: SessionFactory) -> list[dict[str, Any]]:
    """Askers' wordings and the known questions they chose, oldest first (``repo.learned_wordings``)."""
    from storage import repo

    return await run_in_session(session_factory, repo.learned_wordings)


async def exchange(session_factory: SessionFactory, exchange_id: int) -> dict[str, Any] | None:
    """One exchange as a plain dict (ids as the store keeps them: strings), or None when there is none."""
    from storage import repo

    def read(session: Session) -> dict[str, Any] | None:
        row = repo.exchange_by_id(session, exchange_id)
        if row is None:
            return None
        return {
            "id": row.id,
            "question": row.question,
            "answer": row.answer,
            "guild_id": row.guild_id,
            "channel_id": row.channel_id,
            "message_id": row.message_id,
            "reply_message_id": row.reply_message_id,
            "user_id": row.user_id,
            "unanswered": row.unanswered,
            "zone": row.zone,
            "matched_question": row.matched_question,
            "match_score": row.match_score,
            "created_at": row.created_at,
            "escalated_at": row.escalated_at,
            "followup_words": row.followup_words,  # a follow-up: ``question`` is its reading in context
        }

    return await run_in_session(session_factory, read)


async def mark_escalated(session_factory: SessionFactory, exchange_id: int) -> bool:
    """Mark an exchange as posted to the admins; True only for the one call that did (post only then)."""
    from storage import repo

    return await run_in_session(session_factory, repo.mark_escalated, exchange_id)


async def mark_outsider(session_factory: SessionFactory, exchange_id: int) -> None:
    """Mark a stranger's DM (``storage.repo.mark_outsider``); a failure is logged, never raised: the asker
    has their answer, and the row stays listed as a member's would."""
    from storage import repo

    try:
        await run_in_session(session_factory, repo.mark_outsider, exchange_id)
    except Exception:
        log.exception("could not mark exchange %s as a stranger's DM", exchange_id)


async def unanswered(
    session_factory: SessionFactory, limit: int = 20, guilds: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """The unanswered queue, oldest first, as plain dicts (id, question, created_at); with ``guilds``, the
    home community's only (``Exchange.asked_in``)."""
    from storage import repo

    def read(session: Session) -> list[dict[str, Any]]:
        return [
            {"id": row.id, "question": row.question, "created_at": row.created_at}
            for row in repo.unanswered_queue(session, limit=limit, guilds=guilds)
        ]

    return await run_in_session(session_factory, read)


async def stats(
    session_factory: SessionFactory, days: int = 14, guilds: Collection[int] | None = None
) -> dict[str, Any]:
    """``storage.repo.get_stats`` in a thread (``guilds``: the home community's top questions only)."""
    from storage import repo

    return await run_in_session(session_factory, repo.get_stats, days=days, guilds=guilds)


async def synonyms(session_factory: SessionFactory) -> list[dict[str, Any]]:
    """The admins' synonyms, oldest change first (``storage.synonyms.synonyms``)."""
    from storage import synonyms as stored

    return await run_in_session(session_factory, stored.synonyms)


async def set_synonym(
    session_factory: SessionFactory, word: str, means: list[str], admin_id: int | str | None
) -> None:
    """Store an admin's synonym (``storage.synonyms.set_synonym``; empty ``means``: ``word`` has none)."""
    from storage import synonyms as stored

    def write(session: Session) -> None:
        stored.set_synonym(session, word, means, admin_id)

    await run_in_session(session_factory, write)


async def remove_synonym(session_factory: SessionFactory, word: str) -> bool:
    """Delete the admins' synonym for ``word`` (``storage.synonyms.remove_synonym``); False: none."""
    from storage import synonyms as stored

    return await run_in_session(session_factory, stored.remove_synonym, word)
