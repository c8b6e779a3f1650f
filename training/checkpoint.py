"""The checkpoint folder contract.

A checkpoint is a folder holding a ``save_pretrained`` model and tokenizer (with qabot's decoding in
``generation_config.json``, the context in ``model_max_length`` and the prompt as ``chat_template``: see
``training/interop.py``), a model card ``README.md``, the retrieval index, plus ``manifest.json`` (base
model, tokenizer choice, dataset sha256 and counts, hyper-parameters, metrics, library versions,
created_at), ``metrics.json``, ``split.json``, ``loss.png`` and ``int8.safetensors`` (GPTQ int8 weights,
see ``training/runtime/gptq.py``). It is written into a hidden temporary sibling folder and renamed into
place, so a crash never leaves a half-written checkpoint under the final name; the ``current`` pointer (a
symlink) moves only after that rename succeeded.

A plain ``save_pretrained`` folder (``config.json`` + weights, no ``manifest.json``: a hub download, a
model trained with TRL on qabot's exports) is served too, with default thresholds and no retrieval index.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

MANIFEST = "manifest.json"
METRICS = "metrics.json"
SPLIT = "split.json"
LOSS_PLOT = "loss.png"
CURRENT = "current"
# In the models folder: held by a bot's /retrain from start to swap, and by `qabot train` as it moves the
# pointer, so neither moves it under the other (bot/retrain/job.py).
RETRAIN_LOCK = ".retrain.lock"
DEFAULT_MODELS_ROOT = Path("models")
# What save_pretrained writes for the weights: one file, or an index naming the shards.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")
log = logging.getLogger(__name__)


class CheckpointError(Exception):
    """A model folder is missing, incomplete or unreadable; the message says what to do."""


TRAIN_HINT = "qabot train --data examples/soccer.json --base scratch"


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {}
    for name in ("torch", "transformers", "tokenizers", "datasets", "accelerate"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[name] = md.version(name)
    return versions


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def number_in(value: Any, low: float, high: float) -> bool:
    """Whether a value read from a checkpoint's JSON is a number from ``low`` to ``high`` (not a bool, not
    NaN): a hand-edited manifest or index must fail at load, not at every question."""
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename) so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or an unserializable value leaves no stray file
        raise


@contextlib.contextmanager
def staged_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success rename it to ``final``, else delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise CheckpointError(f"{final} already exists; choose another --out or remove it first")
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            # Move the old one aside first so there is never a moment without a complete folder.
            old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def point_current(target: Path, pointer: Path | None = None) -> Path:
    """Atomically make ``pointer`` (default: ``<target's parent>/current``) a symlink to ``target``.

    A ``CheckpointError`` naming the pointer when it cannot move (a real folder in its place, a read-only
    folder); the pointer is then unchanged and no temporary link is left beside it."""
    target = Path(target).resolve()
    pointer = Path(pointer) if pointer is not None else target.parent / CURRENT
    tmp = pointer.parent / f".{pointer.name}.{uuid.uuid4().hex[:8]}"
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        rel = os.path.relpath(target, pointer.parent.resolve())
        os.symlink(rel, tmp)
        os.replace(tmp, pointer)  # rename over the old link is atomic on POSIX
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        kind = (
            " (a folder, not a symlink: remove or rename it)"
            if pointer.is_dir() and not pointer.is_symlink()
            else ""
        )
        raise CheckpointError(f"cannot point {pointer} at {target}: {e.strerror or e}{kind}") from e
    return pointer


@contextlib.contextmanager
def pointer_free(pointer: Path) -> Iterator[None]:
    """Hold ``RETRAIN_LOCK`` beside ``pointer`` while the body moves it; a ``CheckpointError`` when a bot
    process retrains the model it names (its swap would replace what moved, unjudged). A folder that
    cannot hold the lock is let through: moving the pointer there fails with its own message."""
    lock = FileLock(Path(pointer).parent / RETRAIN_LOCK, thread_local=False)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise CheckpointError(
            f"a bot process is retraining the model {pointer} names, so it was not moved; when the "
            "retrain ends, set MODEL_DIR to the new model (or point the link at it) and /reload"
        ) from None
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def resolve_model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The real model folder behind ``path`` (default ``models/current``), checked to be loadable: a qabot
    checkpoint, or a plain ``save_pretrained`` folder (``config.json`` and weights, no manifest)."""
    path = Path(path) if path is not None else DEFAULT_MODELS_ROOT / CURRENT
    if not path.exists():
        raise CheckpointError(f"No model at {path}. Train one first: {TRAIN_HINT}")
    real = path.resolve()
    if not real.is_dir():
        raise CheckpointError(f"{path} is not a model folder. Train one with: {TRAIN_HINT}")
    has_manifest = (real / MANIFEST).is_file()
    if not (real / "config.json").is_file():
        if has_manifest:
            raise CheckpointError(
                f"{path} has no config.json: the model files are missing. Retrain: {TRAIN_HINT}"
            )
        raise CheckpointError(
            f"{path} is not a model folder: no {MANIFEST} (a qabot checkpoint) and no config.json with "
            f"weights (a save_pretrained folder). Train one with: {TRAIN_HINT}"
        )
    # Even a qabot checkpoint (whose manifest is written last) must still show its weights: a file deleted
    # since would otherwise surface as transformers' own error at load time.
    if not has_weights(real):
        what = (
            "the model files are missing. Retrain"
            if has_manifest
            else ("an incomplete save_pretrained folder. Save the model again or retrain")
        )
        raise CheckpointError(
            f"{path} has config.json but no weights ({' or '.join(WEIGHT_FILES[::2])}): {what}: {TRAIN_HINT}"
        )
    return real


def weights_file(model_dir: Path) -> str:
    """The name of the weights file (or shard index) in ``model_dir``, for error messages."""
    return next((name for name in WEIGHT_FILES if (Path(model_dir) / name).is_file()), WEIGHT_FILES[0])


def check_finite_weights(model: Any, model_dir: Path) -> None:
    """A ``CheckpointError`` naming the folder and the first parameter that holds NaN or inf: such a model
    answers garbage with a NaN confidence (not valid JSON). One sum per tensor finds them (NaN and inf
    propagate through it); only a tensor whose sum is not finite is checked element by element, so a sum
    that merely overflows is no error."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if not param.is_floating_point() or torch.isfinite(param.sum()) or torch.isfinite(param).all():
                continue
            raise CheckpointError(
                f"{model_dir}: {weights_file(model_dir)} holds NaN or infinite values, first in {name}; "
                "retrain or pick another model"
            )


def read_manifest(model_dir: str | os.PathLike[str], required: bool = True) -> dict[str, Any]:
    """``manifest.json`` of ``model_dir``. Missing: an error, or (``required=False``, a plain
    ``save_pretrained`` folder) ``{}`` and a warning that defaults apply. Corrupt: always an error."""
    path = Path(model_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        if not required:
            log.warning(
                "%s has no %s: a plain save_pretrained folder, served with default thresholds "
                "(no calibrated confidence or answer zones)",
                Path(model_dir),
                MANIFEST,
            )
            return {}
        raise CheckpointError(f"{path} is missing. Train a model with: {TRAIN_HINT}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); retrain or restore the model folder") from e
    if not isinstance(manifest, dict):
        raise CheckpointError(
            f"{path} is corrupt (it holds {json.dumps(manifest)[:40]}, not a JSON object); retrain or "
            "restore the model folder"
        )
    return manifest


def load_tokenizer(model_dir: Path) -> Any:
    """The tokenizer saved in ``model_dir``, with pad = EOS when it has no pad token."""
    from transformers import AutoTokenizer

    # transformers 5 builds an empty tokenizer for a folder without tokenizer files: refuse that by name.
    if not any((model_dir / f).is_file() for f in TOKENIZER_FILES):
        raise CheckpointError(
            f"{model_dir} has no tokenizer files: save the tokenizer into the folder too "
            "(tokenizer.save_pretrained)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{model_dir}: the tokenizer does not load ({e})") from e
    if tokenizer.eos_token_id is None:
        raise CheckpointError(f"{model_dir}: the tokenizer has no EOS token, so answers could never end")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_version(model_dir: str | os.PathLike[str]) -> str:
    """A short, stable name for a checkpoint: its folder name (``models/<run-name>``)."""
    return Path(model_dir).resolve().name
