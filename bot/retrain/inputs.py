"""What a retrain trains on, and the trainer command line that trains on it (the run itself:
``bot.retrain.job``).

``export_inputs`` writes a run's dataset files into its temporary folder: the store's pairs people vouched
for (past the length limits left out), the ``BASE_DATASETS`` files that exist, the admins' synonyms and
people's wordings of known questions. ``train_command`` turns them and the run's options into ``python -m
training``'s command line: the serving model's eval questions held out (the gate judges on them), the
store's pairs always trained on, fine-tuning the serving model unless ``from_scratch``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import async_store
from bot.async_store import SessionFactory
from bot.retrain.gate import NOTHING_TO_COMPARE, eval_records, fair_records
from bot.retrain.state import RetrainData, RetrainOptions
from bot.retrain.trainer_process import trainer_command
from training.checkpoint import SPLIT
from training.retrieval.alterations import retrain_synonyms

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer

log = logging.getLogger(__name__)

STORE_EXPORT = "qabot-store-export.json"  # the store export's name in the run's temporary folder
SYNONYMS_EXPORT = "qabot-synonyms.json"  # the admins' synonyms, saved in the new checkpoint
WORDINGS_EXPORT = "qabot-wordings.json"  # people's wordings of known questions, the encoder's tuning


class NothingToTrain(Exception):
    """A run cannot go on (nothing to train on); the message says why."""


class NothingToCompare(NothingToTrain):
    """The gate could only reject what the run would train (``check_comparable``): refused before training."""


def check_comparable(data: RetrainData, serving_dir: Path | None) -> None:
    """Raise ``NothingToCompare`` when the gate (``bot.retrain.gate.compare``) would have no question to ask
    both models: every eval question of the serving model was taught since (the run trains on it), and no
    question of ``data`` is left for the new model's own eval split either. Checked before training, so
    the run is refused at once instead of after the minutes it trains (``force`` skips the check)."""
    from training.data import comparison_key, load_dataset_file

    learned = data.store_questions()
    if serving_dir is None or fair_records(serving_dir, learned):
        return
    taught = {comparison_key(q) for q in learned}
    for path in data.base:  # the store export's questions are all taught: never in the new eval split
        try:
            records = load_dataset_file(path)
        except Exception:  # the trainer says what is wrong with the file, with its exit code
            return
        if any(comparison_key(r["question"]) not in taught for r in records):
            return
    why = (
        NOTHING_TO_COMPARE
        if eval_records(serving_dir)
        else NOTHING_TO_COMPARE.replace(
            "all were taught since",
            "the serving model has no eval split, and every question was taught since",
        )
    )
    raise NothingToCompare(f"Not retrained: {why}; use force to retrain and swap anyway.")


async def export_inputs(
    session_factory: SessionFactory, base_datasets: Sequence[Path], answerer: Answerer | None, tmp: Path
) -> tuple[RetrainData, str]:
    """Write the run's dataset files into ``tmp``: (what to train on, a line saying how much). Raises
    ``NothingToTrain`` when the store has nothing to teach and no ``BASE_DATASETS`` file exists."""
    from storage.export import ExportFilters, export_dataset

    # Learn only what people vouched for: upvoted answers, admin corrections (which pass these filters
    # with the admin's answer) and taught pairs. An unrated answer is the model's own guess; training on
    # it would only reinforce it, and the fallback ("I'm not sure…") must never be learned.
    filters = ExportFilters(exclude_unanswered=True, min_score=1)
    store_file = tmp / STORE_EXPORT
    n = await asyncio.to_thread(export_dataset, session_factory, "json", store_file, filters)
    missing = [p for p in base_datasets if not p.is_file()]
    for path in missing:
        log.warning("BASE_DATASETS file %s does not exist; retraining without it", path)
    data = RetrainData(
        store_export=store_file if n else None,
        base=[p.absolute() for p in base_datasets if p.is_file()],
    )
    if too_long := await asyncio.to_thread(data.drop_oversized):
        log.warning("retrain: %d store pair(s) past the question/answer length limits left out", too_long)
    if not data.files:
        raise NothingToTrain("Nothing to train on: the store is empty and no BASE_DATASETS file exists.")
    # The admins' synonyms go into the new checkpoint's alterations: the serving checkpoint's (its
    # glossary, what earlier retrains carried), then the store's /synonym rows over them.
    index = answerer.generator.index if answerer is not None else None
    stored = await async_store.synonyms(session_factory)
    rows, left_out = retrain_synonyms(index.alterations if index is not None else None, stored)
    for word, why in left_out:
        log.warning("retrain: synonym %r left out: %s", word, why)
    if rows:
        data.synonyms = tmp / SYNONYMS_EXPORT
        data.synonyms.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    wordings = await async_store.learned_wordings(session_factory)
    if wordings:  # what people typed for a known question ("did you mean" choices, taught wordings)
        data.wordings = tmp / WORDINGS_EXPORT
        rows = [{"wording": w["wording"], "question": w["question"]} for w in wordings]
        data.wordings.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    skipped = f" ({too_long} too long to train on left out)" if too_long else ""
    detail = f"{n - too_long} records from the store{skipped} + {len(data.base)} base dataset(s)"
    return data, detail


def train_command(
    data: RetrainData,
    options: RetrainOptions,
    out: Path,
    *,
    serving_dir: Path | None,
    train_args: Sequence[str],
    python: str,
) -> list[str]:
    """The trainer's command line for a run writing its model to ``out``."""
    # --no-current (trainer_command): the gate, not the trainer, decides whether models/current moves.
    extra: list[str] = []
    if options.epochs is not None:
        extra += ["--epochs", str(options.epochs)]
    if serving_dir is not None and (serving_dir / SPLIT).is_file():
        # The gate judges both models on the serving model's eval questions: keep them out of training.
        extra += ["--holdout", str(serving_dir / SPLIT)]
    if data.store_export is not None:
        # ...except what admins taught or corrected and what people upvoted: that must be learned.
        extra += ["--always-train", str(data.store_export)]
    if data.synonyms is not None:
        extra += ["--synonyms", str(data.synonyms)]
    if data.wordings is not None:  # the sentence encoder is tuned on them too
        extra += ["--wordings", str(data.wordings)]
    return trainer_command(
        out,
        data.files,
        base=None if options.from_scratch else serving_dir,  # else fine-tune the serving model
        json_progress=True,
        options=[*extra, *train_args],
        python=python,
    )
