"""A small, fixed store (timestamps and all) shared by the export, filter and golden-file tests, and
``log_one`` for tests that need one exchange."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from storage import repo, votes
from storage.models import Exchange, TaughtPair

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FALLBACK = "I'm not sure about that yet."


def log_one(session: Session, question: str = "What is offside?", **kw) -> Exchange:
    """One exchange with plain defaults; ``kw`` overrides any ``repo.log_exchange`` argument."""
    args = dict(
        question=question,
        answer="An answer.",
        model_version="v1",
        confidence=0.8,
        unanswered=False,
        latency_ms=10.0,
        source="discord",
    )
    args.update(kw)
    return repo.log_exchange(session, **args)


def _ask(session: Session, question: str, answer: str, at: timedelta, unanswered: bool = False, **ids) -> int:
    row = repo.log_exchange(
        session,
        question=question,
        answer=answer,
        model_version="v1",
        confidence=0.1 if unanswered else 0.9,
        unanswered=unanswered,
        latency_ms=12.5,
        source="discord",
        guild_id=111111111111111111,
        channel_id=222222222222222222,
        user_id=333333333333333333,
        created_at=T0 + at,
        **ids,
    )
    return row.id


def seed(factory: sessionmaker[Session]) -> None:
    h = timedelta(hours=1)
    with factory.begin() as s:
        offside = _ask(s, "What is offside?", "Being past the last defender.", 0 * h)
        votes.set_vote(s, offside, "u1", 1)
        votes.set_vote(s, offside, "u2", 1)
        # Same question, normalized: fewer net votes, so the first answer wins.
        offside2 = _ask(s, "what is  OFFSIDE", "No idea really.", 1 * h)
        votes.set_vote(s, offside2, "u3", -1)
        # A wrong answer an admin corrected: the correction wins whatever the votes.
        cup = _ask(s, "Who won the 2018 World Cup?", "Brazil", 3 * h)
        votes.set_vote(s, cup, "u1", -1)
        repo.add_correction(
            s, cup, "France won it; ask <@123456789012345678> for details.", "a1", created_at=T0 + 3.5 * h
        )
        # Unanswered, then taught: the taught pair answers it.
        _ask(s, "How long is a match?", FALLBACK, 4 * h, unanswered=True)
        tickets = _ask(
            s, "Contact for tickets?", "Mail tickets@example.com or call +1 (555) 123-4567.", 5 * h
        )
        votes.set_vote(s, tickets, "u2", 1)
        repo.add_taught_pair(
            s, "How long is a match", "90 minutes plus stoppage time.", "a1", created_at=T0 + 6 * h
        )
        # Unrated duplicates: the latest wins.
        _ask(s, "Who is the best player?", "Messi", 48 * h)
        _ask(s, "Who is the best player?", "Ronaldo", 49 * h)
        # Two corrections: the latest wins.
        hat = _ask(s, "What is a hat-trick?", "Three fouls.", 50 * h)
        repo.add_correction(s, hat, "Three goals.", "a1", created_at=T0 + 51 * h)
        repo.add_correction(s, hat, "Three goals by one player in one game.", "a2", created_at=T0 + 52 * h)
        # An unanswered question nobody fixed.
        _ask(s, "What is VAR?", FALLBACK, 53 * h, unanswered=True)
        # A retired taught pair is never exported.
        old = repo.add_taught_pair(s, "Is the ball round?", "Yes.", "a1", created_at=T0 + 54 * h)
        s.get(TaughtPair, old.id).active = False
