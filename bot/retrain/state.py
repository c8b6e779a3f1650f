"""What a retrain is asked to do, what it trains on, how far it got and how it ended (the job itself:
``bot.retrain.job``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RetrainBusy(RuntimeError):
    """A retrain is already running; ``RetrainJob.progress`` says how far it got."""


@dataclass
class RetrainOptions:
    epochs: int | None = None
    from_scratch: bool = False
    force: bool = False  # swap even when the new model scores lower
    triggered_by: str = "unknown"


@dataclass
class RetrainData:
    """The dataset files of one run: the store's export (None when the store had nothing to teach) and the
    ``BASE_DATASETS`` files that exist."""

    store_export: Path | None
    base: list[Path]
    synonyms: Path | None = None  # the admins' synonyms (``--synonyms``), when there are any
    wordings: Path | None = None  # people's wordings of known questions (``--wordings``), when any

    @property
    def files(self) -> list[Path]:
        return ([self.store_export] if self.store_export is not None else []) + self.base

    def drop_oversized(self) -> int:
        """Take the store export's pairs past ``MAX_QUESTION_CHARS`` / ``MAX_ANSWER_CHARS`` (as cleaned) out
        of it and say how many: the trainer refuses a file holding one, and a store may hold pairs taught
        before the limits (or at a terminal). The bot still serves them as taught."""
        from training.checkpoint import write_json
        from training.data import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, normalize_text

        if self.store_export is None:
            return 0
        records = json.loads(self.store_export.read_text(encoding="utf-8"))
        kept = [
            r
            for r in records
            if len(normalize_text(r["question"])) <= MAX_QUESTION_CHARS
            and len(normalize_text(r["answer"], multiline=True)) <= MAX_ANSWER_CHARS
        ]
        if len(kept) < len(records):
            write_json(self.store_export, kept)
        if not kept:
            self.store_export = None
        return len(records) - len(kept)

    def store_questions(self) -> list[str]:
        """The questions the store export teaches (always trained on, so the gate must not judge on them)."""
        if self.store_export is None:
            return []
        return [r["question"] for r in json.loads(self.store_export.read_text(encoding="utf-8"))]


@dataclass
class RetrainProgress:
    phase: str = "starting"  # starting | export | train | evaluate | swap | done
    step: int | None = None
    max_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eta_s: float | None = None
    detail: str = ""

    def describe(self) -> str:
        parts = [f"**{self.phase}**"]
        if self.step is not None:
            parts.append(f"step {self.step}" + (f"/{self.max_steps}" if self.max_steps else ""))
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch:.2f}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.eta_s is not None:
            parts.append(f"ETA {int(self.eta_s) // 60}m{int(self.eta_s) % 60:02d}s")
        if self.detail:
            parts.append(self.detail)
        return " · ".join(parts)


@dataclass
class RetrainResult:
    status: str  # swapped | rejected | failed | cancelled
    message: str
    run_id: int | None = None
    model_dir: Path | None = None
    new_metrics: dict[str, Any] = field(default_factory=dict)
    old_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "swapped"


ProgressCallback = Callable[[RetrainProgress], Awaitable[None]]
