"""Deterministic train/eval split grouped by question: every record whose question has the same
``comparison_key`` goes to the same side, so no question is both trained on and evaluated on.

Groups are ordered by a seeded hash of their key (not by position), so the split does not depend on
the order of the input, and eval takes groups in that order until it holds ``eval_fraction`` of the
records. Tiny datasets: with fewer than ``MIN_GROUPS`` distinct questions there is no eval set (all
records train) and a ``DatasetWarning`` says so; otherwise eval gets at least one question and train
keeps at least one. ``holdout`` questions always go to eval first: the retrain gate passes the serving
model's eval questions, so a retrained model is never trained on the questions it is judged by.
``train_only`` questions never go to eval, holdout or not: what an admin taught must be learned.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence

from training.data.errors import DatasetWarning
from training.data.normalize import comparison_key
from training.records import Record

DEFAULT_EVAL_FRACTION = 0.15
# Fewer distinct questions than this cannot give an eval score worth reading.
MIN_GROUPS = 2
SMALL_EVAL = 10  # below this many eval records, metrics swing by 10 points per answer


def _rank(key: str, seed: int) -> bytes:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8, salt=seed.to_bytes(8, "little")).digest()


def split_records(
    records: Sequence[Record],
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    seed: int = 0,
    holdout: Iterable[str] = (),
    train_only: Iterable[str] = (),
) -> tuple[list[Record], list[Record]]:
    """(train, eval): a deterministic split of ``records`` grouped by question comparison key;
    questions in ``holdout`` (compared by key) are always in eval, those in ``train_only`` never."""
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), not {eval_fraction}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), not {seed}")
    keys = [comparison_key(r["question"]) for r in records]
    sizes: dict[str, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    if eval_fraction == 0.0 or not records:
        return list(records), []
    if len(sizes) < MIN_GROUPS:
        warnings.warn(
            f"only {len(sizes)} distinct question(s): no eval split, all {len(records)} records train",
            DatasetWarning,
            stacklevel=2,
        )
        return list(records), []
    target = round(eval_fraction * len(records))
    eval_keys: set[str] = set()
    held = 0
    trained = {comparison_key(q) for q in train_only}
    forced = {comparison_key(q) for q in holdout} - trained
    # Held-out questions first, then the rest in seeded-hash order.
    for key in sorted(sizes.keys() - trained, key=lambda k: (k not in forced, _rank(k, seed), k)):
        # Stop once the target is met; always leave train at least one question.
        full = (held >= target and eval_keys) or len(eval_keys) == len(sizes) - 1
        if key not in forced and full:
            break
        eval_keys.add(key)
        held += sizes[key]
    if held < SMALL_EVAL:
        warnings.warn(
            f"small dataset: the eval split holds only {held} record(s), so its metrics are noisy",
            DatasetWarning,
            stacklevel=2,
        )
    train = [r for r, k in zip(records, keys, strict=True) if k not in eval_keys]
    evaluation = [r for r, k in zip(records, keys, strict=True) if k in eval_keys]
    return train, evaluation
