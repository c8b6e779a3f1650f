"""The answerer's scheduling, piece by piece: when questions may join a running batch (``JoinPacer``, on a
clock of the test's own) and the ``Batch`` interface that both the real running batch and the tests'
fake implement."""

from __future__ import annotations

import inspect

import pytest

from bot.answering.scheduling import JOIN_SHARE, Batch, JoinPacer
from tests.bot.fakes import FakeBatch, FakeGenerator
from tests.tiny_checkpoint import tiny_model
from training.runtime.batching import RunningBatch
from training.runtime.generate import GenerationConfig, Generator
from training.tokenizer import load_gpt2_tokenizer


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def measured_pacer(clock: Clock) -> JoinPacer:
    """A pacer that has seen 10 ms decoding steps and a join that cost 30 ms more, just now."""
    pacer = JoinPacer(clock)
    pacer.measured(0.040, joined=False, steps=4)
    pacer.measured(0.060, joined=True, steps=3)
    return pacer


def test_the_pacer_measures_a_step_and_what_a_join_adds() -> None:
    pacer = JoinPacer(Clock())
    pacer.measured(0.500, joined=True, fresh=True)  # a new batch's first step: nothing to compare
    pacer.measured(0.020, joined=True)  # joins before any plain step was timed: not measured either
    assert pacer.join_s == 0.0
    pacer.measured(0.040, joined=False, steps=4)  # plain steps: 10 ms each
    assert pacer.step_s == pytest.approx(0.010)
    pacer.measured(0.060, joined=True, steps=3)  # a step with joins, then 2 plain: 30 ms more
    assert pacer.join_s == pytest.approx(0.030)


def test_questions_join_once_the_batch_has_decoded_long_enough_since_the_last_join() -> None:
    assert JOIN_SHARE == 0.25, "the times below are for joins taking at most a quarter of the time"
    clock = Clock()
    pacer = measured_pacer(clock)
    assert not pacer.due(running=5, waiting=5, max_rows=8)  # decoded 0 ms since the join: they wait
    clock.now += 0.089
    assert not pacer.due(running=5, waiting=5, max_rows=8)  # 30 ms of joining in 119: not quite
    clock.now += 0.002
    assert pacer.due(running=5, waiting=5, max_rows=8)  # 30 ms in 121: under a quarter
    assert not pacer.due(running=5, waiting=0, max_rows=8)  # nobody waiting
    assert not pacer.due(running=8, waiting=5, max_rows=8)  # no free row
    clock.now = pacer.joined_at
    assert pacer.due(running=0, waiting=3, max_rows=8)  # nothing decoding: no rows to protect


def test_with_more_questions_waiting_than_rows_decoding_the_wait_shortens_in_proportion() -> None:
    """Answers said in the join's pass leave few rows decoding: 1 row decoding and 4 waiting wait a
    quarter as long (22.5 ms instead of 90 ms after a 30 ms join)."""
    clock = Clock()
    pacer = measured_pacer(clock)
    clock.now += 0.022
    assert not pacer.due(running=1, waiting=4, max_rows=8)
    clock.now += 0.001
    assert pacer.due(running=1, waiting=4, max_rows=8)


def _interface() -> tuple[set[str], set[str]]:
    """``Batch``'s attributes and its methods (properties count as attributes)."""
    attributes = set(Batch.__annotations__)
    methods = set()
    for name, member in vars(Batch).items():
        if isinstance(member, property):
            attributes.add(name)
        elif inspect.isfunction(member) and (name == "__len__" or not name.startswith("_")):
            methods.add(name)
    return attributes, methods


@pytest.fixture(scope="module")
def running_batch() -> RunningBatch:
    return Generator(tiny_model(seed=2), load_gpt2_tokenizer()).batch(GenerationConfig())


@pytest.mark.parametrize("kind", ["real", "fake"])
def test_the_running_batch_and_the_tests_fake_implement_the_schedulers_batch(kind, running_batch) -> None:
    """Both have every attribute and method the scheduler uses, with its parameters; the fake defines
    each method itself (a misnamed one would leave ``Batch``'s empty stub in its place)."""
    batch = running_batch if kind == "real" else FakeGenerator().batch(GenerationConfig())
    assert isinstance(batch, FakeBatch if kind == "fake" else RunningBatch)
    assert isinstance(batch, Batch)
    attributes, methods = _interface()
    assert {"generator", "config", "keys", "can_join", "takes_drafts"} <= attributes
    assert {"__len__", "add", "drop", "step"} <= methods
    for name in attributes:
        assert hasattr(batch, name), name
    for name in methods:
        method = getattr(type(batch), name)
        assert method is not getattr(Batch, name), f"{type(batch).__name__} does not define {name}"
        wanted = inspect.signature(getattr(Batch, name)).parameters
        given = inspect.signature(method).parameters
        for parameter in wanted.values():
            assert parameter.name in given, f"{type(batch).__name__}.{name} lacks {parameter.name}"
            assert given[parameter.name].kind == parameter.kind, f"{name}({parameter.name})"
