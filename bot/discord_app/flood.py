"""Escalations without floods: at most a few posts per user in a window, and repeats merged into one post.

In an open channel a message the bot is not sure about gets no reply and starts no cooldown, yet it is
escalated: without a limit, one user's 30 messages a second were 30 posts in the admins' channel. So posts
are limited per user and for everyone together, and a repeat is counted on the first post (edited at most
once a minute). Each question is still logged and stays in ``/unanswered``; only the posts are limited.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ESCALATIONS_PER_USER = 3  # posts per user per window
ESCALATIONS_PER_WINDOW = 20  # posts from everyone together per window (many accounts are one flood too)
USER_WINDOW_S = 600.0
REPEAT_WINDOW_S = 3600.0  # the same question again within this merges into the first post
REPEAT_EDIT_S = 60.0  # a merged post's count is edited at most this often (each edit is an API call)
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
    edited_at: float = float("-inf")


# "post": a new post; "repeat": counted on an earlier post, whose count is due for an edit; "counted": counted
# on an earlier post, edited recently; "limited": held back (it waits in /unanswered).
Verdict = Literal["post", "repeat", "counted", "limited"]


class EscalationLimiter:
    """Decides whether a "not sure" question is posted, merged into an earlier post, or held back."""

    def __init__(
        self,
        per_user: int = ESCALATIONS_PER_USER,
        window_s: float = USER_WINDOW_S,
        repeat_window_s: float = REPEAT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        per_window: int = ESCALATIONS_PER_WINDOW,
        repeat_edit_s: float = REPEAT_EDIT_S,
    ) -> None:
        self.per_user, self.window_s, self.repeat_window_s = per_user, window_s, repeat_window_s
        self.per_window, self.repeat_edit_s = per_window, repeat_edit_s
        self._clock = clock
        self._posts_by_user: dict[int, deque[float]] = {}
        self._posts: deque[float] = deque()
        self._by_question: dict[str, Posted] = {}

    def admit(self, user_id: int, key: str) -> tuple[Verdict, Posted | None]:
        """For a question with comparison key ``key``: ``"repeat"``/``"counted"`` with the earlier post when
        it was posted within the repeat window (the asker is counted on it), ``("limited", None)`` when the
        user, or everyone together, had their share of posts, else ``("post", None)``."""
        now = self._clock()
        earlier = self._by_question.get(key)
        if earlier is not None and now - earlier.at < self.repeat_window_s:
            earlier.count += 1
            earlier.askers.add(user_id)
            if now - earlier.edited_at < self.repeat_edit_s:
                return "counted", earlier
            earlier.edited_at = now
            return "repeat", earlier
        for posts in (self._posts, self._posts_by_user.get(user_id, ())):
            while posts and now - posts[0] >= self.window_s:
                posts.popleft()
        if len(self._posts) >= self.per_window or len(self._posts_by_user.get(user_id, ())) >= self.per_user:
            return "limited", None
        return "post", None

    def posted(self, user_id: int, key: str, exchange_id: int, text: str, message: Any) -> Posted:
        """Record a post made after ``admit`` said "post"."""
        now = self._clock()
        self._posts.append(now)
        self._posts_by_user.setdefault(user_id, deque()).append(now)
        post = self._by_question[key] = Posted(exchange_id, text, message, now, {user_id})
        self._forget_old(now)
        return post

    def post_of(self, exchange_id: int) -> Posted | None:
        """The post of exchange ``exchange_id``, while it is remembered."""
        return next((p for p in self._by_question.values() if p.exchange_id == exchange_id), None)

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
