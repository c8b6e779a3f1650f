"""RetrainJob end to end: export → `python -m training` subprocess → gate → swap (or keep the old model)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import async_store
from bot.answering.answerer import Answerer
from bot.retrain import RetrainBusy, RetrainData, RetrainJob, RetrainOptions, gate
from bot.retrain.job import RETRAIN_LOCK
from storage.models import Exchange, TrainingRun
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import TRAIN_FAST, fake_models, fake_trainer, small_dataset
from training.checkpoint import point_current
from training.config import parse_config
from training.runtime.generate import Generator

pytestmark = pytest.mark.slow


@pytest.fixture
def serving(tmp_path: Path, trained_tiny: Path) -> Path:
    """models/current → a private copy of the tiny trained model (the test may move the pointer)."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(trained_tiny, models / trained_tiny.name)
    return point_current(models / trained_tiny.name)


def runs(store) -> list[TrainingRun]:
    with store() as session:
        return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id)))


async def test_retrain_swaps_in_a_model_that_is_not_worse(tmp_path, store, serving):
    await async_store.teach(store, "Who is the best goalkeeper ever?", "Many say Lev Yashin.", admin_id=1)
    data = small_dataset(tmp_path / "base.json")
    old_version = serving.resolve().name
    async with Answerer(Generator.load(serving, precision="fp32"), batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer,
            session_factory=store,
            model_pointer=serving,
            base_datasets=[data],
            # --lr 0: the fine-tuned model equals the serving one, so the gate sees equal scores and
            # "not worse" must let it through (deterministically).
            train_args=[*TRAIN_FAST, "--lr", "0"],
            precision="fp32",
        )
        seen = []

        async def on_progress(progress):
            seen.append((progress.phase, progress.step))

        result = await job.run(RetrainOptions(triggered_by="test"), on_progress)
        assert result.status == "swapped", result.message
        new_version = result.model_dir.name
        assert new_version != old_version
        assert answerer.model_version == new_version
        assert serving.resolve() == result.model_dir.resolve()  # models/current moved
        assert ("train", 2) in seen and seen[-1][0] == "done"
        assert result.new_metrics["f1"] == pytest.approx(result.old_metrics["f1"])

        # The next exchange is answered (and logged) by the new model.
        answer = await answerer.answer("Who won the 2014 World Cup?")
        await async_store.log_exchange(store, answer, source="terminal")
    with store() as session:
        assert session.scalars(select(Exchange.model_version)).one() == new_version
    [run] = runs(store)
    assert run.status == "succeeded" and run.triggered_by == "test"
    assert run.model_path == str(result.model_dir)
    assert run.metrics["new"]["f1"] == pytest.approx(result.new_metrics["f1"])
    assert run.dataset_sha256 and run.counts["train"] > 0


async def test_failing_retrain_keeps_the_old_model_serving(tmp_path, store, serving):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"question": "only a question"}]', encoding="utf-8")
    old_target = serving.resolve()
    generator = FakeGenerator(version="old-model")
    async with Answerer(generator, batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer, session_factory=store, model_pointer=serving, base_datasets=[broken]
        )
        result = await job.run(RetrainOptions(triggered_by="test"))
        assert result.status == "failed"
        assert "broken.json" in result.message  # the trainer's own explanation reaches the admin
        assert "previous model keeps answering" in result.message
        assert answerer.model_version == "old-model"
        assert (await answerer.answer("still there?")).model_version == "old-model"
    assert serving.resolve() == old_target
    [run] = runs(store)
    assert run.status == "failed" and "broken.json" in run.error


async def test_cancel_kills_the_trainer_and_keeps_the_old_model(tmp_path, store, serving):
    data = small_dataset(tmp_path / "base.json")
    old_target = serving.resolve()
    async with Answerer(FakeGenerator(version="old-model"), batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer,
            session_factory=store,
            model_pointer=serving,
            base_datasets=[data],
            train_args=["--max-steps", "100000", "--recall-sample", "0"],
        )
        training = asyncio.Event()

        async def on_progress(progress):
            if progress.phase == "train" and progress.step:
                training.set()

        task = job.start(RetrainOptions(triggered_by="test"), on_progress)
        await asyncio.wait_for(training.wait(), timeout=120)
        with pytest.raises(RetrainBusy):  # one job at a time
            job.start(RetrainOptions(triggered_by="someone else"))
        assert await job.cancel() is True
        result = await task
        assert result.status == "cancelled"
        assert answerer.model_version == "old-model"
    assert serving.resolve() == old_target
    # Neither the half-trained model nor the Trainer's work folder (optimizer state) is left behind.
    names = [old_target.name, serving.name, RETRAIN_LOCK]  # the lock file stays (the OS lock went)
    assert sorted(p.name for p in serving.parent.iterdir()) == sorted(names)
    assert runs(store)[0].status == "cancelled"


async def test_retrain_removes_work_folders_its_crashed_runs_left(tmp_path, store):
    """After a crash of the bot, a killed trainer's work folder (optimizer state) goes at the next start
    and at the next run; a live trainer's and ``qabot train``'s own (for --resume) are kept."""
    from training.workdirs import LOCK_FILE

    models = tmp_path / "models"
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(exited.stdout)

    def work(name: str, pid: int) -> Path:
        folder = models / f".work-{name}"
        (folder / "trainer").mkdir(parents=True)
        (folder / LOCK_FILE).write_text(json.dumps({"pid": pid, "started": time.time()}))
        return folder

    crashed = work("retrain-20260101-000000-000001", dead_pid)
    running = work("retrain-20260101-000000-000002", os.getpid())
    interrupted = work("20260101-000000", dead_pid)
    job = RetrainJob(answerer=None, session_factory=store, model_pointer=models / "current")
    assert not crashed.exists() and running.exists() and interrupted.exists()
    crashed = work("retrain-20260101-000000-000003", dead_pid)
    result = await job.run(RetrainOptions(triggered_by="test"))  # nothing to train on: it stops early
    assert result.status == "failed" and "Nothing to train on" in result.message
    assert not crashed.exists() and running.exists() and interrupted.exists()


async def test_gate_rejects_a_worse_model_unless_forced(tmp_path, serving):
    scores = {"old": 0.6, "new": 0.4}
    old_dir, new_dir = serving.resolve(), tmp_path / "new"

    seen = []

    def evaluate(model_dir, records):
        seen.append(len(records or []))
        return {"f1": scores["old" if model_dir == old_dir else "new"], "n": len(records or [])}

    verdict = await gate.compare(new_dir, old_dir, evaluate=evaluate)
    assert not verdict.accepted and "worse" in verdict.reason
    assert (verdict.new["f1"], verdict.old["f1"]) == (0.4, 0.6)
    assert seen == [4, 4]  # both scored on the serving model's recorded eval split
    assert (await gate.compare(new_dir, old_dir, force=True, evaluate=evaluate)).reason.startswith(
        "Swapped (forced)"
    )
    scores["new"] = 0.6
    assert (await gate.compare(new_dir, old_dir, evaluate=evaluate)).accepted  # equal is "not worse"
    assert (await gate.compare(new_dir, None, evaluate=evaluate)).accepted  # the first model
    # Questions this retrain was taught are not a fair test: the gate leaves them out.
    taught = [r["question"] for r in gate.eval_records(old_dir)[:3]]
    seen.clear()
    await gate.compare(new_dir, old_dir, evaluate=evaluate, exclude=[q.upper() for q in taught])
    assert seen == [1, 1]
    # All of them taught: nothing is left to compare on (None would score each on its own split).
    seen.clear()
    everything = [r["question"] for r in gate.eval_records(old_dir)]
    verdict = await gate.compare(new_dir, old_dir, evaluate=evaluate, exclude=everything)
    assert not verdict.accepted and "no eval question is left" in verdict.reason and seen == []
    forced = await gate.compare(new_dir, old_dir, force=True, evaluate=evaluate, exclude=everything)
    assert forced.accepted and forced.reason.startswith("Swapped (forced) with no eval question")


async def test_retrain_learns_only_vouched_for_answers_and_holds_out_the_gate_questions(
    tmp_path, store, serving
):
    from storage import repo, votes

    with store.begin() as session:
        common = {"model_version": "m", "confidence": 0.9, "latency_ms": 5.0, "source": "discord"}
        guess = repo.log_exchange(
            session, question="Unrated guess?", answer="A guess.", unanswered=False, **common
        )
        liked = repo.log_exchange(
            session, question="Liked one?", answer="A good one.", unanswered=False, **common
        )
        repo.log_exchange(session, question="Unknown?", answer="I'm not sure.", unanswered=True, **common)
        votes.set_vote(session, liked.id, "u1", +1)
        votes.set_vote(session, guess.id, "u1", +1)
        votes.set_vote(session, guess.id, "u2", -1)  # net 0: nobody vouched for it
        repo.add_taught_pair(session, "Taught one?", "Taught answer.", admin_id="1")
    job = RetrainJob(answerer=None, session_factory=store, model_pointer=serving, base_datasets=[])
    data = await job._export(tmp_path)
    assert data.base == [] and data.store_export is not None
    exported = json.loads(data.store_export.read_text())
    assert {r["question"] for r in exported} == {"Liked one?", "Taught one?"}
    assert sorted(data.store_questions()) == ["Liked one?", "Taught one?"]  # the gate leaves these out
    options = RetrainOptions(triggered_by="test")
    cmd = job._train_command(data, options, tmp_path / "out")
    assert cmd[1:3] == ["-m", "training"]
    config = parse_config(cmd[3:])  # the trainer's own parser
    assert (config.out, config.no_current, config.progress) == (tmp_path / "out", True, "json")
    assert config.base == str(serving.resolve())  # fine-tunes the serving model
    assert config.holdout == serving.resolve() / "split.json"
    assert config.always_train == data.store_export  # taught answers are never held out
    # Only the store's export is always trained on, whatever a base dataset's file is called.
    look_alike = RetrainData(store_export=None, base=[data.store_export])
    assert "--always-train" not in job._train_command(look_alike, options, tmp_path / "out")


async def test_the_trainer_process_never_sees_the_discord_token(tmp_path, monkeypatch):
    from bot.retrain.trainer_process import TrainerProcess

    for name in ("DISCORD_TOKEN", "discord_token", "Discord_Token"):  # settings read the name in any case
        monkeypatch.setenv(name, "MTIz.secret")
    probe = "import json, os; print(json.dumps({'event': 'done', 'env': dict(os.environ)}))"
    proc = TrainerProcess([sys.executable, "-c", probe], tmp_path / "stderr.log")
    done = await proc.run(lambda event: asyncio.sleep(0))
    assert "MTIz.secret" not in json.dumps(done["env"])


async def test_no_retrain_starts_while_a_reload_is_loading(store, serving):
    import time

    def slow_load(model_dir):
        time.sleep(0.3)
        return FakeGenerator(version="reloaded")

    async with Answerer(FakeGenerator(version="old"), batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer, session_factory=store, model_pointer=serving, load_generator=slow_load
        )
        reload = asyncio.create_task(job.reload())
        await asyncio.sleep(0.05)
        with pytest.raises(RetrainBusy, match="reload"):
            job.start(RetrainOptions(triggered_by="test"))
        await reload
        assert answerer.model_version == "reloaded"


async def test_cancelling_a_trainer_process_stops_the_child(tmp_path):
    from bot.retrain.trainer_process import TrainerProcess

    proc = TrainerProcess([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "stderr.log")
    task = asyncio.create_task(proc.run(lambda event: asyncio.sleep(0)))
    while not proc.running:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)  # SIGTERM ends a sleeping child at once, not after 60 s
    assert not proc.running


async def test_a_failed_run_never_removes_an_earlier_retrains_model(tmp_path, store):
    first, other = fake_models(tmp_path, "A", "B")
    pointer = point_current(first)
    data = small_dataset(tmp_path / "base.json")
    async with Answerer(FakeGenerator(version="A"), batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer, session_factory=store, model_pointer=pointer, base_datasets=[data],
            load_generator=lambda path: FakeGenerator(version=path.name),
            evaluate=lambda model_dir, records: {"f1": 1.0, "n": 1}, python=fake_trainer(tmp_path),
        )  # fmt: skip
        swapped = (await job.run(RetrainOptions())).model_dir
        assert swapped is not None and swapped.is_dir()
        point_current(other, pointer=pointer)  # an admin serves another model (qabot train, /reload)
        await job.reload()
        data.unlink()  # the next run fails before training
        assert (await job.run(RetrainOptions())).status == "failed"
        assert swapped.is_dir()  # a gated model that served is no failed run's output to discard


async def test_a_retrain_the_gate_could_only_reject_is_refused_before_training(tmp_path, store):
    """After `qabot import` of the base dataset, every question is taught: no eval question is left for the
    gate, so the run is refused at once (the trainer never starts) with the gate's advice; force trains."""
    [serving] = fake_models(tmp_path, "serving")  # its eval split: "q?"
    pointer = point_current(serving)
    base = tmp_path / "base.json"
    base.write_text(json.dumps([{"question": "q?", "answer": "a"}, {"question": "Q2?", "answer": "b"}]))
    for question in ("Q?", "q2"):  # as `qabot import` teaches them (compared by key)
        await async_store.teach(store, question, "taught", admin_id=1)
    started = tmp_path / "trainer-started"
    trainer = tmp_path / "python"
    trainer.write_text(f"#!/bin/sh\ntouch {started}\nexit 1\n")
    trainer.chmod(0o755)
    job = RetrainJob(
        answerer=None, session_factory=store, model_pointer=pointer, base_datasets=[base], python=str(trainer)
    )
    result = await job.run(RetrainOptions(triggered_by="test"))
    assert result.status == "rejected" and not started.exists()
    assert "no eval question is left to compare the two models on" in result.message
    assert "use force" in result.message and result.model_dir is None
    assert runs(store)[-1].status == "failed"  # recorded, like the gate's rejections
    assert (await job.run(RetrainOptions(force=True))).status == "failed" and started.exists()
    # A question nobody taught is left for the new model's eval split: the run goes on to the gate.
    started.unlink()
    base.write_text(json.dumps([{"question": "q?", "answer": "a"}, {"question": "Untaught?", "answer": "c"}]))
    assert (await job.run(RetrainOptions())).status == "failed" and started.exists()


def test_the_refusal_says_when_the_serving_model_has_no_eval_split(tmp_path):
    """A serving model saved without an eval split (``--eval-fraction 0``) and every question taught: the
    refusal says so, rather than that its eval questions were all taught since."""
    from bot.retrain.inputs import NothingToCompare, check_comparable

    serving = tmp_path / "serving"
    serving.mkdir()
    taught = tmp_path / "store.json"
    taught.write_text(json.dumps([{"question": "q?", "answer": "a"}]))
    with pytest.raises(NothingToCompare, match="the serving model has no eval split"):
        check_comparable(RetrainData(store_export=taught, base=[taught]), serving)


async def test_a_cancel_right_after_start_ends_in_a_cancelled_result(tmp_path, store):
    [first] = fake_models(tmp_path, "A")
    job = RetrainJob(answerer=None, session_factory=store, model_pointer=point_current(first))
    job.start(RetrainOptions())
    await asyncio.sleep(0)  # the run has begun (cleaning stale work folders)
    assert await job.cancel()  # no CancelledError into the caller
    assert job.last_result is not None and job.last_result.status == "cancelled"


async def test_retrain_tunes_the_encoder_on_the_wordings_people_chose(tmp_path, store, serving):
    from storage import repo

    with store.begin() as session:
        common = {"model_version": "m", "confidence": 0.4, "latency_ms": 5.0, "source": "discord"}
        common.update(answer="Did you mean…", unanswered=False, zone="suggest")
        asked = repo.log_exchange(session, question="goalie job?", **common)
        repo.record_choice(session, asked.id, "What is the role of the goalkeeper?")
        repo.add_taught_pair(session, "Taught one?", "Taught answer.", admin_id="1")
    job = RetrainJob(answerer=None, session_factory=store, model_pointer=serving, base_datasets=[])
    data = await job._export(tmp_path)
    assert json.loads(data.wordings.read_text()) == [
        {"wording": "goalie job?", "question": "What is the role of the goalkeeper?"}
    ]
    config = parse_config(job._train_command(data, RetrainOptions(triggered_by="test"), tmp_path / "o")[3:])
    assert config.wordings == data.wordings
    # Without any choice there is no file and no flag.
    no_choices = RetrainData(store_export=data.store_export, base=[])
    options = RetrainOptions(triggered_by="t")
    assert "--wordings" not in job._train_command(no_choices, options, tmp_path / "o")
