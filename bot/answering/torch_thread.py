"""One thread for the process's torch work: loading models and generating answers.

torch's CPU kernels run on an OpenMP team that belongs to the calling thread, so every thread that calls
torch gets a team of its own. Once a process holds more OpenMP threads than there are CPUs, libgomp stops
spin-waiting between parallel regions and puts its threads to sleep instead, and each of the hundreds of
small ops in a decoding step then pays a wake-up. Measured on the 2-core machine (distilgpt2-size int8
model, 8 concurrent questions through the Answerer, 50 tokens each): 0.43-0.67 s when the model was
loaded and run on one thread, 0.65-0.90 s when it was loaded on another one.

Long blocking torch work that must not hold up answers (the retrain gate's evaluations) runs on a thread
of its own that ends afterwards (``in_own_thread``), which frees its OpenMP team too.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qabot-torch")


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on the torch thread and wait for it (for code outside an event loop)."""
    return _executor.submit(fn, *args, **kwargs).result()


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on the torch thread without blocking the event loop; jobs run one after another."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(fn, *args, **kwargs))


async def in_own_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on a new thread that ends when it returns, so the torch thread keeps answering."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qabot-torch-side")
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
    finally:
        executor.shutdown(wait=False)  # the thread exits once its job is done
