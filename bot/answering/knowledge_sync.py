"""Every process serves every change: what one process serving the store (a shard of ``qabot run``, the
terminal, ``qabot chat``) is taught, corrected, voted or retrained, the others serve within
``SYNC_INTERVAL_S``, through the store they share.

Writers log each change in the store, in its own transaction (``storage.changes``). ``KnowledgeSync`` polls
that log; when something changed it reloads that part of what the bot knows beyond the model, the same way
start-up loads all of it (``load_knowledge``): taught pairs and corrections (``Answerer.set_live``), learned
wordings (``set_wordings``), net votes (``set_votes``), admins' synonyms (``set_synonyms``). A "model"
change (another process's gated retrain or ``/reload``) is loaded off the event loop and swapped in, once,
unless this process serves that folder already; a model that fails to load is logged and the old one keeps
serving. The process's own changes come back too and are applied again: a reload is idempotent, and the
store is the one truth all converge to. A failed poll is logged and retried at the next one; it never ends
the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answering import torch_thread
from storage.changes import ChangeFeed, Noted

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from bot.async_store import SessionFactory
    from bot.retrain import RetrainJob

log = logging.getLogger(__name__)

# Which part of the live knowledge each kind of change touches ("model" is handled on its own).
PARTS = {
    "taught": "pairs",
    "correction": "pairs",
    "wording": "wordings",
    "vote": "votes",
    "synonym": "synonyms",
}
ALL_PARTS = frozenset(PARTS.values())
ROUNDS = 3  # reads of the log per poll at most, while changes keep coming in (``KnowledgeSync.poll``)


def read_knowledge(session_factory: SessionFactory, parts: Iterable[str] = ALL_PARTS) -> dict[str, Any]:
    """What the store knows beyond the model, in one read: ``pairs`` (taught pairs and latest corrections),
    ``wordings`` (learned wordings), ``votes`` (net votes per known question), ``synonyms`` (admins' word
    alterations); only the ``parts`` asked."""
    from storage import repo, synonyms, votes
    from storage.changes import read_session

    readers = {
        "pairs": repo.live_pairs,
        "wordings": repo.learned_wordings,
        "votes": votes.vote_totals,
        "synonyms": synonyms.synonyms,
    }
    with read_session(session_factory) as session:
        return {part: readers[part](session) for part in parts}


def marked_feed(session_factory: SessionFactory) -> ChangeFeed | None:
    """A ``ChangeFeed`` marked now (call it before loading the model: a model another process swaps in
    meanwhile is then followed), or None when the store cannot be read (the sync marks it at start)."""
    feed = ChangeFeed(session_factory)
    try:
        feed.mark()
    except Exception:
        log.warning("could not read the store's change log", exc_info=True)
        return None
    return feed


async def load_knowledge(
    answerer: Answerer,
    session_factory: SessionFactory,
    parts: Iterable[str] = ALL_PARTS,
    *,
    local_wordings: Iterable[Mapping[str, str]] = (),
) -> None:
    """Give the answerer what the store knows beyond the model (the ``parts`` of it that changed): taught
    pairs and corrections (answered at once), the wordings askers resolved with "did you mean" (plus
    ``local_wordings``, learned by this process alone), and the votes on each known question (nudging its
    ranking). Raises what the store raised."""
    known = await asyncio.to_thread(read_knowledge, session_factory, frozenset(parts))
    if "pairs" in known:
        await answerer.set_live(known["pairs"])
    if "wordings" in known:
        await answerer.set_wordings([*known["wordings"], *local_wordings])
    if "votes" in known:
        await answerer.set_votes(known["votes"])
    if "synonyms" in known:
        await answerer.set_synonyms(known["synonyms"])


class KnowledgeSync:
    """Loads what the store knows at start, then follows its change log every ``interval_s`` (0: never).

    ``async with KnowledgeSync(...)``: ``start()`` then ``close()``. ``feed``: a ``ChangeFeed`` marked before
    the model was loaded (so a model swapped in elsewhere meanwhile is not missed); without one, the log is
    marked at ``start()``. ``retrain_job``: model changes go through ``RetrainJob.follow`` (so its next run
    starts from the model served); without one (``qabot chat``) they are loaded at ``precision`` here, and
    ``model_dir`` is the folder served at start.
    """

    def __init__(
        self,
        answerer: Answerer,
        session_factory: SessionFactory,
        *,
        interval_s: float = 2.0,
        feed: ChangeFeed | None = None,
        retrain_job: RetrainJob | None = None,
        model_dir: Path | None = None,
        precision: str = "auto",
    ) -> None:
        self.answerer = answerer
        self.session_factory = session_factory
        self.interval_s = interval_s
        self.feed = feed if feed is not None else ChangeFeed(session_factory)
        self._marked = feed is not None
        self.retrain_job = retrain_job
        self.precision = precision
        self._model_dir = model_dir.resolve() if model_dir is not None else None
        self.local_wordings: list[dict[str, str]] = []  # learned here only (a pick in ``qabot chat``)
        self._pending: set[str] = set()  # parts changed but not reloaded yet (a failed reload retries)
        self._model: Noted | None = None  # the newest model change not followed yet
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load everything the store knows, then poll in the background (failures are logged: the model
        still answers what it was trained on)."""
        try:
            if not self._marked:
                await asyncio.to_thread(self.feed.mark)
                self._marked = True
            await load_knowledge(self.answerer, self.session_factory, local_wordings=self.local_wordings)
        except Exception:
            log.exception("could not load taught pairs, learned wordings and votes from the store")
            self._pending |= ALL_PARTS  # the first poll tries again
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="qabot-knowledge-sync")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> KnowledgeSync:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def poll(self) -> list[Noted]:
        """Apply the changes committed since the last poll; return them. What commits while they are being
        applied is read and applied at once too: a reload reads the store, and this process's own teach
        that commits just after that read (and is taught to the answerer) must not stay hidden by it until
        the next poll."""
        changes: list[Noted] = []
        for _ in range(ROUNDS):
            new = await self._read()
            changes += new
            if not (new or self._pending or self._model):
                break
            await self._apply(new)
        return changes

    async def _read(self) -> list[Noted]:
        if self._marked:
            return await asyncio.to_thread(self.feed.read)
        await asyncio.to_thread(self.feed.mark)  # the store was unreachable at start: everything is new
        self._marked = True
        self._pending |= ALL_PARTS
        return []

    async def _apply(self, changes: list[Noted]) -> None:
        self._pending |= {PARTS[c.kind] for c in changes if c.kind in PARTS}
        models = [c for c in changes if c.kind == "model" and c.model_path]
        if models:
            self._model = models[-1]  # only the newest matters
        if self._pending:
            parts = frozenset(self._pending)
            await load_knowledge(
                self.answerer, self.session_factory, parts, local_wordings=self.local_wordings
            )
            self._pending -= parts
        if self._model is not None:
            change, self._model = self._model, None
            await self._follow(change)

    async def _run(self) -> None:
        failing = False  # a store that is down is logged once (with its traceback), not every poll
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except Exception:
                if not failing:
                    log.exception("could not follow the store's changes; trying every %g s", self.interval_s)
                failing = True
                continue
            if failing:
                log.warning("following the store's changes again")
                failing = False

    def serving_dir(self) -> Path | None:
        """The model folder this process serves."""
        return self.retrain_job.serving_dir if self.retrain_job is not None else self._model_dir

    async def _follow(self, change: Noted) -> None:
        """Serve the model another process swapped in, unless this one serves it already; a model that
        fails to load is logged (never retried) and the old one keeps serving."""
        assert change.model_path is not None
        target = Path(change.model_path).resolve()
        if target == self.serving_dir():
            return  # this process's own swap, or it loaded that folder already
        log.info("another process serves model %s now: loading it", change.model_version or target)
        try:
            if self.retrain_job is not None:
                version = await self.retrain_job.follow(target)
            else:
                from training.runtime.generate import Generator

                generator = await torch_thread.run(Generator.load, target, precision=self.precision)
                self.answerer.swap(generator)
                self._model_dir, version = target, generator.model_version
        except Exception as e:
            log.error(
                "could not load model %s, which another process serves (%s: %s); %s keeps answering here",
                target,
                type(e).__name__,
                e,
                self.answerer.model_version,
            )
            return
        log.info("now serving model %s, as the process that swapped it in does", version)
