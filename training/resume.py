"""``--resume``: which options an interrupted run continues with, and which Trainer checkpoint it continues
from. The run's options are saved in its work folder (``CONFIG_FILE``) when it starts."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from training.config import TrainConfig, TrainingError, given_options

log = logging.getLogger(__name__)

CONFIG_FILE = "train_config.json"


def resumed_config(config: TrainConfig, work: Path) -> TrainConfig:
    """``config``; when resuming, each option not given on the command line comes from the interrupted
    run's ``train_config.json`` (its data, base, size, tokenizer, hyper-parameters...), so ``--resume``
    alone continues the same run. Where the config was built in code (no record of what the command line
    gave), the options still at their defaults are the ones restored. Never restored: where the run
    writes (--out, --models-root, --no-current), --resume itself, --progress and --stale-work-hours."""
    path = work / CONFIG_FILE
    if not config.resume or not path.is_file():
        return config
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError(f"it holds {json.dumps(saved)[:40]}, not a JSON object")
    except (OSError, ValueError) as e:
        raise TrainingError(
            f"--resume: {path} is unreadable ({e}), so the interrupted run's options are unknown: delete "
            f"it and pass them all again, or remove {work} and start a new run"
        ) from e
    given = given_options(config)
    defaults = TrainConfig()
    restored: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name not in saved or f.name in NOT_RESUMED:
            continue
        current, value = getattr(config, f.name), saved[f.name]
        if f.name == "data" or given is None:
            explicit = bool(current) if f.name == "data" else current != getattr(defaults, f.name)
        else:
            explicit = f.name in given
        if not explicit:
            restored[f.name] = _saved_value(path, f.name, value, getattr(defaults, f.name))
    if restored:
        log.info(
            "--resume: the interrupted run's options: %s", ", ".join(f"{k}={v}" for k, v in restored.items())
        )
    return dataclasses.replace(config, **restored)


NOT_RESUMED = frozenset({"out", "models_root", "no_current", "resume", "progress", "stale_work_hours"})
PATH_OPTIONS = frozenset({"holdout", "always_train"})
NUMBER_OPTIONS = frozenset({"epochs", "lr", "batch_size", "weight_decay"})


def _saved_value(path: Path, name: str, value: Any, default: Any) -> Any:
    """One option from ``train_config.json`` as ``TrainConfig`` holds it (paths as ``Path``); a value of
    the wrong type is an error naming the file and the option."""
    if name == "data":
        ok = isinstance(value, list) and all(isinstance(p, str) for p in value)
        converted: Any = [Path(p) for p in value] if ok else None
    elif name in PATH_OPTIONS:
        ok = value is None or isinstance(value, str)
        converted = None if value is None else Path(value)
    elif name in NUMBER_OPTIONS:  # None in TrainConfig (per-base defaults), numbers once resolved
        ok, converted = (
            value is None or (isinstance(value, int | float) and not isinstance(value, bool)),
            value,
        )
    elif value is None or default is None:
        ok, converted = True, value
    elif isinstance(default, bool):
        ok, converted = isinstance(value, bool), value
    elif isinstance(default, int | float):
        ok, converted = isinstance(value, int | float) and not isinstance(value, bool), value
    else:
        ok, converted = isinstance(value, type(default)), value
    if not ok:
        raise TrainingError(
            f"--resume: {path} is corrupt: {name} = {json.dumps(value)[:40]} is not a valid value; delete "
            f"it and pass the run's options again, or remove {path.parent} and start a new run"
        )
    return converted


def last_complete_checkpoint(trainer_dir: Path, remove_incomplete: bool) -> str | None:
    """The newest Trainer checkpoint ``checkpoint-N`` under ``trainer_dir`` that was written to the end.

    Trainer writes ``trainer_state.json`` after the weights, optimizer and RNG state, so a folder without a
    readable one is a run killed mid-save; ``get_last_checkpoint`` would pick it for its higher number.
    Those are skipped and (``remove_incomplete``, rank 0) removed: Trainer's rotation by number would
    otherwise keep them and delete the complete checkpoints this run saves."""
    best: tuple[int, Path] | None = None
    for path in trainer_dir.glob("checkpoint-*"):
        number = path.name.removeprefix("checkpoint-")
        if not number.isdigit() or not path.is_dir():
            continue
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("%s is incomplete (a run stopped while saving it): not resumed from", path)
            if remove_incomplete:
                shutil.rmtree(path, ignore_errors=True)
            continue
        if best is None or int(number) > best[0]:
            best = (int(number), path)
    return str(best[1]) if best else None
