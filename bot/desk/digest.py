"""The weekly digest for the admins' escalation channel (``DIGEST_WEEKLY``): the week's new gaps, how long
the review queue is, how the week's questions were answered, and the most 👎'd answers. ``build_digest``
gathers it (through the same functions as ``/gaps`` and ``/review``); ``digest_text`` words it; the desk
cog posts it on ``DIGEST_DAY`` at ``DIGEST_HOUR`` (UTC), once a week however many processes serve the store:
each claims the week first (``claim_week``), and only the one whose claim lands posts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.desk import service
from bot.desk.gaps import GapReport
from bot.desk.report import ShowText, plain, shares_line

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from bot.async_store import SessionFactory

WEEK = timedelta(days=7)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # DIGEST_DAY's values, Monday first
GAPS_SHOWN = 5
DOWNVOTED_SHOWN = 3


@dataclass
class Digest:
    since: datetime
    until: datetime
    gaps: GapReport
    shares: list[dict[str, Any]]
    queue: dict[str, int]  # review items waiting, per kind
    downvoted: list[dict[str, Any]]


def _read_downvoted(
    session_factory: SessionFactory, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    from storage.changes import read_session
    from storage.desk import downvoted_answers

    with read_session(session_factory) as session:
        return downvoted_answers(session, since=since, until=until, limit=DOWNVOTED_SHOWN)


async def build_digest(
    answerer: Answerer,
    session_factory: SessionFactory,
    now: datetime | None = None,
    guilds: Collection[int] | None = None,
) -> Digest:
    """The week up to ``now``: its gaps (as ``/gaps`` finds them: ``guilds``, the home community's),
    answer shares, queue, 👎 answers."""
    from bot.desk import review

    until = now or datetime.now(UTC)
    since = until - WEEK
    gaps = await service.serving_gaps(
        answerer, session_factory, since=since, until=until, shown=GAPS_SHOWN, guilds=guilds
    )
    shares = await asyncio.to_thread(service.read_shares, session_factory, since, until)
    queue = await review.waiting(session_factory)
    downvoted = await asyncio.to_thread(_read_downvoted, session_factory, since, until)
    return Digest(since, until, gaps, shares, queue, downvoted)


def digest_text(digest: Digest, show: ShowText = plain) -> str:
    """The digest as one message (Discord's 2,000 characters: every part is bounded)."""
    lines = [
        f"📬 **Weekly digest** {digest.since:%Y-%m-%d} – {digest.until:%Y-%m-%d}",
        shares_line(digest.shares),
    ]
    gaps = digest.gaps.gaps
    if gaps:
        lines.append(f"**New gaps** ({len(gaps)} shown of {digest.gaps.clusters}; answer them with `/gaps`):")
        for gap in gaps[:GAPS_SHOWN]:
            near = f" · nearest known {gap.nearest_score:.2f}" if gap.nearest_score is not None else ""
            lines.append(f"• {gap.askers}× “{show(gap.examples[0], 100)}”{near}")
    else:
        lines.append("**New gaps**: none this week. 🎉")
    total = sum(digest.queue.values())
    lines.append(
        f"**Review queue**: {total} item(s) — {digest.queue['phrasing']} phrasing(s), "
        f"{digest.queue['downvote']} 👎'd answer(s), {digest.queue['candidate']} member answer(s)"
        + (" — `/review`" if total else "")
    )
    if digest.downvoted:
        lines.append("**Most 👎'd answers**:")
        for row in digest.downvoted:
            lines.append(
                f"• {row['downvotes']}👎 “{show(row['question'], 80)}” → “{show(row['answer'], 80)}”"
            )
    return "\n".join(lines)[:2000]


async def claim_week(session_factory: SessionFactory, now: datetime) -> str | None:
    """Claim the digest of ``now``'s ISO week for this process (``storage.digests``): the week's name, or
    None when another process serving the store claimed it first (it posts; this one must not)."""
    from bot.async_store import run_in_session
    from storage.digests import claim_digest, week_of

    week = week_of(now)
    return week if await run_in_session(session_factory, claim_digest, week) else None


async def release_week(session_factory: SessionFactory, week: str) -> None:
    """Give back a week claimed by ``claim_week`` whose digest could not be posted."""
    from bot.async_store import run_in_session
    from storage.digests import release_digest

    await run_in_session(session_factory, release_digest, week)


def due(now: datetime, day: str, hour: int) -> bool:
    """Whether ``now`` (UTC) falls in the digest's hour: weekday ``day`` at ``hour``."""
    now = now.astimezone(UTC)
    return DAYS[now.weekday()] == day and now.hour == hour
