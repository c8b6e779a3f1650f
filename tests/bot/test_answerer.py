"""Answerer: batching (continuous and static), per-request timeout, fallback below threshold, swap, bad
input, event-loop lag."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.answering.answerer import Answerer, EmptyQuestion, clean_question
from tests.bot.fakes import FakeGenerator
from tests.tiny_checkpoint import TINY_PAIRS, tiny_model
from training.runtime.batching import RunningBatch
from training.runtime.generate import Generator
from training.tokenizer import load_gpt2_tokenizer


@pytest.fixture(scope="module")
def real_generator(tiny_checkpoint: Path) -> Generator:
    return Generator.load(tiny_checkpoint, precision="fp32")


@pytest.mark.slow
async def test_answers_with_the_trained_model(real_generator: Generator) -> None:
    async with Answerer(real_generator) as answerer:
        answer = await answerer.answer("Who won the 2014 World Cup?")
    assert answer.text == "Germany won it."
    assert not answer.unanswered
    assert answer.model_version == "tiny-run" == answerer.model_version
    assert answer.tokens > 0 and answer.latency_s > 0 and 0 < answer.confidence <= 1


@pytest.mark.slow
async def test_concurrent_questions_share_one_batch_and_match_single_answers(
    real_generator: Generator,
) -> None:
    questions = [q for q, _ in TINY_PAIRS] * 2
    async with Answerer(real_generator, batch_wait_ms=50, answer_cache=0) as answerer:
        together = await asyncio.gather(*(answerer.answer(q) for q in questions))
        alone = [await answerer.answer(q) for q in questions]
    assert [a.text for a in together] == [a.text for a in alone]
    assert [a.question for a in together] == questions


async def test_worker_batches_up_to_max_batch_size() -> None:
    fake = FakeGenerator(delay_s=0.02)
    async with Answerer(fake, max_batch_size=4, batch_wait_ms=30) as answerer:
        answers = await asyncio.gather(*(answerer.answer(f"q{i}") for i in range(10)))
    assert [a.text for a in answers] == [f"echo: q{i}" for i in range(10)]  # each caller got its own
    assert max(len(b) for b in fake.batches) == 4
    assert len(fake.batches) <= 4


async def test_timeout_raises_and_the_worker_keeps_going() -> None:
    fake = FakeGenerator(delay_s=0.3)
    async with Answerer(fake, timeout_s=0.05) as answerer:
        with pytest.raises(TimeoutError):
            await answerer.answer("slow one")
        answerer.timeout_s = 5
        answer = await answerer.answer("next one")
    assert answer.text == "echo: next one"


async def test_fallback_below_explicit_threshold() -> None:
    async with Answerer(FakeGenerator(confidence=0.2), threshold=0.5, fallback="Dunno.") as answerer:
        answer = await answerer.answer("Anything?")
    assert answer.unanswered and answer.text == "Dunno."
    assert answer.confidence == 0.2


async def test_calibrated_threshold_from_generator_and_settings_override() -> None:
    fake = FakeGenerator(confidence=0.4, threshold=0.6)
    async with Answerer(fake) as answerer:
        assert (await answerer.answer("q")).unanswered
    async with Answerer(fake, threshold=0.3) as answerer:  # settings override wins
        assert not (await answerer.answer("q")).unanswered
    async with Answerer(FakeGenerator(confidence=0.01, threshold=None)) as answerer:  # none anywhere: answer
        assert not (await answerer.answer("q")).unanswered


@pytest.mark.slow
async def test_real_model_below_threshold_says_it_does_not_know(real_generator: Generator) -> None:
    async with Answerer(real_generator, threshold=0.999999, fallback="Not sure.") as answerer:
        answer = await answerer.answer("Who won the 2014 World Cup?")
    assert answer.unanswered and answer.text == "Not sure."


async def test_swap_lets_inflight_batch_finish_on_the_old_model() -> None:
    old, new = FakeGenerator(version="old", delay_s=0.2), FakeGenerator(version="new")
    async with Answerer(old) as answerer:
        first = asyncio.create_task(answerer.answer("a"))
        await asyncio.to_thread(old.started.wait, 2)
        answerer.swap(new)
        assert answerer.generator is new and answerer.model_version == "new"
        second = await answerer.answer("b")
        assert ((await first).model_version, (await first).text) == ("old", "echo: a")
    assert (second.model_version, second.text) == ("new", "echo: b")


# Blank to the eye too: zero-width space and joiner, braille blank, Hangul filler.
@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x07", "\u200b", "\u200d \u2800", "\u3164"])
async def test_empty_question_is_rejected_without_generating(question: str) -> None:
    fake = FakeGenerator()
    async with Answerer(fake) as answerer:
        with pytest.raises(EmptyQuestion, match="empty"):
            await answerer.answer(question)
    assert fake.batches == []


def test_a_question_keeps_its_emoji_sequences():
    family = "what does 👨\u200d👩\u200d👧 mean?"
    assert clean_question(family) == family


def test_control_characters_are_stripped() -> None:
    assert clean_question("  Who\x00 won\nAnswer: the\x1b cup?\r\n") == "Who won Answer: the cup?"


def test_too_long_question_keeps_its_end_and_warns(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        text = clean_question("x " * 5000 + "the end?", max_chars=100)
    assert text.endswith("the end?") and len(text) <= 100
    assert "too long" in caplog.text


async def test_generation_error_fails_the_batch_not_the_worker() -> None:
    class Broken(FakeGenerator):
        def generate(self, questions, config=None):
            if questions == ["boom"]:
                raise RuntimeError("kaput")
            return super().generate(questions, config)

    async with Answerer(Broken()) as answerer:
        with pytest.raises(RuntimeError, match="kaput"):
            await answerer.answer("boom")
        assert (await answerer.answer("fine")).text == "echo: fine"


async def test_event_loop_stays_responsive_while_8_requests_generate() -> None:
    generator = Generator(tiny_model(seed=2, n_positions=256), load_gpt2_tokenizer())  # runs to the limit
    lags: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    async with Answerer(generator, max_batch_size=8, max_new_tokens=96) as answerer:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        started = time.perf_counter()
        answers = await asyncio.gather(*(answerer.answer(f"Question number {i}?") for i in range(8)))
        elapsed = time.perf_counter() - started
        stop.set()
        await tick
    assert all(a.tokens == 96 for a in answers)
    assert elapsed > 0.1  # generation really took a while, so the lag measurement means something
    assert max(lags) < 0.05, f"event loop blocked for {max(lags) * 1000:.0f} ms"


async def test_close_fails_requests_that_are_still_waiting() -> None:
    fake = FakeGenerator(delay_s=0.3)
    answerer = Answerer(fake, timeout_s=5)
    await answerer.start()
    inflight = asyncio.create_task(answerer.answer("in the batch"))
    await asyncio.to_thread(fake.started.wait, 2)
    queued = asyncio.create_task(answerer.answer("still queued"))
    await asyncio.sleep(0.01)
    await answerer.close()
    for task in (inflight, queued):
        with pytest.raises(RuntimeError, match="closed"):
            await task


async def test_a_question_at_a_quiet_moment_starts_at_once_and_one_in_a_burst_waits_for_company() -> None:
    fake = FakeGenerator()
    # A long gathering window; a batch of two is full.
    async with Answerer(fake, max_batch_size=2, batch_wait_ms=10_000, timeout_s=30) as answerer:
        assert (await asyncio.wait_for(answerer.answer("alone"), timeout=2)).text == "echo: alone"
        # Within the window of the one before: a burst under way, so the worker waits for more.
        first = asyncio.create_task(answerer.answer("first of a burst"))
        await asyncio.sleep(0.05)
        assert not first.done()
        second = await asyncio.wait_for(answerer.answer("second of the burst"), timeout=2)  # batch full
        assert second.text == "echo: second of the burst"
        assert (await first).text == "echo: first of a burst"
    assert fake.batches[-1] == ["first of a burst", "second of the burst"]


async def test_close_while_gathering_a_batch_fails_its_callers_at_once() -> None:
    answerer = Answerer(FakeGenerator(), batch_wait_ms=10_000, timeout_s=30)  # a long gathering window
    await answerer.start()
    await answerer.answer("at a quiet moment: answered at once")
    waiting = asyncio.create_task(answerer.answer("in a burst: gathered, not yet generating"))
    await asyncio.sleep(0.05)
    await answerer.close()
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.wait_for(waiting, timeout=2)  # not the 30 s request timeout


@pytest.fixture(scope="module")
def runs_to_the_limit() -> Generator:
    return Generator(tiny_model(seed=2, n_positions=256), load_gpt2_tokenizer())  # never says EOS


async def finishing_order(generator: Generator, scheduler: str, monkeypatch) -> list[str]:
    """A long answer starts; two short questions arrive while it runs. Who finishes first?"""
    order: list[str] = []
    steps = 0
    step = RunningBatch.step

    def counted(self):  # at least 1 ms a step, so the long answer lasts whatever the machine's speed
        nonlocal steps
        steps += 1
        time.sleep(0.001)
        return step(self)

    monkeypatch.setattr(RunningBatch, "step", counted)

    async def ask(answerer: Answerer, name: str, tokens: int) -> None:
        answer = await answerer.answer(f"Question {name}?", max_new_tokens=tokens)
        assert answer.tokens == tokens
        order.append(name)

    async with Answerer(generator, max_new_tokens=160, batch_wait_ms=0, scheduler=scheduler) as answerer:
        long = asyncio.create_task(ask(answerer, "long", 160))
        while steps < 3:  # the long answer is some steps in, most of it still to come
            await asyncio.sleep(0.001)
        await asyncio.gather(ask(answerer, "short", 4), ask(answerer, "other", 6), long)
    return order


async def test_continuous_scheduler_lets_short_answers_overtake_a_long_one(
    runs_to_the_limit: Generator, monkeypatch
) -> None:
    assert (await finishing_order(runs_to_the_limit, "continuous", monkeypatch))[-1] == "long"
    # The whole-batch scheduler makes them wait for the long answer: the test tells the two apart.
    assert (await finishing_order(runs_to_the_limit, "static", monkeypatch))[0] == "long"


async def test_continuous_answers_equal_answers_given_alone(runs_to_the_limit: Generator) -> None:
    questions = [f"Question number {i} about something else entirely?"[: 12 + 5 * i] for i in range(6)]
    async with Answerer(runs_to_the_limit, max_new_tokens=12, batch_wait_ms=0, answer_cache=0) as answerer:
        alone = [await answerer.answer(q) for q in questions]
        staggered = []
        for q in questions:  # each joins a batch that is already running, at another step
            staggered.append(asyncio.create_task(answerer.answer(q)))
            await asyncio.sleep(0.01)
        joined = await asyncio.gather(*staggered)
    assert [(a.text, a.tokens) for a in alone] == [(j.text, j.tokens) for j in joined]
    # Confidence multiplies a dozen float32 probabilities computed in batches of other shapes (which step
    # each question joins at depends on timing): 2.4e-4 apart was seen on a loaded machine.
    assert [j.confidence for j in joined] == pytest.approx([a.confidence for a in alone], rel=1e-3)


async def test_a_lone_answer_decodes_many_steps_per_call_to_the_torch_thread(
    runs_to_the_limit: Generator, monkeypatch
) -> None:
    """Nobody waiting, nothing ending: the steps go on in one call (each call costs a hand-over)."""
    import bot.answering.scheduling

    calls: list[int] = []
    iterate = bot.answering.scheduling.iterate

    def counted(*args):
        done, steps = iterate(*args)
        calls.append(steps)
        return done, steps

    monkeypatch.setattr(bot.answering.scheduling, "iterate", counted)
    async with Answerer(runs_to_the_limit, max_new_tokens=40, batch_wait_ms=0) as answerer:
        answer = await answerer.answer("A question nobody else asks?")
    assert answer.tokens == 40
    # The prompt's pass, a step for each token (the last one only picks it): at most MAX_STEPS a call.
    assert sum(calls) == 41 and len(calls) == 2  # MAX_STEPS 32: not 41 hand-overs


def test_unknown_scheduler_is_refused() -> None:
    with pytest.raises(ValueError, match="scheduler"):
        Answerer(FakeGenerator(), scheduler="fastest")


async def test_learned_wordings_follow_the_setting_and_survive_a_swap() -> None:
    from tests.bot.fixtures import make_settings

    known = [{"question": "How long is a football match?", "answer": "90 minutes."}]
    wordings = [{"wording": "duration of a game", "question": "How long is a football match?"}]
    off = Answerer.from_settings(FakeGenerator(known=known), make_settings(learn_from_choices=False))
    assert off.learn_wordings is False
    async with off:
        await off.set_wordings(wordings)
        await off.learn_wording("length of a game", "How long is a football match?")
        assert (await off.answer("duration of a game")).zone != "answer"
    on = Answerer.from_settings(FakeGenerator(known=known), make_settings())
    async with on:
        await on.set_wordings(wordings)
        answer = await on.answer("duration of a game")
        assert (answer.zone, answer.matched_question) == ("answer", "How long is a football match?")
        on.swap(FakeGenerator(known=known, version="fake-v2"))  # a retrained model keeps what people taught
        assert (await on.answer("duration of a game")).zone == "answer"


@pytest.mark.parametrize(
    "typed", ["ho\u200bw many players?", "how\u00ad many\u2060 players?", "\ufeffhow many\u200d players?"]
)
def test_zero_width_characters_inside_words_are_removed(typed) -> None:
    assert clean_question(typed) == "how many players?"
