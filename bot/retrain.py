"""``RetrainJob``: retrain the serving model from the store while the bot keeps answering.

One job at a time. A run exports the store (``storage.export``) plus ``BASE_DATASETS``, trains in a
subprocess (``python -m training --progress json``: a crash or an out-of-memory kill cannot take the bot
down, and cancel is a kill), evaluates the new checkpoint against the serving one on a fixed eval set
(the serving model's recorded eval split), and only if the new model is not worse (or ``force``) swaps it
into the ``Answerer`` and moves the ``models/current`` pointer. Otherwise the old model keeps serving and
the result says why. Every run is recorded as a ``TrainingRun`` row.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.exchanges import SessionFactory, run_in_session

log = logging.getLogger(__name__)

GATE_METRIC = "f1"  # token F1 on the fixed eval set: robust to wording, and what the README reports
GATE_TOLERANCE = 1e-9  # "not worse": equal scores (e.g. two tiny models both at 0) still pass
STDERR_TAIL_LINES = 15
KILL_GRACE_S = 10.0  # after SIGTERM the trainer removes its staging folder; then SIGKILL
# storage's TrainingRun statuses; a gate rejection is a failed run whose error says "Rejected: …".
RUN_STATUS = {"swapped": "succeeded", "rejected": "failed", "failed": "failed", "cancelled": "cancelled"}


class RetrainBusy(RuntimeError):
    """A retrain is already running; ``RetrainJob.progress`` says how far it got."""


class _RetrainFailed(Exception):
    pass


@dataclass
class RetrainOptions:
    epochs: int | None = None
    from_scratch: bool = False
    force: bool = False  # swap even when the new model scores lower
    triggered_by: str = "unknown"


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


def _default_evaluate(model_dir: Path, records: list[dict[str, str]] | None) -> dict[str, Any]:
    from training.evaluate import evaluate_model

    return evaluate_model(model_dir, records=records)


def eval_records(model_dir: Path) -> list[dict[str, str]] | None:
    """The eval split a checkpoint recorded in ``split.json`` (None when it has none)."""
    from training.checkpoint import SPLIT

    path = Path(model_dir) / SPLIT
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data.get("eval") if isinstance(data, dict) else None
    return [{"question": r["question"], "answer": r["answer"]} for r in records] if records else None


class RetrainJob:
    """Runs retrains for one ``Answerer``; see the module docstring for the steps."""

    def __init__(
        self,
        *,
        answerer: Any,
        session_factory: SessionFactory,
        model_pointer: Path,
        base_datasets: Sequence[Path] = (),
        train_args: Sequence[str] = (),
        precision: str = "auto",
        python: str = sys.executable,
        load_generator: Callable[[Path], Any] | None = None,
        evaluate: Callable[[Path, list[dict[str, str]] | None], dict[str, Any]] = _default_evaluate,
    ) -> None:
        self.answerer = answerer
        self.session_factory = session_factory
        self.model_pointer = Path(model_pointer).absolute()
        self.base_datasets = [Path(p) for p in base_datasets]
        self.train_args = list(train_args)  # e.g. ["--size", "tiny", "--max-steps", "20"]
        self.python = python
        self._load_generator = load_generator or self._load_with(precision)
        self._evaluate = evaluate
        self.serving_dir: Path | None = self.model_pointer.resolve() if self.model_pointer.exists() else None
        self.progress = RetrainProgress()
        self.last_result: RetrainResult | None = None
        self._task: asyncio.Task[RetrainResult] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._cancelled = False

    @staticmethod
    def _load_with(precision: str) -> Callable[[Path], Any]:
        def load(model_dir: Path) -> Any:
            from training.generate import Generator

            return Generator.load(model_dir, precision=precision)

        return load

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, options: RetrainOptions, on_progress: ProgressCallback | None = None) -> asyncio.Task:
        """Start a run in the background; raises ``RetrainBusy`` when one is running."""
        if self.running:
            raise RetrainBusy(self.progress.describe())
        self._cancelled = False
        self.progress = RetrainProgress()
        self._task = asyncio.create_task(self._run(options, on_progress), name="qabot-retrain")
        return self._task

    async def run(
        self, options: RetrainOptions, on_progress: ProgressCallback | None = None
    ) -> RetrainResult:
        """Start a run and wait for its result."""
        return await self.start(options, on_progress)

    async def cancel(self) -> bool:
        """Stop the running job (kills the training subprocess); False when nothing was running."""
        if not self.running:
            return False
        self._cancelled = True
        if self._proc is not None and self._proc.returncode is None:
            self._kill()  # the run notices the dead trainer and finishes as "cancelled"
        elif self._task is not None:
            self._task.cancel()  # exporting or evaluating: interrupt the coroutine itself
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=30)
        return True

    def _kill(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        # The trainer runs in its own session: signal its whole group (dataloader workers too). SIGTERM
        # lets it delete its staging folder; SIGKILL follows if it does not exit in time.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)

        def force() -> None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

        asyncio.get_running_loop().call_later(KILL_GRACE_S, force)

    # -- the run -------------------------------------------------------------------------------------
    async def _report(self, on_progress: ProgressCallback | None, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.progress, key, value)
        if on_progress is not None:
            try:
                await on_progress(self.progress)
            except Exception:
                log.exception("retrain progress callback failed")  # a UI hiccup must not fail the run

    async def _run(self, options: RetrainOptions, on_progress: ProgressCallback | None) -> RetrainResult:
        run_id = await self._start_row(options)
        result = RetrainResult(status="failed", message="", run_id=run_id)
        manifest: dict[str, Any] = {}
        try:
            with tempfile.TemporaryDirectory(prefix="qabot-retrain-") as tmp:
                await self._report(on_progress, phase="export", detail="exporting the store")
                data = await self._export(Path(tmp))
                new_dir = await self._train(data, options, Path(tmp), on_progress)
            result.model_dir = new_dir
            manifest = _read_manifest(new_dir)
            await self._report(on_progress, phase="evaluate", detail="comparing with the serving model")
            accepted, reason, result.new_metrics, result.old_metrics = await self._gate(
                new_dir, options.force
            )
            if not accepted:
                result.status, result.message = "rejected", reason
            else:
                await self._report(on_progress, phase="swap", detail="loading the new model")
                await self._swap(new_dir)
                result.status, result.message = "swapped", reason
        except asyncio.CancelledError:
            self._kill()
            result.status, result.message = "cancelled", "cancelled"
        except _RetrainFailed as e:
            result.status = "cancelled" if self._cancelled else "failed"
            result.message = "cancelled by an admin" if self._cancelled else str(e)
        except Exception as e:
            log.exception("retrain failed")
            result.message = f"{type(e).__name__}: {e}"
        finally:
            self._proc = None
        if result.status != "swapped":
            result.message += " The previous model keeps answering."
        await self._finish_row(result, manifest)
        self.last_result = result
        await self._report(on_progress, phase="done", detail=f"{result.status}: {result.message}")
        log.info("retrain %s: %s", result.status, result.message)
        return result

    async def _export(self, tmp: Path) -> list[Path]:
        from storage.export import ExportFilters, export_dataset

        # Never learn the fallback ("I'm not sure…") or answers people voted down; corrected exchanges pass
        # these filters with the admin's answer.
        filters = ExportFilters(exclude_unanswered=True, min_score=0)
        store_file = tmp / "store.json"
        n = await asyncio.to_thread(export_dataset, self.session_factory, "json", store_file, filters)
        files = [store_file] if n else []
        missing = [p for p in self.base_datasets if not p.is_file()]
        for path in missing:
            log.warning("BASE_DATASETS file %s does not exist; retraining without it", path)
        files += [p.absolute() for p in self.base_datasets if p.is_file()]
        if not files:
            raise _RetrainFailed("Nothing to train on: the store is empty and no BASE_DATASETS file exists.")
        await self._report(
            None, detail=f"{n} records from the store + {len(files) - bool(n)} base dataset(s)"
        )
        return files

    def _train_command(self, data: list[Path], options: RetrainOptions, out: Path) -> list[str]:
        # --no-current: the gate below, not the trainer, decides whether models/current moves.
        cmd = [self.python, "-m", "training", "--out", str(out), "--progress", "json", "--no-current"]
        for path in data:
            cmd += ["--data", str(path)]
        if options.epochs is not None:
            cmd += ["--epochs", str(options.epochs)]
        if not options.from_scratch and self.serving_dir is not None:
            cmd += ["--base", str(self.serving_dir)]  # fine-tune the serving model
        else:
            cmd += ["--base", "scratch"]
        return cmd + self.train_args

    async def _train(
        self, data: list[Path], options: RetrainOptions, tmp: Path, on_progress: ProgressCallback | None
    ) -> Path:
        out = self.model_pointer.parent / f"retrain-{dt.datetime.now():%Y%m%d-%H%M%S-%f}"
        cmd = self._train_command(data, options, out)
        log.info("retrain: %s", " ".join(cmd))
        await self._report(on_progress, phase="train", detail="starting the trainer")
        stderr_path = tmp / "train.stderr"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # progress lines must not sit in a pipe buffer
        with open(stderr_path, "wb") as stderr:  # a file, not a pipe: a chatty trainer can never block
            self._proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env, start_new_session=True
            )
            done, error = await self._follow(self._proc, on_progress)
            returncode = await self._proc.wait()
        if self._cancelled:
            raise _RetrainFailed("cancelled")
        if returncode != 0 or done is None:
            tail = _tail(stderr_path)
            why = error or f"the trainer exited with code {returncode}"
            raise _RetrainFailed(f"Training failed: {why}" + (f"\n```\n{tail}\n```" if tail else ""))
        return Path(done["model_dir"])

    async def _follow(self, proc: asyncio.subprocess.Process, on_progress: ProgressCallback | None):
        """Read the trainer's JSON lines; return (the "done" event or None, the error message or None)."""
        done: dict[str, Any] | None = None
        error: str | None = None
        assert proc.stdout is not None
        async for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                log.debug("trainer: %s", raw.decode(errors="replace").rstrip())
                continue
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "log":
                await self._report(
                    on_progress,
                    step=event.get("step"),
                    max_steps=event.get("max_steps") or event.get("total_steps"),
                    epoch=event.get("epoch"),
                    loss=event.get("loss", self.progress.loss),
                    eta_s=event.get("eta_s"),
                    detail="",
                )
            elif kind == "done":
                done = event
            elif kind == "error":
                error = str(event.get("message", "unknown error"))
        return done, error

    async def _gate(self, new_dir: Path, force: bool) -> tuple[bool, str, dict[str, Any], dict[str, Any]]:
        """Evaluate new and serving models on the same fixed eval set; (accepted, reason, new, old)."""
        old_dir = self.serving_dir
        records = eval_records(old_dir) if old_dir is not None else None
        if records is None:
            records = eval_records(new_dir)  # first model, or a serving model without a split
        new = await asyncio.to_thread(self._evaluate, new_dir, records)
        if old_dir is None:
            return True, f"First model: {_score(new)}.", new, {}
        old = await asyncio.to_thread(self._evaluate, old_dir, records)
        comparison = (
            f"new {_score(new)} vs serving {_score(old)} on {new.get('n', len(records or []))} questions"
        )
        if new.get(GATE_METRIC, 0.0) + GATE_TOLERANCE >= old.get(GATE_METRIC, 0.0):
            return True, f"Swapped: {comparison}.", new, old
        if force:
            return True, f"Swapped (forced) although worse: {comparison}.", new, old
        return False, f"Rejected: the new model is worse ({comparison}); use force to swap anyway.", new, old

    async def _swap(self, new_dir: Path) -> None:
        generator = await asyncio.to_thread(self._load_generator, new_dir)
        self.answerer.swap(generator)  # atomic: requests already in a batch finish on the old model
        self.serving_dir = new_dir.resolve()
        if self.model_pointer.is_symlink() or not self.model_pointer.exists():
            from training.checkpoint import point_current

            point_current(new_dir, pointer=self.model_pointer)
        else:
            log.warning(
                "MODEL_DIR %s is a folder, not a pointer: the new model %s serves until restart",
                self.model_pointer,
                new_dir,
            )

    async def reload(self) -> str:
        """Load whatever ``MODEL_DIR`` points at now (e.g. after ``qabot train``) and serve it."""
        if self.running:
            raise RetrainBusy(self.progress.describe())
        target = self.model_pointer.resolve()
        generator = await asyncio.to_thread(self._load_generator, target)
        self.answerer.swap(generator)
        self.serving_dir = target
        return getattr(generator, "model_version", target.name)

    # -- TrainingRun rows ----------------------------------------------------------------------------
    async def _start_row(self, options: RetrainOptions) -> int | None:
        from storage import repo

        def write(session: Any) -> int:
            row = repo.start_training_run(session, triggered_by=options.triggered_by)
            session.flush()
            return row.id

        try:
            return await run_in_session(self.session_factory, write)
        except Exception:
            log.exception("could not record the training run start")
            return None

    async def _finish_row(self, result: RetrainResult, manifest: dict[str, Any]) -> None:
        if result.run_id is None:
            return
        from storage import repo

        dataset = manifest.get("dataset") or {}
        counts = {k: dataset[k] for k in ("records_in", "records_out", "train", "eval") if k in dataset}
        metrics = {"new": result.new_metrics, "serving": result.old_metrics} if result.new_metrics else None
        try:
            await run_in_session(
                self.session_factory,
                repo.finish_training_run,
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


def _score(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in ("f1", "exact_match", "rougeL") if k in metrics)


def _read_manifest(model_dir: Path) -> dict[str, Any]:
    try:
        from training.checkpoint import read_manifest

        return read_manifest(model_dir)
    except Exception:
        return {}


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])[-1500:]
