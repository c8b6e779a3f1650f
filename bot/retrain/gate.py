"""The retrain gate: a new checkpoint replaces the serving one only if it is not worse on a fixed eval set.

The fixed set is the serving model's recorded eval split (``split.json``), so successive models are
compared on the same questions; a first model (or a serving model without a split) is checked on the new
model's own eval split and always accepted. The metric is token F1 (``training.metrics``), the score the
README reports; equal scores pass ("not worse"), and ``force`` swaps a worse model with a note saying so.
Questions the retrain was taught are left out; when none is left to ask both models, the new one is
rejected unless forced (it has proved nothing); ``bot.retrain.inputs.check_comparable`` refuses such a run
before it trains.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answering import torch_thread

GATE_METRIC = "f1"
GATE_TOLERANCE = 1e-9  # float noise; two tiny models that both score 0 are "equal", not "worse"

Records = list[dict[str, str]]
NOTHING_TO_COMPARE = "no eval question is left to compare the two models on (all were taught since)"
Evaluate = Callable[[Path, Records | None], dict[str, Any]]


@dataclass
class Verdict:
    accepted: bool
    reason: str
    new: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)


def default_evaluate(model_dir: Path, records: Records | None) -> dict[str, Any]:
    from training.evaluate import evaluate_model

    return evaluate_model(model_dir, records=records)


def eval_records(model_dir: Path) -> Records | None:
    """The eval split a checkpoint recorded in ``split.json`` (None when it has none)."""
    from training.checkpoint import SPLIT
    from training.evaluate import read_split

    if not (Path(model_dir) / SPLIT).is_file():
        return None
    records = read_split(model_dir)["eval"]
    return [{"question": r["question"], "answer": r["answer"]} for r in records] or None


def fair_records(model_dir: Path, exclude: Collection[str] = ()) -> Records:
    """``model_dir``'s recorded eval split less the ``exclude`` questions (compared by key): what the gate
    may ask."""
    from training.data import comparison_key

    skip = {comparison_key(q) for q in exclude}
    return [r for r in eval_records(model_dir) or [] if comparison_key(r["question"]) not in skip]


def score_text(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in ("f1", "exact_match", "rougeL") if k in metrics)


async def compare(
    new_dir: Path,
    serving_dir: Path | None,
    *,
    force: bool = False,
    evaluate: Evaluate = default_evaluate,
    exclude: Collection[str] = (),
) -> Verdict:
    """Evaluate both checkpoints (each on a thread of its own, so the torch thread goes on answering) on the
    same records, leaving out the ``exclude`` questions (what this retrain was taught: a fair test must not
    ask them)."""
    records = (fair_records(serving_dir, exclude) if serving_dir is not None else []) or fair_records(
        new_dir, exclude
    )
    if serving_dir is None:
        new = await torch_thread.in_own_thread(evaluate, new_dir, records or None)
        return Verdict(True, f"First model: {score_text(new)}.", new)
    if not records:  # None would score each model on a split of its own: no comparison at all
        reason = NOTHING_TO_COMPARE
        if force:
            new = await torch_thread.in_own_thread(evaluate, new_dir, None)
            return Verdict(True, f"Swapped (forced) with {reason}: new {score_text(new)}.", new)
        return Verdict(False, f"Rejected: {reason}; use force to swap anyway.", {})
    new = await torch_thread.in_own_thread(evaluate, new_dir, records)
    old = await torch_thread.in_own_thread(evaluate, serving_dir, records)
    n = new.get("n", len(records or []))
    comparison = f"new {score_text(new)} vs serving {score_text(old)} on {n} questions"
    if new.get(GATE_METRIC, 0.0) + GATE_TOLERANCE >= old.get(GATE_METRIC, 0.0):
        return Verdict(True, f"Swapped: {comparison}.", new, old)
    if force:
        return Verdict(True, f"Swapped (forced) although worse: {comparison}.", new, old)
    return Verdict(
        False, f"Rejected: the new model is worse ({comparison}); use force to swap anyway.", new, old
    )
