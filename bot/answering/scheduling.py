"""How the answerer's worker schedules the running batch: when questions join it (``JoinPacer``) and
what one call on the torch thread does (``iterate``: retrieval and zones for the questions joining,
then decoding steps)."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from bot.answering.answer_path import Answer, BatchSettings, Routed, finish, route

if TYPE_CHECKING:
    from bot.answering.followups import Turn
    from bot.answering.knowledge import Knowledge
    from training.runtime.generate import Generation, GenerationConfig, Generator


@dataclass(eq=False)  # a running batch's row key: compared by identity
class Request:
    question: str
    future: asyncio.Future[Answer]
    arrived: float
    max_new_tokens: int | None = None  # this question's own limit (None: the answerer's)
    after_s: float = float("inf")  # how long after the question before it this one came
    context: Turn | None = None  # the conversation's previous turn (follow-ups: ``bot.answering.followups``)
    routed: Routed | None = None  # set once retrieval has run
    # The same prompt asked while this one decodes: answered with it (``scheduling.iterate``).
    followers: list[Request] = field(default_factory=list)

    def waited_for(self) -> bool:
        """Someone still waits for this row: its asker, or one of its followers."""
        return not self.future.done() or any(not f.future.done() for f in self.followers)


@runtime_checkable
class Batch(Protocol):
    """What the scheduler drives: ``training.runtime.batching.RunningBatch`` (its rows' keys are
    ``Request``s), or a test's stand-in, which declares it (``tests/bot/test_scheduling.py`` holds both to
    it)."""

    generator: Generator  # whose rows these are
    config: GenerationConfig

    def __len__(self) -> int: ...

    @property
    def keys(self) -> list[Any]: ...

    @property
    def takes_drafts(self) -> bool: ...

    @property
    def can_join(self) -> bool: ...

    def add(
        self,
        prompts: Sequence[tuple[Hashable, Any]],
        *,
        max_new_tokens: Sequence[int | None] | None = None,
        drafts: Sequence[list[int] | None] | None = None,
    ) -> None: ...

    def drop(self, keys: Sequence[Hashable]) -> None: ...

    def step(self) -> list[tuple[Any, Any]]:
        """The rows that finished (key, row for ``generator.finish``), which have left the batch."""
        ...


# Joining the running batch costs a retrieval (the sentence encoder) and a prefill, about a decoding step
# each on a small CPU, whether one question joins or eight. Under a stream of arrivals, joining at every
# step would spend most of the time on joins one question at a time, so after a join rows decode long
# enough that joins take at most JOIN_SHARE of the time; a question arriving at a quiet moment still
# joins at the next step. Measured here (2-core EPYC, two runs of the same arrivals, 20 s per rate, p95
# summed over 5 and 8 questions/s on the distilgpt2-size model and 28 and 42/s on make run's): 5.89 s
# and 5.50 s against 6.81 s and 5.77 s for joining whenever a quarter of the batch could; the two runs
# differ by as much as the rules do, so the case for it is also that it bounds what joins cost.
JOIN_SHARE = 0.25
EMA = 0.2  # weight of the newest measurement in the step and join cost averages


class JoinPacer:
    """What a decoding step and a join cost (moving averages, measured by the worker), and from them
    whether questions may join now. ``clock``: seconds, ``time.perf_counter`` (a test's own clock)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.step_s = 0.0  # what a decoding step costs (seconds)
        self.join_s = 0.0  # what joining adds to a step (seconds)
        self.joined_at = 0.0  # when the last join ended (clock())

    def due(self, running: int, waiting: int, max_rows: int) -> bool:
        """Whether ``waiting`` questions may join a batch of ``running`` rows (at most ``max_rows``) now:
        there is a free row and the batch has decoded long enough since the last join
        (``JOIN_SHARE``). The wait protects the rows decoding from stalls; with more questions waiting
        than rows decoding (answers drafted in the join's pass leave few rows decoding) it shortens in
        proportion: those waiting would lose more than the rows decoding gain."""
        if not waiting or running >= max_rows:
            return False
        gap = self.join_s * (1 - JOIN_SHARE) / JOIN_SHARE * min(1.0, running / waiting)
        return self.clock() - self.joined_at >= gap

    def measured(self, seconds: float, joined: bool, fresh: bool = False, steps: int = 1) -> None:
        """Account one call of ``iterate``: ``steps`` decoding steps, the first with joins (``joined``)
        or the first of a new batch (``fresh``: no rows were running, so nothing to measure a join
        by)."""
        plain = steps - (joined or fresh)
        if joined or fresh:
            if joined and not fresh and self.step_s:  # the extra time over plain steps is the join's
                extra = max(0.0, seconds - steps * self.step_s)
                self.join_s = extra if not self.join_s else (1 - EMA) * self.join_s + EMA * extra
            self.joined_at = self.clock()
        elif plain:
            per_step = seconds / plain
            self.step_s = per_step if not self.step_s else (1 - EMA) * self.step_s + EMA * per_step


CacheKey = tuple[str, str | None, int]  # the prompt, its draft, the token limit


class AnswerCache:
    """What the model said for a prompt, so that the same prompt is not decoded again: people ask the
    same few things, and a matched question is answered by the model *for the known question*, so every
    wording of it is one prompt. Only for greedy decoding (deterministic, and the same whatever the batch
    mates: ``training.runtime.batching``); keyed by the prompt, the draft and the token limit; the least
    recently used go past ``size``. The cache belongs to one model and one generation config: another (a
    ``swap``) starts it afresh. Used on the torch thread only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        # Held weakly: a swapped-out model is freed before the next question reaches the cache.
        self._owner: tuple[weakref.ref[Generator], GenerationConfig] | None = None
        self._entries: OrderedDict[CacheKey, Generation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def serves(self, generator: Generator, config: GenerationConfig) -> bool:
        """Whether the cache is on for this model and config (then a prompt asked again while it decodes
        may also wait for that row); a model or config other than the last starts it afresh."""
        if self.size <= 0 or not config.greedy:
            return False
        owner = self._owner
        if owner is None or owner[0]() is not generator or owner[1] != config:
            self._owner, self._entries = (weakref.ref(generator), config), OrderedDict()
        return True

    def get(self, generator: Generator, config: GenerationConfig, key: CacheKey) -> Generation | None:
        if not self.serves(generator, config):
            return None
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        return found

    def put(self, generator: Generator, config: GenerationConfig, key: CacheKey, gen: Generation) -> None:
        if self.serves(generator, config):
            self._entries[key] = gen
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


# Continuous scheduling: decoding steps go on in one call to the torch thread until an answer ends or
# questions may join; a call per step cost ~0.4 ms of hand-over, 30% of a step of make run's model.
MAX_STEPS = 32  # decoding steps in one call at most (close() waits for the call to end)


@torch.inference_mode()
def iterate(
    batch: Batch,
    knowledge: Knowledge,
    settings: BatchSettings,
    admitted: list[Request],
    stale: list[Request],
    joins: Callable[[int], bool] | None,
    cache: AnswerCache | None = None,
) -> tuple[list[tuple[Request, Answer]], int]:
    """On the torch thread: route ``admitted`` (retrieval, zone); those the model must answer join
    ``batch`` (unless ``cache`` has what the model said for the same prompt, or a row decodes it: they
    follow that row); then decoding steps until an answer ends, ``joins(rows)`` says questions may join,
    or ``MAX_STEPS`` (``joins`` None: until the batch is empty, the static scheduler). The answers ready
    and the steps taken."""
    generator, version, config = batch.generator, batch.generator.model_version, batch.config
    limit = config.max_new_tokens
    done: list[tuple[Request, Answer]] = []
    if stale:
        batch.drop(stale)
    joining = []
    for request, routed in zip(
        admitted,
        route(knowledge, [r.question for r in admitted], settings, [r.context for r in admitted]),
        strict=True,
    ):
        request.routed = routed
        said = None
        if routed.prompt is not None and cache is not None:
            said = cache.get(generator, config, _cache_key(request, limit))
        if routed.prompt is None or said is not None:
            done.append((request, finish(routed, said, version, settings)))
        else:
            joining.append(request)
    if cache is not None and joining and cache.serves(generator, config):
        joining = _coalesce(batch.keys, joining, limit)
    drafts = None
    if batch.takes_drafts:  # else tokenizing the answers would be wasted
        drafts = [generator.draft_ids(r.routed.draft) if r.routed.draft else None for r in joining]
    batch.add(
        [(r, generator.encode_question(r.routed.prompt, limit)) for r in joining],
        max_new_tokens=[r.max_new_tokens for r in joining],
        drafts=drafts,
    )
    steps = 0
    while len(batch):
        for request, row in batch.step():
            said = generator.finish(row)
            if cache is not None:
                cache.put(generator, config, _cache_key(request, limit), said)
            for asker in (request, *request.followers):
                done.append((asker, finish(asker.routed, said, version, settings)))
        steps += 1
        if joins is not None and (done or steps >= MAX_STEPS or joins(len(batch))):
            break
    return done, steps


def _cache_key(request: Request, limit: int) -> CacheKey:
    assert request.routed is not None and request.routed.prompt is not None
    return request.routed.prompt, request.routed.draft, min(limit, request.max_new_tokens or limit)


def _coalesce(running: list[Request], joining: list[Request], limit: int) -> list[Request]:
    """Of ``joining``, those that must decode: one whose prompt a row already decodes (or another one
    joining now) follows that row instead and is answered with it (a question many ask at once)."""
    leaders = {_cache_key(r, limit): r for r in running}
    out = []
    for request in joining:
        key = _cache_key(request, limit)
        if key in leaders:
            leaders[key].followers.append(request)
        else:
            leaders[key] = request
            out.append(request)
    return out
