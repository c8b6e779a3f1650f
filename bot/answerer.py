"""The answer service: many concurrent askers, one model, batched generation off the event loop.

Callers ``await answerer.answer(question)``. One worker task gathers the requests that arrive within
``batch_wait_ms`` (up to ``max_batch_size``), runs them through ``Generator.generate`` as one batch in a
dedicated thread, and hands each caller its own ``Answer``. Batching is what makes a small CPU serve
many people: one decoding step reads the weights once for the whole batch. Answers whose confidence is
below the threshold become the fallback text and are flagged ``unanswered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from bot import torch_thread
from bot.settings import DEFAULT_FALLBACK, Settings
from training.generate import GenerationConfig, Generator

log = logging.getLogger(__name__)

# Far more than any model context here holds; cutting characters first keeps tokenizing cheap, and the
# Generator then keeps the end of what is left if it is still longer than the context.
MAX_QUESTION_CHARS = 4000
_SPACES = re.compile(r"\s+")


@dataclass
class Answer:
    text: str
    confidence: float
    unanswered: bool
    tokens: int
    latency_s: float  # from the request arriving until its answer was ready (queueing included)
    model_version: str
    question: str  # the cleaned question that was asked
    truncated: bool = False


def clean_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """Strip control characters and surrounding space; empty -> ValueError; too long -> keep the end."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, not {type(question).__name__}")
    # Control characters (and lone surrogates from undecodable input) become spaces: a newline inside a
    # question could otherwise fake the template's "\nAnswer:" marker.
    chars = (" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in question)
    text = _SPACES.sub(" ", "".join(chars)).strip()
    if not text:
        raise ValueError("The question is empty: type a question with some words in it.")
    if len(text) > max_chars:
        log.warning("question of %d characters is too long; keeping its last %d", len(text), max_chars)
        text = text[-max_chars:].lstrip()
    return text


@dataclass
class _Request:
    question: str
    future: asyncio.Future[Answer]
    arrived: float


def _fail_all(requests: list[_Request], error: BaseException) -> None:
    for r in requests:
        if not r.future.done():
            r.future.set_exception(error)


class Answerer:
    """Batches concurrent questions onto one ``Generator``; ``async with Answerer(gen) as a: ...``."""

    def __init__(
        self,
        generator: Generator,
        *,
        max_batch_size: int = 16,
        batch_wait_ms: float = 5.0,
        timeout_s: float = 60.0,
        fallback: str = DEFAULT_FALLBACK,
        threshold: float | None = None,
        max_new_tokens: int = 64,
        config: GenerationConfig | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
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
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None

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
        )

    @classmethod
    def load(cls, settings: Settings) -> Answerer:
        """Load ``settings.model_dir`` at ``settings.precision`` on the torch thread, tuned by ``settings``.

        What every front end (``qabot ask``/``chat``/``run``) serves. Raises ``CheckpointError`` when there
        is no usable model and ``ValueError`` for a precision this machine cannot run.
        """
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # front ends show answers, not weight-loading bars
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

    def swap(self, new_generator: Generator) -> None:
        """Serve later batches with ``new_generator``; a batch already generating finishes on the old one."""
        self._generator = new_generator  # one reference assignment: atomic; the worker snapshots it per batch
        log.info("answerer now serves model %s", new_generator.model_version)

    def effective_threshold(self, generator: Generator | None = None) -> float | None:
        if self.threshold is not None:
            return self.threshold
        return (generator or self._generator).confidence_threshold

    async def answer(self, question: str) -> Answer:
        """Answer one question; ``ValueError`` if it is empty, ``TimeoutError`` after ``timeout_s``."""
        text = clean_question(question)
        if self._worker is None:
            await self.start()
        assert self._queue is not None
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(text, future, time.perf_counter()))
        # On timeout wait_for cancels the future, so the worker skips the request if it has not started.
        return await asyncio.wait_for(future, timeout=self.timeout_s)

    # -- worker --------------------------------------------------------------------------------------------

    async def _gather_batch(self) -> list[_Request]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.batch_wait_s
        try:
            while len(batch) < self.max_batch_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
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
        return [r for r in batch if not r.future.done()]  # drop requests that already timed out

    async def _run(self) -> None:
        while True:
            batch = await self._gather_batch()
            if not batch:
                continue
            generator = self._generator  # snapshot: swap() never changes a batch mid-flight
            questions = [r.question for r in batch]
            try:
                # Batches run one after another on the torch thread; torch uses its own threads inside each.
                results = await torch_thread.run(generator.generate, questions, self.config)
            except asyncio.CancelledError:  # close() while generating: nobody will answer these callers
                _fail_all(batch, RuntimeError("the answerer was closed"))
                raise
            except Exception as e:  # a failed batch fails its callers, not the worker
                log.exception("generation failed for a batch of %d", len(batch))
                _fail_all(batch, e)
                continue
            threshold = self.effective_threshold(generator)
            now = time.perf_counter()
            for request, result in zip(batch, results, strict=True):
                if not request.future.done():
                    request.future.set_result(self._to_answer(request, result, generator, threshold, now))

    def _to_answer(
        self, request: _Request, result: Any, generator: Generator, threshold: float | None, now: float
    ) -> Answer:
        unanswered = not result.text or (threshold is not None and result.confidence < threshold)
        return Answer(
            text=self.fallback if unanswered else result.text,
            confidence=result.confidence,
            unanswered=unanswered,
            tokens=result.tokens,
            latency_s=now - request.arrived,
            model_version=generator.model_version,
            question=request.question,
            truncated=result.truncated,
        )
