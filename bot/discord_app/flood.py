"""Escalations without floods: at most a few posts per user in a window, and repeats merged into one post.

In an open channel a message the bot is not sure about gets no reply and starts no cooldown, yet it is
escalated: without a limit, one user's 30 messages a second were 30 posts in the admins' channel. Each
question is still logged and stays in ``/unanswered``; only the posts are limited.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ESCALATIONS_PER_USER = 3  # posts per user per window
USER_WINDOW_S = 600.0
REPEAT_WINDOW_S = 3600.0  # the same question again within this merges into the first post
MAX_TRACKED = 10_000  # users and questions remembered; the oldest are forgotten past it


@dataclass
class Posted:
    """One escalation post, and how often its question was asked since."""

    exchange_id: int
    text: str
    message: Any
    at: float
    askers: set[int] = field(default_factory=set)
    count: int = 1


Verdict = Literal["post", "repeat", "limited"]


class EscalationLimiter:
    """Decides whether a "not sure" question is posted, merged into an earlier post, or held back."""

    def __init__(
        self,
        per_user: int = ESCALATIONS_PER_USER,
        window_s: float = USER_WINDOW_S,
        repeat_window_s: float = REPEAT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_user, self.window_s, self.repeat_window_s = per_user, window_s, repeat_window_s
        self._clock = clock
        self._posts_by_user: dict[int, deque[float]] = {}
        self._by_question: dict[str, Posted] = {}

    def admit(self, user_id: int, key: str) -> tuple[Verdict, Posted | None]:
        """``("repeat", post)`` when ``key`` was posted within the repeat window (the asker is counted on
        it), ``("limited", None)`` when the user had their share of posts, else ``("post", None)``."""
        now = self._clock()
        earlier = self._by_question.get(key)
        if earlier is not None and now - earlier.at < self.repeat_window_s:
            earlier.count += 1
            earlier.askers.add(user_id)
            return "repeat", earlier
        posts = self._posts_by_user.setdefault(user_id, deque())
        while posts and now - posts[0] >= self.window_s:
            posts.popleft()
        if len(posts) >= self.per_user:
            return "limited", None
        return "post", None

    def posted(self, user_id: int, key: str, exchange_id: int, text: str, message: Any) -> Posted:
        """Record a post made after ``admit`` said "post"."""
        now = self._clock()
        self._posts_by_user.setdefault(user_id, deque()).append(now)
        post = self._by_question[key] = Posted(exchange_id, text, message, now, {user_id})
        self._forget_old(now)
        return post

    def _forget_old(self, now: float) -> None:
        if len(self._by_question) > MAX_TRACKED:
            self._by_question = {
                k: p for k, p in self._by_question.items() if now - p.at < self.repeat_window_s
            }
        if len(self._posts_by_user) > MAX_TRACKED:
            self._posts_by_user = {
                u: d for u, d in self._posts_by_user.items() if d and now - d[-1] < self.window_s
            }


def repeat_line(post: Posted) -> str:
    """The line an escalation post gains when its question is asked again."""
    people = len(post.askers)
    who = "1 person" if people == 1 else f"{people} people"
    return f"-# asked {post.count}× in all, by {who}"
