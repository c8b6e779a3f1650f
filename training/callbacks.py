"""Trainer callbacks: the progress bar (``--progress bar``) and machine-readable progress (``--progress
json``) for the bot's retrain job."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from training.workdirs import PARENT_ENV


def emit_json(event: dict[str, Any], stream: TextIO | None = None) -> None:
    """One JSON object per line, flushed at once so a reading process sees it live."""
    stream = stream or sys.stdout
    stream.write(json.dumps(event, default=str) + "\n")
    stream.flush()


class JsonProgressCallback(TrainerCallback):
    """Prints ``{"event": "log", "step", "max_steps", "epoch", "loss", "learning_rate", "eta_s"}`` for each
    training log, and ``{"event": "eval", ..., "eval_loss", "perplexity"}`` after each evaluation."""

    def __init__(self, emit: Callable[[dict[str, Any]], None] = emit_json) -> None:
        self.emit = emit
        self.start: float | None = None
        self.start_step = 0

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 (Trainer's signature)
        self.start = time.perf_counter()
        self.start_step = state.global_step  # non-zero when resuming: do not count restored steps as speed

    def _eta(self, state: Any) -> float | None:
        done = state.global_step - self.start_step
        if self.start is None or done <= 0:
            return None
        per_step = (time.perf_counter() - self.start) / done
        return round(per_step * max(0, state.max_steps - state.global_step), 1)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero or not logs:
            return
        base = {"step": state.global_step, "max_steps": state.max_steps, "epoch": round(state.epoch or 0, 3)}
        if "loss" in logs:
            self.emit(
                {
                    "event": "log",
                    **base,
                    "loss": logs["loss"],
                    "learning_rate": logs.get("learning_rate"),
                    "grad_norm": logs.get("grad_norm"),
                    "eta_s": self._eta(state),
                }
            )
        elif "eval_loss" in logs:
            loss = logs["eval_loss"]
            self.emit({"event": "eval", **base, "eval_loss": loss, "perplexity": perplexity(loss)})


class LossBar(ProgressCallback):
    """The Trainer's progress bar, with the latest training and eval loss shown on the bar itself instead
    of a raw dict printed under it at every log (~50 per run, and the eval's after each epoch): a run in
    a terminal is one bar. The whole history is in the checkpoint (``metrics.json``, ``loss.png``)."""

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        super().on_train_begin(args, state, control, **kwargs)
        self.losses: dict[str, str] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        for key in ("loss", "eval_loss"):
            if isinstance(logs.get(key), int | float):
                self.losses[key] = f"{logs[key]:.4g}"
        self.training_bar.set_postfix(self.losses, refresh=True)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):  # noqa: ANN001, ANN201
        """No second bar at each evaluation (it was a "0/2" bar under the first): its loss is on this one."""


class ParentWatch(TrainerCallback):
    """Stops the run (as SIGTERM does: ``KeyboardInterrupt``, so its staging folder is removed) once the
    process ``PARENT_ENV`` names is no longer this one's parent; checked at every step and evaluation."""

    def __init__(self, parent_pid: int) -> None:
        self.parent_pid = parent_pid

    def check(self) -> None:
        if os.getppid() != self.parent_pid:
            raise KeyboardInterrupt(f"process {self.parent_pid}, which started this run, has exited")

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self.check()

    def on_evaluate(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self.check()

    @classmethod
    def from_env(cls) -> ParentWatch | None:
        value = os.environ.get(PARENT_ENV, "")
        return cls(int(value)) if value.isdecimal() else None


def perplexity(loss: float) -> float:
    """exp(loss), capped so a diverged run still serialises as a number."""
    return math.exp(min(loss, 50.0))
