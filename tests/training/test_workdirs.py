"""Stale Trainer work folders: reported with size and age, removed when old, never while in use or resumed."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.config import TrainConfig
from training.train import TrainingError, _resolve_out, train
from training.workdirs import (
    LOCK_FILE,
    clean_stale_work,
    read_lock,
    release_lock,
    scan,
    write_lock,
)

DAY = 86400.0


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a Python process that has exited."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(proc.stdout)


@pytest.fixture
def live_pid():
    """The pid of another Python process that is running (a run still training, for its lock)."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) as proc:
        time.sleep(0.2)
        try:
            yield proc.pid
        finally:
            proc.kill()


def make_work(
    root: Path, name: str, *, pid: int | None, age_s: float = 0.0, started: float | None = None
) -> Path:
    """A work folder as a run leaves it: a Trainer checkpoint, and its lock (``pid`` None: none)."""
    work = root / f".work-{name}"
    (work / "trainer" / "checkpoint-4").mkdir(parents=True)
    (work / "trainer" / "checkpoint-4" / "optimizer.pt").write_bytes(b"\0" * 4096)
    (work / "train_config.json").write_text("{}")
    if pid is not None:
        stamp = time.time() - age_s if started is None else started
        (work / LOCK_FILE).write_text(json.dumps({"pid": pid, "started": stamp}))
    then = time.time() - age_s
    for folder, dirs, files in os.walk(work):
        for entry in dirs + files:
            os.utime(os.path.join(folder, entry), (then, then))
    os.utime(work, (then, then))
    return work


def test_an_old_folder_of_a_dead_run_is_removed_and_reported(tmp_path, dead_pid, caplog):
    old = make_work(tmp_path, "old", pid=dead_pid, age_s=2 * DAY)
    with caplog.at_level(logging.WARNING, logger="training.workdirs"):
        [stale] = clean_stale_work(tmp_path, 24)
    assert stale.removed and stale.path == old and not old.exists()
    assert stale.size >= 4096 and stale.age_s == pytest.approx(2 * DAY, abs=60)
    assert f"removed the stale training work folder {old} (4.0 KB, 2.0 days old)" in caplog.text


def test_a_young_stale_folder_is_reported_but_kept(tmp_path, dead_pid, caplog):
    young = make_work(tmp_path, "20261201-101010", pid=dead_pid, age_s=3600)
    with caplog.at_level(logging.WARNING, logger="training.workdirs"):
        [stale] = clean_stale_work(tmp_path, 24)
    assert not stale.removed and young.exists()
    assert "1.0 h old" in caplog.text and f"--resume --out {tmp_path / '20261201-101010'}" in caplog.text
    assert clean_stale_work(tmp_path, -1)[0].removed is False and young.exists()  # negative: never
    assert clean_stale_work(tmp_path, 0)[0].removed and not young.exists()  # 0: every stale one


def test_a_folder_of_a_live_python_run_is_kept(tmp_path):
    live = make_work(tmp_path, "live", pid=os.getpid(), age_s=0, started=time.time())
    os.utime(live, (time.time() - 3 * DAY, time.time() - 3 * DAY))
    assert [w.in_use for w in scan(tmp_path)] == [True]
    assert clean_stale_work(tmp_path, 0) == [] and live.exists()


def test_a_reused_pid_does_not_keep_a_folder(tmp_path):
    # alive but not Python: the pid belongs to someone else now
    with subprocess.Popen(["sleep", "30"]) as sleeper:
        try:
            other = make_work(tmp_path, "other", pid=sleeper.pid, age_s=2 * DAY)
            assert clean_stale_work(tmp_path, 24)[0].removed and not other.exists()
        finally:
            sleeper.kill()
    # alive and Python, but started after the lock was written: not the run that wrote it
    ours = make_work(tmp_path, "ours", pid=os.getpid(), age_s=2 * DAY, started=time.time() - 30 * DAY)
    assert clean_stale_work(tmp_path, 24)[0].removed and not ours.exists()


def test_the_run_being_resumed_is_kept(tmp_path, dead_pid):
    resumed = make_work(tmp_path, "resumed", pid=dead_pid, age_s=2 * DAY)
    assert clean_stale_work(tmp_path, 0, keep=[resumed]) == [] and resumed.exists()


def test_only_qabot_work_folders_are_touched(tmp_path, dead_pid):
    (tmp_path / ".work-notes").mkdir()  # no lock, config or trainer folder: not ours
    os.utime(tmp_path / ".work-notes", (0, 0))
    starting = make_work(tmp_path, "starting", pid=None)  # no lock yet: a run between mkdir and its lock
    assert clean_stale_work(tmp_path, 0) == []
    assert (tmp_path / ".work-notes").exists() and starting.exists()
    retrain = make_work(tmp_path, "retrain-1", pid=dead_pid)
    assert [w.path for w in clean_stale_work(tmp_path, 0, prefix="retrain-")] == [retrain]
    assert clean_stale_work(tmp_path / "missing", 0) == []


def test_the_lock_names_this_process_and_is_released_only_by_it(tmp_path, dead_pid):
    write_lock(tmp_path)
    lock = read_lock(tmp_path)
    assert lock["pid"] == os.getpid() and time.time() - lock["started"] < 60
    release_lock(tmp_path)
    assert read_lock(tmp_path) is None
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead_pid, "started": 0}))
    release_lock(tmp_path)
    assert read_lock(tmp_path)["pid"] == dead_pid


def test_train_cleans_beside_its_output_by_stale_work_hours(tmp_path, dead_pid):
    models = tmp_path / "models"
    models.mkdir()
    old = make_work(models, "old", pid=dead_pid, age_s=2 * DAY)
    young = make_work(models, "young", pid=dead_pid, age_s=3600)
    # No data: train() fails fast, after cleaning.
    with pytest.raises(TrainingError, match="no training data"):
        train(TrainConfig(base="scratch", out=models / "new"))
    assert not old.exists() and young.exists()
    with pytest.raises(TrainingError):
        train(TrainConfig(base="scratch", out=models / "new", stale_work_hours=0))
    assert not young.exists()


def test_resume_never_takes_over_a_folder_a_live_run_trains_in(tmp_path, dead_pid, live_pid):
    models = tmp_path / "models"
    models.mkdir()
    interrupted = make_work(models, "interrupted", pid=dead_pid, age_s=3600)
    live = make_work(models, "live", pid=live_pid, started=time.time())  # the latest: still training
    lock = (live / LOCK_FILE).read_text()
    # --resume without --out continues the latest *interrupted* run
    assert _resolve_out(TrainConfig(resume=True, models_root=models)) == models / "interrupted"
    # an explicit --out whose work folder is in use is refused, the live run's lock left alone
    for resume in (True, False):
        with pytest.raises(
            TrainingError, match=rf"\.work-live is in use by a running training run \(pid {live_pid}\)"
        ):
            train(TrainConfig(base="scratch", data=[tmp_path / "x.json"], out=models / "live", resume=resume))
    assert (live / LOCK_FILE).read_text() == lock
    # nothing but live runs: nothing to resume, and the error says which are running
    shutil.rmtree(interrupted)
    with pytest.raises(
        TrainingError, match=rf"no interrupted run .*still training: .*\.work-live \(pid {live_pid}\)"
    ):
        _resolve_out(TrainConfig(resume=True, models_root=models))


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path, monkeypatch):
    """Both named models/<timestamp>: the second one's checkpoint replaced the first one's, both said
    saved. Each run reserves its name (its work folder, locked) when it picks it."""
    models = tmp_path / "models"
    monkeypatch.setattr(time, "strftime", lambda fmt: "20261207-183843")
    first = _resolve_out(TrainConfig(models_root=models))
    second = _resolve_out(TrainConfig(models_root=models))
    assert (first.name, second.name) == ("20261207-183843", "20261207-183843-2")
    assert read_lock(models / ".work-20261207-183843-2")["pid"] == os.getpid()
    # A run that fails before training leaves no empty work folder behind to be resumed or reported.
    with pytest.raises(TrainingError, match="no training data"):
        train(TrainConfig(base="scratch", models_root=models))
    assert sorted(p.name for p in models.iterdir()) == [".work-20261207-183843", ".work-20261207-183843-2"]


def test_resume_skips_a_name_reserved_by_a_run_killed_before_it_trained(tmp_path, dead_pid):
    models = tmp_path / "models"
    models.mkdir()
    make_work(models, "interrupted", pid=dead_pid, age_s=3600)
    reserved = models / ".work-20261207-190112"  # only a lock: killed while it loaded its data
    reserved.mkdir()
    (reserved / LOCK_FILE).write_text(json.dumps({"pid": dead_pid, "started": time.time()}))
    assert _resolve_out(TrainConfig(resume=True, models_root=models)) == models / "interrupted"


def make_staging(root: Path, name: str, *, age_s: float) -> Path:
    """What ``checkpoint.staged_dir`` leaves when its run is killed: .tmp-<run>-<hex>, .old-<run>-<hex>."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 1024)
    then = time.time() - age_s
    os.utime(folder / "model.safetensors", (then, then))
    os.utime(folder, (then, then))
    return folder


def test_staging_folders_of_killed_runs_are_removed_like_work_folders(tmp_path, dead_pid, live_pid, caplog):
    make_work(tmp_path, "dead", pid=dead_pid, age_s=2 * DAY)
    (tmp_path / "dead").mkdir()  # the checkpoint the .old- folder was replaced by
    half = make_staging(tmp_path, ".tmp-dead-0123abcd", age_s=2 * DAY)
    replaced = make_staging(tmp_path, ".old-dead-4567cdef", age_s=2 * DAY)
    orphan = make_staging(tmp_path, ".tmp-nowork-89abcdef", age_s=2 * DAY)  # its work folder is gone too
    young = make_staging(tmp_path, ".tmp-young-0000aaaa", age_s=3600)
    make_work(tmp_path, "live", pid=live_pid, started=time.time())
    writing = make_staging(tmp_path, ".tmp-live-1111bbbb", age_s=2 * DAY)  # a live run's checkpoint
    only_copy = make_staging(tmp_path, ".old-gone-2222cccc", age_s=2 * DAY)  # killed between its renames
    not_ours = make_staging(tmp_path, ".tmp-notes", age_s=2 * DAY)  # not staged_dir's name
    with caplog.at_level(logging.WARNING, logger="training.workdirs"):
        stale = clean_stale_work(tmp_path, 24)
    removed = {w.path for w in stale if w.removed}
    assert removed == {tmp_path / ".work-dead", half, replaced, orphan}
    assert not any(p.exists() for p in removed)
    assert young.exists() and young in {w.path for w in stale}  # reported, removed once 24 h old
    assert writing.exists() and only_copy.exists() and not_ours.exists()
    assert "rename it back to gone" in caplog.text and "removed the staging folder" in caplog.text
    assert clean_stale_work(tmp_path, 0, keep=[tmp_path / ".work-young"]) == []  # resumed: its own kept
    assert young.exists()
    assert [w.path for w in clean_stale_work(tmp_path, 0)] == [young] and not young.exists()
