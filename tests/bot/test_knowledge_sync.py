"""Every process serves every change (``bot.answering.knowledge_sync``): two "processes" (each its own
Answerer, store engine and sync) on one store; what one is taught, corrected, learns or is voted, the other
answers after one poll; a model one swaps in after its gate, the other loads once; a failure is logged and
retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot import async_store
from bot.answering import knowledge_sync
from bot.answering.answerer import Answerer
from bot.answering.knowledge import NUDGE_PER_VOTE
from bot.answering.knowledge_sync import KnowledgeSync, marked_feed
from bot.retrain import RetrainBusy, RetrainJob, RetrainOptions
from storage import repo
from storage.changes import note
from storage.db import dispose, open_store
from storage.models import TrainingRun
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import fake_models, fake_trainer, small_dataset
from tests.storage.conftest import postgres_server  # noqa: F401  (a fixture)
from training.checkpoint import point_current
from training.retrieval.zones import ZoneThresholds

KNOWN = [
    {"question": "How long is a football match?", "answer": "90 minutes."},
    {"question": "How long is half-time in a football match?", "answer": "15 minutes."},
]
ZONES = ZoneThresholds(answer_score=0.8, answer_margin=0.2, suggest_score=0.5)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qabot.db'}"
    return request.getfixturevalue("postgres_server").database()


def generator(version: str = "v1") -> FakeGenerator:
    return FakeGenerator(
        {p["question"]: p["answer"] for p in KNOWN}, known=KNOWN, zones=ZONES, version=version
    )


class Process:
    """One serving process: its own engine on the store, its Answerer, its sync (not polling by itself)."""

    def __init__(self, answerer: Answerer, store: Any, retrain_job: RetrainJob | None = None) -> None:
        self.answerer, self.store = answerer, store
        self.sync = KnowledgeSync(answerer, store, interval_s=0, retrain_job=retrain_job)

    async def ask(self, question: str) -> str:
        return (await self.answerer.answer(question)).text


@asynccontextmanager
async def process(url: str, version: str = "v1") -> AsyncIterator[Process]:
    store = open_store(url)
    try:
        async with Answerer(generator(version), batch_wait_ms=0) as answerer:
            proc = Process(answerer, store)
            async with proc.sync:
                yield proc
    finally:
        dispose(store)


async def log(proc: Process, question: str, reply_id: int) -> int:
    answer = await proc.answerer.answer(question)
    return await async_store.log_exchange(proc.store, answer, source="discord", reply_message_id=reply_id)


async def test_a_pair_taught_in_one_process_is_answered_by_the_other_after_a_poll(url):
    async with process(url) as a, process(url) as b:
        # What the terminal's /teach and Discord's /teach do in process A.
        await async_store.teach(a.store, "What is VAR?", "The video assistant referee.", admin_id=1)
        await a.answerer.teach("What is VAR?", "The video assistant referee.")
        assert await b.ask("What is VAR?") != "The video assistant referee."
        assert [c.kind for c in await b.sync.poll()] == ["taught"]
        assert await b.ask("What is VAR?") == "The video assistant referee."
        await a.sync.poll()  # A's own change comes back to it: applied again, still answered
        assert await a.ask("What is VAR?") == "The video assistant referee."


async def test_a_correction_in_one_process_is_answered_by_the_other(url):
    async with process(url) as a, process(url) as b:
        await log(a, "Who is the best keeper?", 600)
        assert await async_store.record_correction(a.store, 600, "Lev Yashin.", admin_id=1)
        await b.sync.poll()
        answer = await b.answerer.answer("Who is the best keeper?")
        assert (answer.text, answer.answered_by) == ("Lev Yashin.", "correction")


async def test_a_wording_learned_in_one_process_is_answered_by_the_other(url):
    async with process(url) as a, process(url) as b:
        exchange_id = await log(a, "how long", 700)
        assert (await b.answerer.answer("how long")).zone == "suggest"
        assert await async_store.record_choice(a.store, exchange_id, KNOWN[1]["question"])
        await b.sync.poll()
        assert await b.ask("how long") == "15 minutes."
        # An admin's wording, and one forgotten again, travel the same way.
        assert await async_store.forget_wording(a.store, "how long", KNOWN[1]["question"]) == 1
        await b.sync.poll()
        assert (await b.answerer.answer("how long")).zone == "suggest"


async def test_a_vote_in_one_process_nudges_the_ranking_in_the_other(url):
    question = KNOWN[0]["question"]

    def score(proc: Process) -> float:
        return proc.answerer.knowledge.search_many([question])[0][0].score

    async with process(url) as a, process(url) as b:
        await log(a, question, 800)
        before = score(b)
        result = await async_store.apply_vote(a.store, 800, 42, -1)
        assert result is not None and result.delta == -1
        await b.sync.poll()
        assert score(b) == pytest.approx(before - NUDGE_PER_VOTE)
        await async_store.apply_vote(a.store, 800, 42, None, only_if=-1)  # the 👎 taken back
        await b.sync.poll()
        assert score(b) == pytest.approx(before)


async def test_a_teach_that_commits_while_a_reload_runs_is_not_hidden_by_it(url, monkeypatch):
    """The reload read the store just before this process's own teach committed (and was taught to its
    answerer): replacing the live pairs with what it read must not hide that pair until the next poll."""
    real, raced = knowledge_sync.read_knowledge, []

    def racing(session_factory: Any, parts: Any) -> dict[str, Any]:
        known = real(session_factory, parts)
        if not raced:
            raced.append(True)
            with session_factory.begin() as session:  # what /teach in this process does meanwhile
                repo.add_taught_pair(session, "What is VAR?", "The video assistant referee.")
            a.answerer.knowledge.add_live("What is VAR?", "The video assistant referee.")
        return known

    async with process(url) as a, process(url) as b:
        monkeypatch.setattr(knowledge_sync, "read_knowledge", racing)
        await async_store.teach(b.store, "Who is the best keeper?", "Lev Yashin.", admin_id=1)
        await a.sync.poll()
        assert raced and await a.ask("What is VAR?") == "The video assistant referee."
        assert await a.ask("Who is the best keeper?") == "Lev Yashin."


async def test_a_failed_reload_is_logged_and_retried_at_the_next_poll(url, monkeypatch, caplog):
    real = knowledge_sync.read_knowledge
    calls = []

    def flaky(*args: Any) -> dict[str, Any]:
        calls.append(args)
        if len(calls) <= 2:
            raise OSError("the store went away")
        return real(*args)

    async with process(url) as a, process(url) as b:
        monkeypatch.setattr(knowledge_sync, "read_knowledge", flaky)
        await async_store.teach(a.store, "What is VAR?", "The video assistant referee.", admin_id=1)
        b.sync.interval_s = 0.01
        await b.sync.close()  # restart B's sync with its loop: it must survive the failure
        await b.sync.start()
        with caplog.at_level(logging.ERROR, logger="bot.answering.knowledge_sync"):
            for _ in range(300):
                if await b.ask("What is VAR?") == "The video assistant referee.":
                    break
                await asyncio.sleep(0.01)
        assert await b.ask("What is VAR?") == "The video assistant referee."
        assert "could not load taught pairs" in caplog.text  # at start
        assert "could not follow the store's changes" in caplog.text  # the first poll
        assert len(calls) >= 3


# -- models --------------------------------------------------------------------------------------------


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Any]:
    """models/current → models/A, a fake trainer that makes a retrain's folder, and loads counted by name."""
    [first] = fake_models(tmp_path, "A")
    trainer = fake_trainer(tmp_path)
    loads: list[str] = []

    def load(path: Path) -> FakeGenerator:
        loads.append(path.name)
        if path.name == "broken":
            raise OSError("no weights in models/broken")
        return generator(path.name)

    return {"pointer": point_current(first), "trainer": trainer, "loads": loads, "load": load}


def job(proc: Process, models: dict[str, Any], tmp_path: Path) -> RetrainJob:
    retrain = RetrainJob(
        answerer=proc.answerer, session_factory=proc.store, model_pointer=models["pointer"],
        base_datasets=[small_dataset(tmp_path / "base.json")], load_generator=models["load"],
        evaluate=lambda model_dir, records: {"f1": 1.0, "n": 1}, python=models["trainer"],
    )  # fmt: skip
    proc.sync = KnowledgeSync(proc.answerer, proc.store, interval_s=0, retrain_job=retrain)
    return retrain


async def test_a_model_swapped_in_after_the_gate_is_loaded_by_the_other_process_once(url, models, tmp_path):
    async with process(url, "A") as a, process(url, "A") as b:
        job_a, job_b = job(a, models, tmp_path), job(b, models, tmp_path)
        await a.sync.start(), await b.sync.start()
        result = await job_a.run(RetrainOptions())
        assert result.status == "swapped", result.message
        new = result.model_dir.name
        assert models["loads"] == [new] and a.answerer.model_version == new  # A's own swap
        [change] = await b.sync.poll()
        assert (change.kind, change.model_path) == ("model", str(result.model_dir.resolve()))
        assert b.answerer.model_version == new and job_b.serving_dir == result.model_dir.resolve()
        assert await b.sync.poll() == [] and await a.sync.poll() != []
        assert models["loads"] == [new, new]  # once in each process: never again, never in A twice


async def test_a_model_swapped_in_while_this_process_loads_its_own_is_followed(url, models, tmp_path):
    """``qabot run`` marks the change feed, loads the model the pointer names, then builds its RetrainJob:
    a swap by another process in between (the pointer moved, the change noted) must still be followed,
    not taken as what this process already serves because the pointer names it by then."""
    async with process(url, "A") as a, process(url, "A") as b:
        feed = marked_feed(b.store)  # as build_services does, before the model loads
        b.answerer.generator.model_dir = models["pointer"].resolve()  # the folder it loaded: models/A
        [swapped] = fake_models(tmp_path, "C")  # meanwhile, another process swaps models/C in
        point_current(swapped, pointer=models["pointer"])
        await async_store.run_in_session(
            a.store, note, "model", model_path=str(swapped.resolve()), model_version="C"
        )
        job_b = job(b, models, tmp_path)  # built after the load, the pointer already at models/C
        b.sync = KnowledgeSync(b.answerer, b.store, interval_s=0, feed=feed, retrain_job=job_b)
        await b.sync.start()
        await b.sync.poll()
        assert b.answerer.model_version == "C" and job_b.serving_dir == swapped.resolve()


async def test_one_retrain_at_a_time_across_processes_and_none_on_a_model_not_followed_yet(
    url, models, tmp_path
):
    """Two processes on one models/ folder: while A retrains, B's /retrain is refused (both ran, and the
    second swap replaced the first model ungated); after A's swap, B may retrain only once it serves it."""
    async with process(url, "A") as a, process(url, "A") as b:
        job_a, job_b = job(a, models, tmp_path), job(b, models, tmp_path)
        await a.sync.start(), await b.sync.start()
        running = job_a.start(RetrainOptions())
        with pytest.raises(RetrainBusy, match="another bot process is retraining"):
            job_b.start(RetrainOptions())
        with pytest.raises(RetrainBusy, match="another bot process is retraining"):
            await job_b.reload()  # A's swap would replace what B reloads, ungated against it
        assert (await running).status == "swapped"
        with pytest.raises(RetrainBusy, match="names another model than this process loaded"):
            job_b.start(RetrainOptions())  # B still serves models/A: its gate would judge the wrong model
        await b.sync.poll()
        assert (await job_b.run(RetrainOptions())).status == "swapped"
        with pytest.raises(RetrainBusy, match="names another model than this process loaded"):
            job_a.start(RetrainOptions())  # and now A, until it follows B's swap
        await a.sync.poll()
        assert (await job_a.run(RetrainOptions())).status == "swapped"


async def test_the_retrain_lock_frees_a_plain_model_folder_a_cancelled_start_and_refuses_read_only(
    url, models, tmp_path, monkeypatch
):
    """A plain folder as MODEL_DIR (no pointer to move) retrains again and again; a run cancelled before
    its first step gives the lock back; a models folder that cannot hold the lock is a refusal, not a
    crash of /retrain."""
    import errno

    from filelock import FileLock

    async with process(url, "A") as a:
        [plain] = fake_models(tmp_path, "plain")
        retrain = RetrainJob(
            answerer=a.answerer, session_factory=a.store, model_pointer=plain,
            base_datasets=[small_dataset(tmp_path / "base.json")], load_generator=models["load"],
            evaluate=lambda model_dir, records: {"f1": 1.0, "n": 1}, python=models["trainer"],
        )  # fmt: skip
        for _ in range(2):  # the second was refused for good: "names another model than … loaded"
            assert (await retrain.run(RetrainOptions())).status == "swapped"
        cancelled = retrain.start(RetrainOptions())
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert (await retrain.run(RetrainOptions())).status == "swapped"  # not "another … is retraining"

        def read_only(self, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(FileLock, "acquire", read_only)
        with pytest.raises(RetrainBusy, match=r"cannot be written \(Read-only file system\)"):
            retrain.start(RetrainOptions())


async def test_the_retrain_lock_never_blocks_its_own_process_nor_a_deleted_pointer(url, models, tmp_path):
    """Found by a review: a start right after a run ended, or a second /reload beside a first, was refused
    as "another bot process is retraining"; a deleted models/current (the model folder still there) refused
    every retrain for good, where the run's swap makes the pointer anew."""
    async with process(url, "A") as a:
        retrain = job(a, models, tmp_path)
        running = retrain.start(RetrainOptions())
        while retrain.running:
            await asyncio.sleep(0)
        assert (await running).status == "swapped"
        again = retrain.start(RetrainOptions())  # the moment it ended
        assert (await again).status == "swapped"
        reloads = await asyncio.gather(retrain.reload(), retrain.reload(), return_exceptions=True)
        assert "a /reload is loading" in str(reloads[1])
        models["pointer"].unlink()
        result = await retrain.run(RetrainOptions())
        assert result.status == "swapped" and models["pointer"].resolve() == result.model_dir.resolve()


async def test_a_cancel_as_a_run_ends_still_records_and_announces_what_it_did(url, models, tmp_path):
    """A cancel (a shutdown, say) while a swapped run told the other processes said "cancelled … the
    previous model keeps answering" with the new model serving and the others never told; while a rejected
    run removed its model, it left the TrainingRun row "running"."""
    async with process(url, "A") as a, process(url, "A") as b:
        retrain, _ = job(a, models, tmp_path), job(b, models, tmp_path)
        await b.sync.start()
        telling, announce = asyncio.Event(), retrain._announce

        async def slow_announce(version: str) -> None:
            telling.set()
            await asyncio.sleep(0.3)  # a store write waiting on a lock
            await announce(version)

        retrain._announce = slow_announce
        running = retrain.start(RetrainOptions())
        await telling.wait()
        assert await retrain.cancel()
        result = await running
        assert result.status == "swapped" and retrain.last_result is result
        [change] = await b.sync.poll()
        assert change.model_path == str(result.model_dir.resolve())
        with a.store() as s:
            assert [r.status for r in s.query(TrainingRun)] == ["succeeded"]


async def test_a_model_that_fails_to_load_leaves_the_old_one_serving(url, models, tmp_path, caplog):
    async with process(url, "A") as a, process(url, "A") as b:
        job_a, _ = job(a, models, tmp_path), job(b, models, tmp_path)
        await b.sync.start()
        [broken] = fake_models(tmp_path, "broken")
        point_current(broken, pointer=models["pointer"])
        with pytest.raises(OSError):
            await job_a.reload()  # A cannot load it either: nothing is announced
        [good] = fake_models(tmp_path, "C")
        point_current(good, pointer=models["pointer"])
        await job_a.reload()  # /reload in A: B follows
        await b.sync.poll()
        assert b.answerer.model_version == "C"
        # A model another process serves that this one cannot load: logged, the old one keeps answering.
        await async_store.run_in_session(
            a.store, note, "model", model_path=str(broken.resolve()), model_version="broken"
        )
        with caplog.at_level(logging.ERROR, logger="bot.answering.knowledge_sync"):
            await b.sync.poll()
        assert b.answerer.model_version == "C" and "could not load model" in caplog.text
        assert await b.ask("How long is a football match?") == "90 minutes."
        await b.sync.poll()
        assert models["loads"].count("broken") == 2  # A's reload, then B once: never retried


async def test_without_a_retrain_job_the_model_is_loaded_at_the_sync_s_precision(url, tmp_path, monkeypatch):
    """``qabot chat``: no RetrainJob; the sync loads the announced folder itself."""
    import training.runtime.generate

    loaded: list[tuple[str, str]] = []

    def fake_load(path: Path, *, precision: str) -> FakeGenerator:
        loaded.append((path.name, precision))
        return generator(path.name)

    monkeypatch.setattr(training.runtime.generate.Generator, "load", staticmethod(fake_load))
    [first, second] = fake_models(tmp_path, "A", "B")
    async with process(url, "A") as a, process(url, "A") as b:
        b.sync = KnowledgeSync(b.answerer, b.store, interval_s=0, model_dir=first, precision="fp32")
        await b.sync.start()
        for folder in (first, second):  # its own model first: not loaded again
            await async_store.run_in_session(
                a.store, note, "model", model_path=str(folder), model_version=folder.name
            )
            await b.sync.poll()
        assert loaded == [("B", "fp32")] and b.answerer.model_version == "B"
