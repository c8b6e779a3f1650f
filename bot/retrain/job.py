"""``RetrainJob``: retrain the serving model from the store while the bot keeps answering.

One run at a time across the processes serving one ``models/`` folder (``RETRAIN_LOCK``, an OS lock).
A run exports the store plus ``BASE_DATASETS`` (``bot.retrain.inputs``), trains in a subprocess (a crash
or an out-of-memory kill cannot take the bot down; cancel is a kill), evaluates the new checkpoint against
the serving one on a fixed eval set (``bot.retrain.gate``), and only if it is not worse (or ``force``)
swaps it into the ``Answerer``, moves the ``models/current`` pointer and logs the swap in the store, so
every other process loads it too (``follow``); a process that has not followed a swap yet may not start a
run. Otherwise the old model keeps serving and the result says why. Every run is a ``TrainingRun`` row;
its Trainer work folder goes when it ends, and one a crash left behind (``.work-retrain-*``, not in use
by a live trainer) is removed when the job is made and when the next run starts.

Cancelling is asyncio cancellation of the run's task: ``TrainerProcess`` stops the trainer when its wait
is cancelled, and the run ends as "cancelled"; once swapped or judged, it ends as what it did (its row,
announcement and clean-up finished first).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from bot.answering import torch_thread
from bot.async_store import SessionFactory, run_in_session
from bot.retrain.gate import Evaluate, compare, default_evaluate
from bot.retrain.inputs import (
    NothingToCompare,
    NothingToTrain,
    check_comparable,
    export_inputs,
    train_command,
)
from bot.retrain.run_rows import finish_row, manifest_or_nothing, start_row
from bot.retrain.state import (
    ProgressCallback,
    RetrainBusy,
    RetrainData,
    RetrainOptions,
    RetrainProgress,
    RetrainResult,
)
from bot.retrain.trainer_process import TrainerFailed, TrainerProcess
from training.checkpoint import RETRAIN_LOCK
from training.redact import redact

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from training.runtime.generate import Generator

log = logging.getLogger(__name__)

CANCELLED = "Cancelled."
RETRAIN_PREFIX = "retrain-"  # a retrain's output folder: <models>/retrain-<timestamp>


class RetrainJob:
    """Runs retrains for one ``Answerer``; see the module docstring for the steps."""

    def __init__(
        self,
        *,
        answerer: Answerer,
        session_factory: SessionFactory,
        model_pointer: Path,
        base_datasets: Sequence[Path] = (),
        train_args: Sequence[str] = (),
        precision: str = "auto",
        python: str = sys.executable,
        load_generator: Callable[[Path], Generator] | None = None,
        evaluate: Evaluate = default_evaluate,
    ) -> None:
        self.answerer = answerer
        self.session_factory = session_factory
        self.model_pointer = Path(model_pointer).absolute()
        self.base_datasets = [Path(p) for p in base_datasets]
        self.train_args = list(train_args)  # e.g. ["--size", "tiny", "--max-steps", "20"]
        self.python = python
        self._load_generator = load_generator or self._load_with(precision)
        self._evaluate = evaluate
        # What the answerer loaded, not what the pointer says now: another process may have swapped it
        # while this one loaded, and then ``KnowledgeSync`` must still see the swap to follow.
        loaded = getattr(answerer.generator, "model_dir", None) if answerer is not None else None
        self.serving_dir: Path | None = loaded or self._pointed()
        # What MODEL_DIR named when this process last chose its model: when it names another now, another
        # process (or `qabot train`) moved it, and a retrain would be gated against the wrong model.
        self._pointer_seen = self.serving_dir
        self._out: Path | None = None  # the running retrain's output folder
        self.progress = RetrainProgress()
        self.last_result: RetrainResult | None = None
        self._task: asyncio.Task[RetrainResult] | None = None
        self._reloading = False  # a retrain must not start on a serving_dir that is about to change
        self._clean_stale_work()

    @staticmethod
    def _load_with(precision: str) -> Callable[[Path], Generator]:
        def load(model_dir: Path) -> Generator:
            from training.runtime.generate import Generator

            return Generator.load(model_dir, precision=precision)

        return load

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, options: RetrainOptions, on_progress: ProgressCallback | None = None) -> asyncio.Task:
        """Start a run in the background; raises ``RetrainBusy`` when one is running."""
        if self.running:
            raise RetrainBusy(self.progress.describe())
        if self._reloading:
            raise RetrainBusy("a /reload is loading a model; try again in a moment")
        lock = self._claim()
        self.progress = RetrainProgress()
        self._task = asyncio.create_task(self._run_holding(lock, options, on_progress), name="qabot-retrain")
        self._task.add_done_callback(lambda _: lock.release())  # when cancelled before it ran (else a no-op)
        return self._task

    async def _run_holding(
        self, lock: FileLock, options: RetrainOptions, on_progress: ProgressCallback | None
    ) -> RetrainResult:
        try:
            return await self._run(options, on_progress)
        finally:
            lock.release()  # before the task is done: a start right after its end finds the lock free

    def _lock(self) -> FileLock:
        """``RETRAIN_LOCK``, held; ``Timeout`` when another process holds it, ``OSError`` when the models
        folder cannot hold it."""
        self.model_pointer.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self._lock_path, thread_local=False)
        lock.acquire(blocking=False)
        return lock

    @property
    def _lock_path(self) -> Path:
        return self.model_pointer.parent / RETRAIN_LOCK

    def _pointed(self) -> Path | None:
        return self.model_pointer.resolve() if self.model_pointer.exists() else None

    def _claim(self) -> FileLock:
        """``RETRAIN_LOCK``, held; ``RetrainBusy`` when another process retrains, when the folder cannot
        hold the lock (nor the new model), or when MODEL_DIR names another model than this process chose."""
        try:
            lock = self._lock()
        except Timeout:
            raise RetrainBusy("another bot process is retraining this model; try when it ends") from None
        except OSError as e:  # read-only, say: the new model could not be written there either
            why = e.strerror or e
            raise RetrainBusy(f"cannot retrain: {self._lock_path} cannot be written ({why})") from None
        pointed = self._pointed()  # none (deleted, dangling): the run's swap makes the pointer anew
        if pointed is not None and pointed != self._pointer_seen:
            lock.release()
            raise RetrainBusy(
                f"{self.model_pointer} names another model than this process loaded: one another process "
                "swapped in loads here within seconds; after `qabot train`, use /reload first"
            )
        return lock

    async def run(
        self, options: RetrainOptions, on_progress: ProgressCallback | None = None
    ) -> RetrainResult:
        """Start a run and wait for its result."""
        return await self.start(options, on_progress)

    async def cancel(self) -> bool:
        """Stop the running job (its trainer too) and wait for it to end; False when nothing was running."""
        if not self.running or self._task is None:
            return False
        task = self._task
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=30)
        except asyncio.CancelledError:
            if not task.cancelled():  # this caller was cancelled, not (only) the job
                raise
        except Exception:  # the job's own failure is in its result; a timeout leaves it stopping
            pass
        return True

    # -- the run -------------------------------------------------------------------------------------
    async def _report(self, on_progress: ProgressCallback | None, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.progress, key, redact(value) if isinstance(value, str) else value)
        if on_progress is not None:
            try:
                await on_progress(self.progress)
            except Exception:
                log.exception("retrain progress callback failed")  # a UI hiccup must not fail the run

    async def _run(self, options: RetrainOptions, on_progress: ProgressCallback | None) -> RetrainResult:
        result = RetrainResult(status="failed", message="")
        manifest: dict[str, Any] = {}
        swapped: str | None = None  # the version swapped in, announced at the end
        try:  # everything, its first steps too: a cancel() at any point ends in a "cancelled" result
            await asyncio.to_thread(self._clean_stale_work)
            result.run_id = await start_row(self.session_factory, options)
            with tempfile.TemporaryDirectory(prefix="qabot-retrain-") as tmp:
                await self._report(on_progress, phase="export", detail="exporting the store")
                data = await self._export(Path(tmp))
                learned = data.store_questions()
                if not options.force:  # the gate could only reject it: refuse before the training time
                    await asyncio.to_thread(check_comparable, data, self.serving_dir)
                new_dir = await self._train(data, options, Path(tmp), on_progress)
            result.model_dir = new_dir
            manifest = manifest_or_nothing(new_dir)
            await self._report(on_progress, phase="evaluate", detail="comparing with the serving model")
            verdict = await compare(
                new_dir, self.serving_dir, force=options.force, evaluate=self._evaluate, exclude=learned
            )
            result.new_metrics, result.old_metrics = verdict.new, verdict.old
            if not verdict.accepted:
                result.status, result.message = "rejected", verdict.reason
            else:
                await self._report(on_progress, phase="swap", detail="loading the new model")
                swapped = await self._swap(new_dir)  # no await between the swap and what it says here
                self._out = None  # serving now: a later run's failure must not discard it
                result.status, result.message = "swapped", verdict.reason
        except asyncio.CancelledError:  # cancel(), in any phase; the trainer has stopped by now
            result.status, result.message = "cancelled", CANCELLED
        except NothingToCompare as e:  # the gate's verdict, known before training
            result.status, result.message = "rejected", str(e)
        except (NothingToTrain, TrainerFailed) as e:
            result.message = str(e)
        except Exception as e:
            log.exception("retrain failed")
            result.message = f"{type(e).__name__}: {e}"
        if result.status != "swapped":
            result.message += " The previous model keeps answering."
        # The trainer's error and stderr tail may quote a dataset line: no token reaches the status
        # message, the TrainingRun row or the log.
        result.message = redact(result.message)
        # What the run did is done: a cancel now must not leave its row "running", its outputs on disk or
        # the other processes untold of a swap. The lock is held until this ends.
        ending = asyncio.ensure_future(self._conclude(result, manifest, swapped, on_progress))
        while not ending.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(ending)
        ending.result()
        return result

    async def _conclude(
        self,
        result: RetrainResult,
        manifest: dict[str, Any],
        swapped: str | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        if swapped is None:
            await asyncio.to_thread(self._discard_outputs)
        else:
            await self._announce(swapped)
        await finish_row(self.session_factory, result, manifest)
        self.last_result = result
        await self._report(on_progress, phase="done", detail=f"{result.status}: {result.message}")
        log.info("retrain %s: %s", result.status, result.message)

    async def _export(self, tmp: Path) -> RetrainData:
        data, detail = await export_inputs(self.session_factory, self.base_datasets, self.answerer, tmp)
        await self._report(None, detail=detail)
        return data

    def _train_command(self, data: RetrainData, options: RetrainOptions, out: Path) -> list[str]:
        return train_command(
            data, options, out, serving_dir=self.serving_dir, train_args=self.train_args, python=self.python
        )

    def _clean_stale_work(self) -> None:
        """Remove the Trainer work folders of earlier retrains that a crash left behind (one run at a time:
        any not in use by a live trainer is stale); ``qabot train``'s own are left for ``--resume``."""
        from training.workdirs import clean_stale_work

        try:
            clean_stale_work(self.model_pointer.parent, 0, keep=[self._out], prefix=RETRAIN_PREFIX)
        except Exception:
            log.exception("could not clean stale retrain work folders")

    def _discard_outputs(self) -> None:
        """A rejected, failed or cancelled run leaves no model folder or Trainer work folder behind."""
        from training.train import WORK_PREFIX

        out, self._out = self._out, None
        if out is not None and (self.serving_dir is None or out.resolve() != self.serving_dir):
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(out.parent / f"{WORK_PREFIX}{out.name}", ignore_errors=True)

    async def _train(
        self, data: RetrainData, options: RetrainOptions, tmp: Path, on_progress: ProgressCallback | None
    ) -> Path:
        out = self.model_pointer.parent / f"{RETRAIN_PREFIX}{dt.datetime.now():%Y%m%d-%H%M%S-%f}"
        self._out = out
        cmd = self._train_command(data, options, out)
        log.info("retrain: %s", " ".join(cmd))
        await self._report(on_progress, phase="train", detail="starting the trainer")

        async def on_log(event: dict[str, Any]) -> None:
            await self._report(
                on_progress,
                step=event.get("step"),
                max_steps=event.get("max_steps"),
                epoch=event.get("epoch"),
                loss=event.get("loss", self.progress.loss),
                eta_s=event.get("eta_s"),
                detail="",
            )

        trainer = TrainerProcess(cmd, tmp / "train.stderr")
        done = await trainer.run(on_log)  # cancelled: it stops the trainer, waits for it, then re-raises
        return Path(done["model_dir"])

    async def _swap(self, new_dir: Path) -> str:
        generator = await torch_thread.run(self._load_generator, new_dir)
        # The pointer first: if moving it fails, nothing has changed and the old model keeps serving.
        if self.model_pointer.is_symlink() or not self.model_pointer.exists():
            from training.checkpoint import point_current

            point_current(new_dir, pointer=self.model_pointer)
        else:
            log.warning(
                "MODEL_DIR %s is a folder, not a pointer: the new model %s serves until restart",
                self.model_pointer,
                new_dir,
            )
        self.answerer.swap(generator)  # atomic: requests already in a batch finish on the old model
        self.serving_dir, self._pointer_seen = new_dir.resolve(), self._pointed()
        return getattr(generator, "model_version", new_dir.name)  # announced with the run's end

    async def _announce(self, version: str) -> None:
        """Log the model now served in the store's change log: every other process serving the store loads
        it too (``bot.answering.knowledge_sync``, ``follow``)."""
        from storage.changes import note

        try:
            await run_in_session(
                self.session_factory,
                note,
                "model",
                model_path=str(self.serving_dir),
                model_version=version[:64],
            )
        except Exception:  # this process serves it already; the others do after a restart
            log.exception("could not tell the other processes about model %s", self.serving_dir)

    async def follow(self, model_dir: Path) -> str:
        """Serve ``model_dir``, which another process serving the store swapped in (its gated retrain or
        its /reload): loaded off the event loop, swapped in only once loaded; not announced again. Raises
        what loading raised, and the old model keeps serving."""
        target = Path(model_dir).resolve()
        generator = await torch_thread.run(self._load_generator, target)
        self.answerer.swap(generator)
        self.serving_dir, self._pointer_seen = target, self._pointed()
        return getattr(generator, "model_version", target.name)

    async def reload(self) -> str:
        """Load whatever ``MODEL_DIR`` points at now (e.g. after ``qabot train``) and serve it."""
        if self.running:
            raise RetrainBusy(self.progress.describe())
        if self._reloading:
            raise RetrainBusy("a /reload is loading a model; try again in a moment")
        try:  # another process's run would swap its model over this one, ungated against it
            lock = self._lock()
        except Timeout:
            raise RetrainBusy("another bot process is retraining this model; /reload when it ends") from None
        except OSError:
            lock = None  # a read-only models folder: no retrain can run there, and a reload writes nothing
        self._reloading = True
        try:
            version = await self.follow(self.model_pointer)
        finally:
            self._reloading = False
            if lock is not None:
                lock.release()
        await self._announce(version)
        return version
