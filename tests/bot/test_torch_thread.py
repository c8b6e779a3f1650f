"""All of the bot's torch work on one thread; long side jobs on a thread that ends afterwards."""

from __future__ import annotations

import threading

from bot import torch_thread
from bot.answerer import Answerer
from tests.bot.test_answerer import FakeGenerator


class ThreadRecordingGenerator(FakeGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def generate(self, questions, config=None):  # type: ignore[no-untyped-def]
        self.threads.add(threading.current_thread().name)
        return super().generate(questions, config)


def test_call_runs_on_the_torch_thread() -> None:
    loaded_on = torch_thread.call(lambda: threading.current_thread().name)
    assert loaded_on.startswith("qabot-torch") and loaded_on != threading.current_thread().name


async def test_the_answerer_generates_on_the_torch_thread() -> None:
    generator = ThreadRecordingGenerator()
    async with Answerer(generator) as first:
        await first.answer("Who?")
    async with Answerer(generator) as second:  # another Answerer (a reload): still the same thread
        await second.answer("Why?")
    assert generator.threads == {torch_thread.call(lambda: threading.current_thread().name)}


async def test_side_jobs_run_on_a_thread_that_ends() -> None:
    thread = await torch_thread.in_own_thread(threading.current_thread)
    assert thread is not threading.current_thread()
    assert not thread.name.startswith("qabot-torch_")  # not the answering thread
    thread.join(timeout=5)
    assert not thread.is_alive()
