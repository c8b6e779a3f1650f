"""All of the bot's torch work on one thread; long side jobs on a thread that ends afterwards."""

from __future__ import annotations

import threading

from bot.answering import torch_thread
from bot.answering.answerer import Answerer
from tests.bot.fakes import FakeGenerator


class ThreadRecordingGenerator(FakeGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def generate(self, questions, config=None):  # type: ignore[no-untyped-def]
        self.threads.add(threading.current_thread().name)
        return super().generate(questions, config)


def the_torch_thread() -> threading.Thread:
    return torch_thread.call(threading.current_thread)


def test_call_runs_on_the_torch_thread() -> None:
    thread = the_torch_thread()
    assert thread is not threading.current_thread()
    assert thread.name.startswith("qabot-torch_")  # the answering thread, not a side thread
    assert the_torch_thread() is thread  # one thread, every time


async def test_the_answerer_generates_on_the_torch_thread() -> None:
    generator = ThreadRecordingGenerator()
    async with Answerer(generator) as first:
        await first.answer("Who?")
    async with Answerer(generator) as second:  # another Answerer (a reload): still the same thread
        await second.answer("Why?")
    assert generator.threads == {the_torch_thread().name}


async def test_side_jobs_run_on_a_thread_that_ends() -> None:
    thread = await torch_thread.in_own_thread(threading.current_thread)
    assert thread is not the_torch_thread() and thread is not threading.current_thread()
    assert thread.name.startswith("qabot-torch-side_")
    thread.join(timeout=5)
    assert not thread.is_alive()
