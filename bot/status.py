"""``ThrottledStatus``: one status message, edited at most every ``interval`` seconds.

Discord rate-limits message edits (about 5 per 5 s per channel), and a trainer can log many times a
second. Updates that arrive too soon are coalesced: only the newest text is shown, when the interval is up.
A status message is public: every text goes through ``training.redact`` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from training.redact import redact

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 2.0


class ThrottledStatus:
    def __init__(
        self,
        edit: Callable[[str], Awaitable[object]],
        interval: float = EDIT_INTERVAL_S,
        clock=time.monotonic,
    ) -> None:
        self._edit = edit
        self.interval = interval
        self._clock = clock
        self._last_edit = -float("inf")
        self._pending: str | None = None
        self._shown: str | None = None
        self._timer: asyncio.Task[None] | None = None
        self.edits = 0

    async def update(self, text: str) -> None:
        """Show ``text`` now if the interval has passed, else as soon as it has (newest text wins)."""
        self._pending = redact(text)
        wait = self._last_edit + self.interval - self._clock()
        if wait <= 0:
            await self._flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later(wait))

    async def final(self, text: str) -> None:
        """Show the last text right away (the result matters more than the rate limit)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        self._pending = redact(text)
        await self._flush()

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        await self._flush()

    async def _flush(self) -> None:
        text, self._pending = self._pending, None
        if text is None or text == self._shown:
            return
        self._last_edit = self._clock()
        try:
            await self._edit(text)
            self._shown = text
            self.edits += 1
        except Exception:
            log.warning("could not edit the status message", exc_info=True)
