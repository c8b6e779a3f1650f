"""The answer cache: what the model said for a known question is not decoded again, and never outlives
the model, the generation settings, a correction or a lower token limit."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bot.answering import torch_thread
from bot.answering.answerer import Answerer
from bot.answering.scheduling import AnswerCache
from tests.bot.fakes import KNOWN, FakeGenerator, known_generator
from tests.tiny_checkpoint import tiny_model
from training.runtime.batching import RunningBatch
from training.runtime.generate import Generation, GenerationConfig, Generator
from training.tokenizer import load_gpt2_tokenizer

PITCH = KNOWN[0]["question"]


async def test_two_wordings_of_a_known_question_decode_it_once() -> None:
    gen = known_generator()
    async with Answerer(gen) as answerer:
        first = await answerer.answer("how many players does each team have on the pitch")
        second = await answerer.answer("How many players can each team have on the pitch?")
    assert first.matched_question == second.matched_question == PITCH
    assert (second.text, second.answered_by, second.tokens) == (first.text, "model", first.tokens)
    assert gen.batches == [[PITCH]]  # the second wording was not decoded
    assert (answerer.cache.hits, answerer.cache.misses) == (1, 1)


async def test_a_correction_wins_over_a_cached_answer() -> None:
    async with Answerer(known_generator()) as answerer:
        assert (await answerer.answer("What does a yellow card signify?")).answered_by == "model"
        await answerer.teach("What does a yellow card signify?", "A caution; two mean a red.", "correction")
        answer = await answerer.answer("What does a yellow card signify?")
    assert (answer.text, answer.answered_by) == ("A caution; two mean a red.", "correction")


async def test_a_new_model_starts_a_new_cache() -> None:
    old, new = known_generator(), known_generator(version="fake-v2")
    new.answers[PITCH] = "new model: eleven"
    async with Answerer(old) as answerer:
        await answerer.answer(PITCH)
        answerer.swap(new)
        answer = await answerer.answer(PITCH)
    assert (answer.text, answer.model_version) == ("new model: eleven", "fake-v2")
    assert new.batches == [[PITCH]]


async def test_the_cache_is_off_at_size_0_and_when_sampling() -> None:
    for kwargs in ({"answer_cache": 0}, {"config": GenerationConfig(temperature=0.7)}):
        gen = known_generator()
        async with Answerer(gen, **kwargs) as answerer:
            for _ in range(2):
                await answerer.answer(PITCH)
        assert gen.batches == [[PITCH], [PITCH]] and not len(answerer.cache), kwargs


def _said(text: str) -> Generation:
    return Generation(text, 0.9, -0.1, 3, 0.0, "v", False)


def test_least_recently_used_go_first_and_the_token_limit_is_part_of_the_key() -> None:
    cache, gen, config = AnswerCache(2), FakeGenerator(), GenerationConfig()
    cache.put(gen, config, ("a", None, 64), _said("A"))
    cache.put(gen, config, ("b", None, 64), _said("B"))
    assert cache.get(gen, config, ("a", None, 64)).text == "A"  # "a" is now the most recent
    cache.put(gen, config, ("c", None, 64), _said("C"))
    assert cache.get(gen, config, ("b", None, 64)) is None and len(cache) == 2
    assert cache.get(gen, config, ("a", None, 8)) is None  # a shorter answer is another answer
    assert cache.get(gen, replace(config, repetition_penalty=1.2), ("a", None, 64)) is None
    assert cache.get(gen, config, ("a", None, 64)) is None  # another config started it afresh


@pytest.fixture(scope="module")
def closed_book() -> Generator:
    return Generator(tiny_model(seed=2, n_positions=256), load_gpt2_tokenizer())  # never says EOS


async def test_a_cached_answer_is_the_models_answer(closed_book: Generator) -> None:
    """A real model: the cached answer equals the one decoded, and a lower limit per question is
    decoded again (with its own length)."""
    async with Answerer(closed_book, max_new_tokens=12, batch_wait_ms=0) as answerer:
        first = await answerer.answer("What is a corner kick?")
        again = await asyncio.gather(*(answerer.answer("What is a corner kick?") for _ in range(3)))
        short = await answerer.answer("What is a corner kick?", max_new_tokens=5)
    assert {(a.text, a.tokens, a.confidence) for a in again} == {(first.text, 12, first.confidence)}
    assert short.tokens == 5 and first.text.startswith(short.text)
    assert (answerer.cache.hits, answerer.cache.misses) == (3, 2)


def test_the_setting_sizes_the_cache() -> None:
    from tests.bot.fixtures import make_settings

    assert Answerer.from_settings(FakeGenerator(), make_settings(answer_cache=0)).cache.size == 0
    assert Answerer.from_settings(FakeGenerator(), make_settings()).cache.size == 1024


async def test_a_question_many_ask_at_once_is_decoded_once() -> None:
    gen = known_generator()
    async with Answerer(gen, batch_wait_ms=50) as answerer:
        answers = await asyncio.gather(
            *(
                answerer.answer(q)
                for q in [PITCH, "how many players per team on the pitch", PITCH, "Who won Euro 2016?"]
            )
        )
    assert gen.batches == [[PITCH, "Who won Euro 2016?"]]  # one row each
    assert [a.text for a in answers] == ["model: Eleven, one a goalkeeper."] * 3 + ["model: Portugal."]
    assert answers[1].question == "how many players per team on the pitch"  # each keeps its own question


class Decoding:
    """The real running batch, watched and held by a test: ``rows`` counts the rows each ``add`` brought
    in; while ``go`` is clear a step waits for it (``held`` says one does); ``wait_admitted(n)`` returns
    once the scheduler's calls that took in ``n`` questions in all have returned; after the call that
    takes the ``hold_after``-th question in, steps wait for ``go`` again."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.go, self.held = threading.Event(), threading.Event()
        self.go.set()
        self.hold_after: int | None = None
        self._admitted = 0
        self._changed = threading.Condition()

    def admitted(self, n: int) -> None:
        """On the torch thread, at the end of a scheduler's call that took ``n`` questions in."""
        with self._changed:
            self._admitted += n
            if n and self.hold_after is not None and self._admitted >= self.hold_after:
                self.held.clear()
                self.go.clear()
            self._changed.notify_all()

    @property
    def total_admitted(self) -> int:
        with self._changed:
            return self._admitted

    def wait_admitted(self, n: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._admitted >= n, timeout=10)


@pytest.fixture
def decoding(monkeypatch) -> Iterator[Decoding]:
    import bot.answering.scheduling

    watch = Decoding()
    step, add, iterate = RunningBatch.step, RunningBatch.add, bot.answering.scheduling.iterate
    admitted_at = list(inspect.signature(iterate).parameters).index("admitted")

    def held_step(self):
        if not watch.go.is_set():
            watch.held.set()
            watch.go.wait(10)
        return step(self)

    def counted_add(self, prompts, **kwargs):
        watch.rows.append(len(prompts))
        return add(self, prompts, **kwargs)

    def watched_iterate(*args):
        result = iterate(*args)
        watch.admitted(len(args[admitted_at]))
        return result

    monkeypatch.setattr(RunningBatch, "step", held_step)
    monkeypatch.setattr(RunningBatch, "add", counted_add)
    monkeypatch.setattr(bot.answering.scheduling, "iterate", watched_iterate)
    yield watch
    watch.go.set()  # a step still held goes on (the torch thread is shared by every test)


async def ask_twice_while_the_first_decodes(answerer: Answerer, question: str, watch: Decoding):
    """The first asker's row starts decoding; the same question comes while its first step runs, so that
    call to the torch thread ends after it, and the next one takes the second in: it follows the first's
    row, which is still decoding when that call ends (it decodes at most ``MAX_STEPS``, fewer than the
    answer's tokens). Both askers' tasks, once that call has returned."""
    admitted = watch.total_admitted
    watch.held.clear()
    watch.go.clear()
    first = asyncio.create_task(answerer.answer(question))
    assert await asyncio.to_thread(watch.held.wait, 10)  # its row is in its first step
    second = asyncio.create_task(answerer.answer(question))
    await asyncio.sleep(0)  # the second task runs up to waiting for its answer: it is queued
    watch.go.set()
    assert await asyncio.to_thread(watch.wait_admitted, admitted + 2)
    return first, second


async def test_a_follower_gets_its_answer_when_the_first_asker_gave_up(
    closed_book: Generator, decoding: Decoding
) -> None:
    """The same question joins while its row decodes; the first asker gives up; the row goes on for the
    second, who gets the answer the first would have had, and nothing else was decoded."""
    async with Answerer(closed_book, max_new_tokens=48, batch_wait_ms=0, answer_cache=0) as answerer:
        alone = await answerer.answer("Who won the league?")
    async with Answerer(closed_book, max_new_tokens=48, batch_wait_ms=0, timeout_s=10) as answerer:
        decoding.rows.clear()
        first, second = await ask_twice_while_the_first_decodes(answerer, "Who won the league?", decoding)
        first.cancel()
        answer = await second
    assert (answer.text, answer.tokens) == (alone.text, 48)
    assert sum(decoding.rows) == 1 and answerer.cache.hits == 0  # one row, and not from the cache


async def test_close_fails_the_followers_of_a_row_too(closed_book: Generator, decoding: Decoding) -> None:
    answerer = Answerer(closed_book, max_new_tokens=200, batch_wait_ms=0, timeout_s=10)
    await answerer.start()
    decoding.hold_after = 2  # once the second follows the first's row, the row stops mid-answer
    first, second = await ask_twice_while_the_first_decodes(answerer, "Who won the cup?", decoding)
    assert await asyncio.to_thread(decoding.held.wait, 10)
    assert not first.done() and sum(decoding.rows) == 1  # the second follows the first's row, decoding
    await answerer.close()
    for task in (first, second):
        with pytest.raises(RuntimeError, match="closed"):
            await task
    decoding.go.set()
    await torch_thread.run(lambda: None)  # the held call has ended: the torch thread is free again
