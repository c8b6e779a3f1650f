"""The ``TrainingRun`` row of each retrain (``storage.runs``): written when a run starts and completed when
it ends, with its status, metrics, model folder, dataset hash and counts. A store that cannot be written is
logged and the run goes on: the row is a record, not a step."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bot.async_store import SessionFactory, run_in_session
from bot.retrain.state import RetrainOptions, RetrainResult

log = logging.getLogger(__name__)

# storage's TrainingRun statuses; a gate rejection is a failed run whose error says "Rejected: …".
RUN_STATUS = {"swapped": "succeeded", "rejected": "failed", "failed": "failed", "cancelled": "cancelled"}


async def start_row(session_factory: SessionFactory, options: RetrainOptions) -> int | None:
    """The new row's id, or None when it could not be written (logged)."""
    from storage import runs

    def write(session: Any) -> int:
        row = runs.start_training_run(session, triggered_by=options.triggered_by)
        session.flush()
        return row.id

    try:
        return await run_in_session(session_factory, write)
    except Exception:
        log.exception("could not record the training run start")
        return None


async def finish_row(
    session_factory: SessionFactory, result: RetrainResult, manifest: dict[str, Any]
) -> None:
    """Complete the row of ``result`` with how the run ended, and what its ``manifest`` says of its data."""
    if result.run_id is None:
        return
    from storage import runs

    dataset = manifest.get("dataset") or {}
    counts = {k: dataset[k] for k in ("records_in", "records_out", "train", "eval") if k in dataset}
    metrics = {"new": result.new_metrics, "serving": result.old_metrics} if result.new_metrics else None
    try:
        await run_in_session(
            session_factory,
            runs.finish_training_run,
            result.run_id,
            status=RUN_STATUS[result.status],
            metrics=metrics,
            model_path=str(result.model_dir) if result.model_dir else None,
            error=None if result.ok else result.message,
            dataset_sha256=dataset.get("sha256"),
            counts=counts or None,
        )
    except Exception:
        log.exception("could not record the training run result")


def manifest_or_nothing(model_dir: Path) -> dict[str, Any]:
    """The new checkpoint's manifest, or ``{}`` when it cannot be read (the row then goes without it)."""
    try:
        from training.checkpoint import read_manifest

        return read_manifest(model_dir)
    except Exception:
        return {}
