"""The answer service: many concurrent askers, one model, batched answering off the event loop.

Callers ``await answerer.answer(question)``. One worker task schedules them on the torch thread, one
decoding step at a time (continuous batching, ``training.runtime.batching``): between two steps, questions
that arrived go through retrieval and a zone (``bot.answering.answer_path``) and those the model must
answer join the running batch (up to ``max_batch_size`` rows). So a question never waits for other
people's longer answers, and one decoding step still reads the weights once for everyone (what makes a
small CPU serve many people). What the model said for a known question is kept (``AnswerCache``): a
question matched to it again does not join the batch, and one asked while it decodes follows that row.
``scheduler="static"`` is the older whole-batch way (for benchmarks).

``teach``, ``set_live``, ``learn_wording`` and ``nudge`` change what the bot knows (``Knowledge``) from the
next question on. ``swap`` serves a new model (and its index) to questions that start after it, keeping
what was taught; rows in flight finish on their model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

from bot.answering import scheduling, torch_thread
from bot.answering.answer_path import Answer, BatchSettings, EmptyQuestion, clean_question
from bot.answering.followups import ConversationMemory, Turn
from bot.answering.knowledge import Knowledge
from bot.answering.scheduling import AnswerCache, Batch, JoinPacer, Request
from bot.settings import (
    DEFAULT_ANSWER_CACHE,
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_FALLBACK,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_QUEUE,
    DEFAULT_REQUEST_TIMEOUT_S,
    Settings,
)
from training.prompt import DEFAULT_MAX_NEW_TOKENS
from training.retrieval.zones import ZoneThresholds
from training.runtime.generate import GenerationConfig, Generator

__all__ = [
    "Answer", "Answerer", "AnswererBusy", "ConversationMemory", "EmptyQuestion", "Turn", "clean_question",
]  # fmt: skip

log = logging.getLogger(__name__)

SCHEDULERS = ("continuous", "static")


class AnswererBusy(RuntimeError):
    """Too many questions are waiting: the caller should say "busy, try again in a moment"."""


def _fail_all(requests: list[Request], error: BaseException) -> None:
    for r in requests:
        for waiting in (r, *r.followers):
            if not waiting.future.done():
                waiting.future.set_exception(error)


class Answerer:
    """Batches concurrent questions onto one ``Generator``; ``async with Answerer(gen) as a: ...``."""

    def __init__(
        self,
        generator: Generator,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS,
        timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        fallback: str = DEFAULT_FALLBACK,
        threshold: float | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        config: GenerationConfig | None = None,
        zone_overrides: dict[str, float] | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        scheduler: str = "continuous",
        learn_wordings: bool = True,
        answer_cache: int = DEFAULT_ANSWER_CACHE,
    ) -> None:
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, not {scheduler!r}")
        self.scheduler = scheduler
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.max_queue = max_queue
        self._generator = generator
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self.timeout_s = timeout_s
        self.fallback = fallback
        self.threshold = threshold  # None: use the generator's calibrated threshold, if it has one
        # One answer per caller, so never several sequences per question here.
        self.config = replace(
            config or GenerationConfig(), max_new_tokens=max_new_tokens, num_return_sequences=1
        )
        self.zone_overrides = dict(zone_overrides or {})  # settings win over the calibrated zones
        self.learn_wordings = learn_wordings  # False: choices of "did you mean" teach nothing
        self._knowledge = Knowledge(generator.index)
        self._queue: asyncio.Queue[Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._pacer = JoinPacer()
        self.cache = AnswerCache(answer_cache)  # what the model said per prompt (0: off)
        self._last_arrival = float("-inf")  # when the latest question came (time.perf_counter())

    # -- lifecycle -----------------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, generator: Generator, settings: Settings) -> Answerer:
        """An Answerer tuned by the user's settings (batching, time limit, fallback, threshold, length)."""
        return cls(
            generator,
            max_batch_size=settings.max_batch_size,
            batch_wait_ms=settings.batch_wait_ms,
            timeout_s=settings.request_timeout_s,
            fallback=settings.fallback_answer,
            threshold=settings.confidence_threshold,
            max_new_tokens=settings.max_new_tokens,
            zone_overrides=settings.zone_overrides(),
            max_queue=settings.max_queue,
            learn_wordings=settings.learn_from_choices,
            answer_cache=settings.answer_cache,
        )

    @classmethod
    def load(cls, settings: Settings) -> Answerer:
        """Load ``settings.model_dir`` at ``settings.precision`` on the torch thread, tuned by ``settings``.

        What every front end (``qabot ask``/``chat``/``run``) serves. Raises ``CheckpointError`` when there
        is no usable model and ``ValueError`` for a precision this machine cannot run.
        """
        from transformers.utils import logging as hf_logging

        from training.data.offensive import load_classifier_soon

        hf_logging.disable_progress_bar()  # front ends show answers, not weight-loading bars
        load_classifier_soon()  # chatter.not_asked's, off the torch thread
        generator = torch_thread.call(Generator.load, settings.model_dir, precision=settings.precision)
        return cls.from_settings(generator, settings)

    async def start(self) -> None:
        if self._worker is not None:
            return
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="qabot-answerer")

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._queue is not None:
            while not self._queue.empty():
                _fail_all([self._queue.get_nowait()], RuntimeError("the answerer was closed"))

    async def __aenter__(self) -> Answerer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- public API ----------------------------------------------------------------------------------------

    @property
    def generator(self) -> Generator:
        return self._generator

    @property
    def model_version(self) -> str:
        return self._generator.model_version

    @property
    def knowledge(self) -> Knowledge:
        return self._knowledge

    def swap(self, new_generator: Generator) -> None:
        """Serve later batches with ``new_generator`` (and its index, keeping what was taught); a batch
        already answering finishes on the old one."""
        # Two reference assignments, each atomic; the worker snapshots both per batch. The live index is
        # rebuilt for the new encoder lazily, on the torch thread.
        self._knowledge = self._knowledge.with_base(new_generator.index)
        self._generator = new_generator
        log.info("answerer now serves model %s", new_generator.model_version)

    def effective_threshold(self, generator: Generator | None = None) -> float | None:
        if self.threshold is not None:
            return self.threshold
        return (generator or self._generator).confidence_threshold

    def effective_zones(self, generator: Generator | None = None) -> ZoneThresholds:
        return (generator or self._generator).zones.with_overrides(self.zone_overrides)

    async def teach(self, question: str, answer: str, origin: str = "taught") -> None:
        """Answer ``question`` with ``answer`` from the next batch on (until a retrain learns it)."""
        question, answer = clean_question(question), answer.strip()
        if not answer:
            raise ValueError("The answer is empty.")
        # Resolved on the torch thread, so a swap() just before cannot make this teach the old model's copy.
        await torch_thread.run(lambda: self._knowledge.add_live(question, answer, origin))

    async def set_live(self, pairs: Iterable[dict[str, str]]) -> None:
        """Replace every taught pair (at start-up: the store's taught pairs and corrections)."""
        pairs = list(pairs)
        await torch_thread.run(lambda: self._knowledge.set_live(pairs))

    async def learn_wording(self, wording: str, question: str, *, by_admin: bool = False) -> None:
        """``wording`` (what someone typed) turned out to mean known ``question`` (their "did you mean"
        choice, or what an admin taught it as: ``by_admin``): answer it, and wordings near it, as
        ``question`` from the next batch on. Nothing when learning is off."""
        if self.learn_wordings:
            wording = clean_question(wording)
            await torch_thread.run(lambda: self._knowledge.add_wording(wording, question, by_admin=by_admin))

    async def forget_wording(self, question: str, known: str) -> str | None:
        """A 👎 on an answer to ``question`` that used ``known``: forget the learned wording that brought
        it (``Knowledge.forget_wording``); that wording, or None."""
        return await torch_thread.run(lambda: self._knowledge.forget_wording(question, known))

    async def set_wordings(self, wordings: Iterable[dict[str, str]]) -> None:
        """Replace every learned wording (at start-up: the choices in the store); nothing when learning
        is off."""
        wordings = list(wordings) if self.learn_wordings else []
        await torch_thread.run(lambda: self._knowledge.set_wordings(wordings))

    async def set_synonyms(self, synonyms: Iterable[Mapping[str, object]]) -> None:
        """Replace the admins' synonyms (the store's: ``{"word", "means": [...]}``), applied to every
        question's words from the next batch on (``Knowledge.set_synonyms``)."""
        synonyms = [dict(s) for s in synonyms]
        await torch_thread.run(lambda: self._knowledge.set_synonyms(synonyms))

    async def nudge(self, question: str, votes: int) -> None:
        """Votes on answers that used known ``question``: +1 per 👍, -1 per 👎 (negative: take back)."""
        await torch_thread.run(lambda: self._knowledge.nudge(question, votes))

    async def set_votes(self, totals: Mapping[str, int]) -> None:
        """Replace every nudge with the net votes per known question (at start-up and when the store's
        votes change: ``bot.answering.knowledge_sync``)."""
        totals = dict(totals)
        await torch_thread.run(lambda: self._knowledge.set_votes(totals))

    async def answer(
        self, question: str, *, max_new_tokens: int | None = None, context: Turn | None = None
    ) -> Answer:
        """Answer one question; ``EmptyQuestion`` (a ``ValueError``) if it is empty, ``AnswererBusy``
        when ``max_queue`` questions are already waiting, ``TimeoutError`` after ``timeout_s``.
        ``max_new_tokens``: a lower token limit for this answer than the answerer's. ``context``: the
        conversation's previous turn (``ConversationMemory.previous``): a question that does not stand
        alone is read with it (``bot.answering.followups``; ``Answer.followup_of`` says when)."""
        text = clean_question(question)
        if self._worker is None:
            await self.start()
        assert self._queue is not None
        if self._queue.qsize() >= self.max_queue:  # a flood must not grow memory (or waits) without bound
            raise AnswererBusy(f"{self._queue.qsize()} questions are waiting already")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        now = time.perf_counter()
        after_s, self._last_arrival = now - self._last_arrival, now
        await self._queue.put(Request(text, future, now, max_new_tokens, after_s, context))
        # On timeout wait_for cancels the future, so the worker skips the request if it has not started.
        return await asyncio.wait_for(future, timeout=self.timeout_s)

    # -- worker --------------------------------------------------------------------------------------------

    async def _gather_batch(self) -> list[Request]:
        """Wait for a question, then, if it came in a burst, for more for up to ``batch_wait_ms`` (a burst
        prefills together)."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        # A question at a quiet moment (the one before came longer ago than the window) seldom has company
        # within the window, and with continuous batching one that comes later joins at the next step: it
        # starts at once (make run's model, on this project's VM: 12 ms instead of 18 ms unloaded). The
        # static scheduler always waits: there a question that misses the batch waits for all of it.
        burst = self.scheduler == "static" or batch[0].after_s < self.batch_wait_s
        deadline = asyncio.get_running_loop().time() + (self.batch_wait_s if burst else 0.0)
        try:
            while len(batch) < self.max_batch_size:
                batch += self._waiting(self.max_batch_size - len(batch))
                if len(batch) >= self.max_batch_size:
                    break
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
        except asyncio.CancelledError:  # close() while gathering: these callers are out of the queue now
            _fail_all(batch, RuntimeError("the answerer was closed"))
            raise
        return batch

    def _waiting(self, room: int) -> list[Request]:
        """Up to ``room`` questions already queued, without waiting."""
        assert self._queue is not None
        out: list[Request] = []
        while len(out) < room and not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def _join_due(self, running: int) -> bool:
        """Whether questions waiting may join a batch of ``running`` rows now (``JoinPacer.due``). Also
        read on the torch thread between steps (a queue's length and two floats: a stale read only moves
        a join by a step)."""
        assert self._queue is not None
        return self._pacer.due(running, self._queue.qsize(), self.max_batch_size)

    def _admissible(self, running: int) -> list[Request]:
        """Questions that join the running batch now (``_join_due``): all that are waiting, as many as
        there are free rows."""
        return self._waiting(self.max_batch_size - running) if self._join_due(running) else []

    def _settings(self, generator: Generator) -> BatchSettings:
        return BatchSettings(
            config=self.config,
            zones=self.effective_zones(generator),
            threshold=self.effective_threshold(generator),
            fallback=self.fallback,
        )

    async def _run(self) -> None:
        """The scheduler: between two decoding steps, new questions join the running batch (retrieval
        first) and finished answers leave it. ``static``: a batch runs until its last answer ends."""
        batch: Batch | None = None
        admitted: list[Request] = []
        while True:
            try:
                fresh = batch is None or not len(batch)
                if fresh:
                    admitted = await self._gather_batch()
                    # Snapshots: a swap() serves later batches; rows in flight finish on their model.
                    generator, knowledge = self._generator, self._knowledge
                    settings = self._settings(generator)
                    batch = generator.batch(self.config, slots=self.max_batch_size)
                elif self.scheduler == "continuous" and batch.can_join and batch.generator is self._generator:
                    knowledge = self._knowledge  # what was taught since the batch started counts
                    admitted = self._admissible(len(batch))
                else:  # after a swap the old model's rows finish before the new model starts
                    admitted = []
                admitted = [r for r in admitted if not r.future.done()]  # drop requests that timed out
                stale = [r for r in batch.keys if not r.waited_for()]
                whole = self.scheduler == "static"
                started = time.perf_counter()
                done, steps = await torch_thread.run(
                    scheduling.iterate, batch, knowledge, settings, admitted, stale,
                    None if whole else self._join_due, self.cache,
                )  # fmt: skip
                if not whole:
                    self._pacer.measured(time.perf_counter() - started, bool(admitted), fresh, steps)
            except asyncio.CancelledError:  # close(): nobody will answer these callers
                _fail_all(admitted + (batch.keys if batch else []), RuntimeError("the answerer was closed"))
                raise
            except Exception as e:  # a failed step fails its callers, not the worker
                log.exception("generation failed for %d questions", len(admitted) + len(batch or []))
                _fail_all(admitted + (batch.keys if batch else []), e)
                batch = None
                continue
            now = time.perf_counter()
            for request, answer in done:
                if not request.future.done():
                    request.future.set_result(replace(answer, latency_s=now - request.arrived))
