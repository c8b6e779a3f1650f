"""`python -m training` as a process: under `torchrun --nproc_per_node 2` (DDP over gloo on CPU) it
yields one valid checkpoint written by rank 0 only; SIGTERM mid-run leaves the previous model in place."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.train_support import write_dataset
from training.checkpoint import RETRAIN_LOCK, point_current, read_manifest, resolve_model_dir, write_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_processes_write_one_checkpoint(tmp_path):
    data = write_dataset(tmp_path / "cup.json")
    out = tmp_path / "models" / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "training", "--data", str(data), "--base", "scratch", "--size", "tiny", "--max-steps", "4",
        "--out", str(out), "--progress", "json", "--recall-sample", "2", "--max-new-tokens", "4",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 1 and Path(done[0]["model_dir"]) == out  # only rank 0 reports
    assert max(e["step"] for e in events if e["event"] == "log") == 4
    assert resolve_model_dir(tmp_path / "models" / "current") == out.resolve()
    assert read_manifest(out)["metrics"]["steps"] == 4
    left = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert left == [RETRAIN_LOCK, "current", "ddp"]  # no leftovers (the pointer's lock file is empty)


@pytest.mark.slow
def test_sigterm_mid_training_leaves_previous_model_and_pointer(tmp_path):
    data = write_dataset(tmp_path / "cup.json")
    models = tmp_path / "models"
    previous = models / "previous"
    previous.mkdir(parents=True)
    write_json(previous / "manifest.json", {"base": "scratch"})
    (previous / "config.json").write_text("{}")
    (previous / "model.safetensors").write_bytes(b"")
    point_current(previous)
    cmd = [
        sys.executable, "-m", "training", "--data", str(data), "--base", "scratch", "--size", "tiny",
        "--max-steps", "100000", "--out", str(models / "new"), "--progress", "json",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until training is really under way
        if json.loads(line)["event"] == "log":
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert json.loads(rest.strip().splitlines()[-1])["event"] == "error"
    assert resolve_model_dir(models / "current") == previous.resolve()
    assert not (models / "new").exists()
    assert not list(models.glob(".tmp-*"))


@pytest.mark.slow
def test_a_run_whose_parent_is_killed_stops_and_leaves_nothing(tmp_path):
    """The bot's retrain job starts training with PARENT_ENV set to its pid; kill -9 of the bot must not
    leave the trainer training on into a model nobody gates."""
    from training.workdirs import PARENT_ENV

    data = write_dataset(tmp_path / "cup.json")
    models = tmp_path / "models"
    train = [
        sys.executable, "-m", "training", "--data", str(data), "--base", "scratch", "--size", "tiny",
        "--max-steps", "100000", "--out", str(models / "new"), "--progress", "json", "--no-current",
    ]  # fmt: skip
    # A stand-in for the bot: starts the trainer as its child (sharing our stdout pipe), then waits.
    parent = (
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen({train!r}, env={{**os.environ, {PARENT_ENV!r}: str(os.getpid())}})\n"
        "(open(sys.argv[1], 'w')).write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    pid_file = tmp_path / "child.pid"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    bot = subprocess.Popen(
        [sys.executable, "-c", parent, str(pid_file)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert bot.stdout is not None
    for line in bot.stdout:  # the trainer's progress: training is under way
        if json.loads(line)["event"] == "log":
            break
    bot.kill()  # kill -9: no chance to stop its child
    bot.wait(timeout=10)
    child = int(pid_file.read_text())
    stat = Path(f"/proc/{child}/stat")
    deadline = time.monotonic() + 60
    while stat.exists() and stat.read_text().split(") ")[1][0] != "Z":  # not exited (or not reaped) yet
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the trainer went on training after the process that started it was killed")
        time.sleep(0.2)
    rest = bot.stdout.read()  # the trainer's last lines
    assert json.loads(rest.strip().splitlines()[-1])["event"] == "error"
    assert not (models / "new").exists() and not list(models.glob(".tmp-*"))
