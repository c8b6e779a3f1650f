"""The training-run rows: one per retrain, from start to how it ended. Like ``storage.repo``, each function
takes a ``Session`` whose transaction the caller owns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import TrainingRun, utc_now
from storage.repo import discord_id

__all__ = ["RUN_STATUSES", "finish_training_run", "latest_training_run", "start_training_run"]

RUN_STATUSES = ("running", "succeeded", "failed", "cancelled")


def start_training_run(
    session: Session,
    *,
    triggered_by: int | str | None,
    dataset_sha256: str | None = None,
    counts: dict[str, Any] | None = None,
) -> TrainingRun:
    """Record that a retrain started (status ``running``)."""
    row = TrainingRun(
        triggered_by=discord_id(triggered_by),
        dataset_sha256=dataset_sha256,
        counts=counts,
        status="running",
        started_at=utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def finish_training_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    metrics: dict[str, Any] | None = None,
    model_path: str | None = None,
    error: str | None = None,
    dataset_sha256: str | None = None,
    counts: dict[str, Any] | None = None,
) -> TrainingRun:
    """Record how a retrain ended; unset arguments keep what ``start_training_run`` stored."""
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
    row = session.get(TrainingRun, run_id)
    if row is None:
        raise LookupError(f"no training run {run_id}")
    row.status = status
    row.finished_at = utc_now()
    row.metrics = metrics if metrics is not None else row.metrics
    row.model_path = model_path if model_path is not None else row.model_path
    row.error = error
    row.dataset_sha256 = dataset_sha256 or row.dataset_sha256
    row.counts = counts if counts is not None else row.counts
    session.flush()
    return row


def latest_training_run(session: Session) -> TrainingRun | None:
    """The most recently started training run, if any."""
    stmt = select(TrainingRun).order_by(TrainingRun.started_at.desc(), TrainingRun.id.desc()).limit(1)
    return session.scalars(stmt).first()
