"""Store benchmark: log-write latency under 50 concurrent writers, export time and memory. One JSON line.

    OMP_NUM_THREADS=1 .venv/bin/python bench/storage.py     # SQLite files in a temp folder

Targets (issue 5): ``write_p99_ms`` <= 10 on SQLite; ``export_100k_s`` <= 3; ``export_peak_mb`` the same
for 10k and 100k rows (each export runs in a fresh subprocess; the peak is tracemalloc's, i.e. Python
objects, plus the process's peak RSS growth).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from storage import repo  # noqa: E402
from storage.db import dispose, open_store  # noqa: E402
from storage.export import export_dataset  # noqa: E402
from storage.models import Correction, Exchange, Feedback  # noqa: E402
from storage.text import question_key  # noqa: E402

WRITERS = 50
WRITES_PER_WRITER = 100
# Each writer pauses 0..THINK_MS (uniform) between writes: 50 writers then offer ~500 writes/s, far more
# than a bot that generates its answers can produce, yet below what one SQLite file commits (~1-2k/s on
# 2 cores). With no pause the benchmark measures a queue of 50 back-to-back writers (p99 ~ 50 x one write).
THINK_MS = 200.0
EXPORT_SIZES = (10_000, 100_000)


def bench_writes(url: str) -> dict[str, float]:
    factory = open_store(url)
    barrier = threading.Barrier(WRITERS)
    latencies: list[float] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        rng = random.Random(n)
        mine = []
        barrier.wait()
        for i in range(WRITES_PER_WRITER):
            time.sleep(rng.uniform(0, THINK_MS) / 1000)
            start = time.perf_counter()
            with factory.begin() as s:
                repo.log_exchange(
                    s, question=f"question {n} {i}?", answer="an answer", model_version="bench",
                    confidence=0.5, unanswered=False, latency_ms=12.0, source="discord",
                    guild_id=1, channel_id=2, message_id=n * 1000 + i, user_id=n,
                    reply_message_id=n * 1000 + i,
                )  # fmt: skip
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    dispose(factory)
    q = statistics.quantiles(latencies, n=100)
    return {
        "write_p50_ms": round(q[49], 2),
        "write_p99_ms": round(q[98], 2),
        "writes_per_s": round(len(latencies) / elapsed, 1),
    }


def populate(url: str, rows: int) -> None:
    """``rows`` exchanges (10% repeated questions), a third voted, 5% corrected."""
    factory = open_store(url)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rng = random.Random(0)
    chunk = 10_000
    with factory.begin() as s:
        for base in range(0, rows, chunk):
            batch = []
            for i in range(base, min(base + chunk, rows)):
                q = f"What about topic {i if i % 10 else i // 10} <@12345678901234567>?"
                batch.append(
                    dict(question=q, question_key=question_key(q), answer=f"Answer {i}, mail x{i}@ex.com",
                         model_version="bench", confidence=0.5, unanswered=i % 20 == 0, latency_ms=10.0,
                         source="discord", guild_id="1", channel_id="2", user_id=str(i % 500),
                         created_at=t0 + timedelta(seconds=i))
                )  # fmt: skip
            s.execute(insert(Exchange), batch)
        ids = range(1, rows + 1)
        voted = [i for i in ids if i % 3 == 0]
        s.execute(
            insert(Feedback),
            [dict(exchange_id=i, user_id=str(u), vote=rng.choice((1, -1))) for i in voted for u in (1, 2)],
        )
        s.execute(
            insert(Correction),
            [dict(exchange_id=i, answer=f"Fixed {i}", admin_id="9") for i in ids if i % 20 == 0],
        )
    dispose(factory)


def child_export(url: str, out: str) -> None:
    """Runs in a subprocess: export once, print seconds, tracemalloc peak and RSS growth."""
    factory = open_store(url)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    n = export_dataset(factory, "json", out)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    # Timing without tracemalloc's own overhead.
    start = time.perf_counter()
    export_dataset(factory, "json", out)
    plain = time.perf_counter() - start
    print(
        json.dumps(
            {"rows": n, "s": plain, "traced_s": seconds, "peak_mb": peak / 2**20, "rss_mb": rss / 1024}
        )
    )


def bench_export(url_for: dict[int, str], folder: Path) -> dict[str, float]:
    result: dict[str, float] = {}
    for size in EXPORT_SIZES:
        populate(url_for[size], size)
        out = subprocess.run(
            [sys.executable, __file__, "--child-export", url_for[size], str(folder / f"out{size}.json")],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        stats = json.loads(out.strip().splitlines()[-1])
        k = f"{size // 1000}k"
        result[f"export_{k}_rows"] = stats["rows"]
        result[f"export_{k}_s"] = round(stats["s"], 3)
        result[f"export_peak_mb_{k}"] = round(stats["peak_mb"], 2)
        result[f"export_rss_growth_mb_{k}"] = round(stats["rss_mb"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child-export", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_export:
        child_export(*args.child_export)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        line: dict[str, object] = {"backend": "sqlite", "writers": WRITERS, "think_ms": THINK_MS}
        line.update(bench_writes(f"sqlite:///{folder / 'writes.db'}"))
        line.update(
            bench_export({size: f"sqlite:///{folder / f'export{size}.db'}" for size in EXPORT_SIZES}, folder)
        )
    print(json.dumps(line))


if __name__ == "__main__":
    main()
