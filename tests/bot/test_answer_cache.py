"""The answer cache: what the model said for a known question is not decoded again, and never outlives
the model, the generation settings, a correction or a lower token limit."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from bot.answering.answerer import Answerer
from bot.answering.scheduling import AnswerCache
from tests.bot.fixtures import FakeGenerator
from tests.bot.test_answer_path import KNOWN, fake
from tests.tiny_checkpoint import tiny_model
from training.runtime.batching import RunningBatch
from training.runtime.generate import Generation, GenerationConfig, Generator
from training.tokenizer import load_gpt2_tokenizer

PITCH = KNOWN[0]["question"]


async def test_two_wordings_of_a_known_question_decode_it_once() -> None:
    gen = fake()
    async with Answerer(gen) as answerer:
        first = await answerer.answer("how many players does each team have on the pitch")
        second = await answerer.answer("How many players can each team have on the pitch?")
    assert first.matched_question == second.matched_question == PITCH
    assert (second.text, second.answered_by, second.tokens) == (first.text, "model", first.tokens)
    assert gen.batches == [[PITCH]]  # the second wording was not decoded
    assert (answerer.cache.hits, answerer.cache.misses) == (1, 1)


async def test_a_correction_wins_over_a_cached_answer() -> None:
    async with Answerer(fake()) as answerer:
        assert (await answerer.answer("What does a yellow card signify?")).answered_by == "model"
        await answerer.teach("What does a yellow card signify?", "A caution; two mean a red.", "correction")
        answer = await answerer.answer("What does a yellow card signify?")
    assert (answer.text, answer.answered_by) == ("A caution; two mean a red.", "correction")


async def test_a_new_model_starts_a_new_cache() -> None:
    old, new = fake(), fake(version="fake-v2")
    new.answers[PITCH] = "new model: eleven"
    async with Answerer(old) as answerer:
        await answerer.answer(PITCH)
        answerer.swap(new)
        answer = await answerer.answer(PITCH)
    assert (answer.text, answer.model_version) == ("new model: eleven", "fake-v2")
    assert new.batches == [[PITCH]]


async def test_the_cache_is_off_at_size_0_and_when_sampling() -> None:
    for kwargs in ({"answer_cache": 0}, {"config": GenerationConfig(temperature=0.7)}):
        gen = fake()
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
    gen = fake()
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


@pytest.fixture
def slow_rows(monkeypatch) -> list[int]:
    """Each decoding step takes at least 2 ms (so an answer lasts while others arrive); returns the
    number of rows each ``RunningBatch.add`` brought in."""
    added: list[int] = []
    step, add = RunningBatch.step, RunningBatch.add

    def slow_step(self):
        time.sleep(0.002)
        return step(self)

    def counted_add(self, prompts, **kwargs):
        added.append(len(prompts))
        return add(self, prompts, **kwargs)

    monkeypatch.setattr(RunningBatch, "step", slow_step)
    monkeypatch.setattr(RunningBatch, "add", counted_add)
    return added


async def test_a_follower_gets_its_answer_when_the_first_asker_gave_up(
    closed_book: Generator, slow_rows: list[int]
) -> None:
    """The same question joins while its row decodes; the first asker gives up; the row goes on for the
    second, who gets the answer the first would have had, and nothing else was decoded."""
    async with Answerer(closed_book, max_new_tokens=48, batch_wait_ms=0, answer_cache=0) as answerer:
        alone = await answerer.answer("Who won the league?")
    slow_rows.clear()
    async with Answerer(closed_book, max_new_tokens=48, batch_wait_ms=0, timeout_s=10) as answerer:
        first = asyncio.create_task(answerer.answer("Who won the league?"))
        await asyncio.sleep(0.02)
        second = asyncio.create_task(answerer.answer("Who won the league?"))
        await asyncio.sleep(0.002)  # in the queue...
        while answerer._queue.qsize():  # ... then taken to join: it follows the first's row
            await asyncio.sleep(0.002)
        first.cancel()
        answer = await second
    assert (answer.text, answer.tokens) == (alone.text, 48)
    assert sum(slow_rows) == 1 and answerer.cache.hits == 0  # one row, and not from the cache


async def test_close_fails_the_followers_of_a_row_too(closed_book: Generator, slow_rows: list[int]) -> None:
    answerer = Answerer(closed_book, max_new_tokens=200, batch_wait_ms=0, timeout_s=10)
    await answerer.start()
    first = asyncio.create_task(answerer.answer("Who won the cup?"))
    await asyncio.sleep(0.03)
    second = asyncio.create_task(answerer.answer("Who won the cup?"))
    await asyncio.sleep(0.002)
    while answerer._queue.qsize():  # the second has left the queue...
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.15)  # a few calls to the torch thread later (it is no longer one joining)
    assert not first.done() and sum(slow_rows) == 1  # ... to follow the first's row, still decoding
    await answerer.close()
    for task in (first, second):
        with pytest.raises(RuntimeError, match="closed"):
            await task
