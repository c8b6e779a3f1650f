"""Per-user limits on answering work: a cooldown between questions, and a budget for remarks.

A question a user addresses to the bot (a mention, a DM, ``/ask``) starts a cooldown; a repeat within it
gets a short notice. A message nobody addressed to the bot is read for a question it can answer and starts
no cooldown (the user's next real question must not wait); in an open channel, those that cost a search
(not chat such as "lol") have a budget of their own instead.
"""

from __future__ import annotations

import time


class UserCooldown:
    """At most one question per user every ``per_s`` seconds (a repeat gets a notice, not silence)."""

    def __init__(self, per_s: float, clock=time.monotonic) -> None:
        self.per_s = per_s
        self._clock = clock
        self._last: dict[int, float] = {}

    def retry_after(self, user_id: int, start: bool = True) -> float:
        """0 when the user may ask now (and, with ``start``, starts a new window); else seconds left."""
        if self.per_s <= 0:
            return 0.0
        left = self._last.get(user_id, -float("inf")) + self.per_s - self._clock()
        if left > 0:
            return left
        if start:
            self.start(user_id)
        return 0.0

    def start(self, user_id: int) -> None:
        """A new window for ``user_id`` from now."""
        now = self._last[user_id] = self._clock()
        if len(self._last) > 10_000:  # forget long-idle users so the dict cannot grow forever
            self._last = {u: t for u, t in self._last.items() if now - t < self.per_s}


class RemarkBudget:
    """How many messages nobody addressed to the bot (open channels, threads, forum posts) it reads per
    user, chat aside: ``burst`` at once, then one more every ``per_s`` seconds (a token bucket; unlimited
    when ``per_s`` is 0). They start no cooldown (the user's next real question must not wait), but each
    costs a search: without a budget one member could keep the model busy for everyone with a flood."""

    def __init__(self, per_s: float, burst: int = 5, clock=time.monotonic) -> None:
        self.per_s, self.burst, self._clock = per_s, burst, clock
        self._left: dict[int, tuple[float, float]] = {}  # user -> (tokens, when counted)
        self._pruned = 0.0

    def take(self, user_id: int) -> bool:
        """Whether the user's remark may be read now (spending one)."""
        if self.per_s <= 0:
            return True
        now = self._clock()
        tokens, then = self._left.get(user_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) / self.per_s)
        if tokens < 1:
            return False
        self._left[user_id] = (tokens - 1, now)
        full = self.burst * self.per_s  # a bucket untouched this long is full again: forget it
        # Pruned at most once a refill: pruning at every take past 10,000 members would be quadratic.
        if len(self._left) > 10_000 and now - self._pruned >= full:
            self._pruned = now
            self._left = {u: (t, w) for u, (t, w) in self._left.items() if now - w < full}
        return True


class Verdicts:
    """Whether each user is a stranger (in none of the home guilds), as Discord said in the last ``ttl_s``
    seconds: a flood of DMs costs one membership lookup per user a minute, not one per message. Short, as a
    stranger who joins is one until it passes (their DMs are left out of the admins' views)."""

    def __init__(self, ttl_s: float = 60.0, clock=time.monotonic) -> None:
        self.ttl_s, self._clock = ttl_s, clock
        self._said: dict[int, tuple[bool, float]] = {}  # user -> (stranger, when said)
        self._pruned = 0.0

    def get(self, user_id: int) -> bool | None:
        """The verdict still fresh for ``user_id``, or None."""
        said = self._said.get(user_id)
        return said[0] if said is not None and self._clock() - said[1] < self.ttl_s else None

    def put(self, user_id: int, stranger: bool) -> None:
        now = self._clock()
        # Stale verdicts are forgotten, at most once a ``ttl_s``: pruning at every put past 10,000 users
        # would be quadratic.
        if len(self._said) > 10_000 and now - self._pruned >= self.ttl_s:
            self._pruned = now
            self._said = {u: v for u, v in self._said.items() if now - v[1] < self.ttl_s}
        self._said[user_id] = (stranger, now)


MAX_REMARK_CHARS = 1_000  # longer messages nobody addressed to the bot are not read (questions are short)
