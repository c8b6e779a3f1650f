"""`python -m training` under `torchrun --nproc_per_node 2` (DDP over gloo on CPU) yields one valid
checkpoint, written by rank 0 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.train_support import write_dataset
from training.checkpoint import read_manifest, resolve_model_dir

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
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["current", "ddp"]  # no leftovers
