"""Training a Q&A model with HF ``Trainer``: data pipeline -> base model -> train -> evaluate -> checkpoint.

``train(config)`` returns the checkpoint folder. Trainer's own working files (its periodic checkpoints,
for ``--resume``) live in a hidden ``.work-<name>`` folder beside the output; the checkpoint itself is
written to a staging folder and renamed into place, and ``current`` moves only after that, so an
interrupted or failed run never touches the previous model. Runs unchanged under ``torchrun`` (DDP): every
rank trains, only rank 0 evaluates and writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from training.checkpoint import (
    CURRENT,
    METRICS,
    SPLIT,
    CheckpointError,
    point_current,
    pointer_free,
    staged_dir,
    write_json,
)
from training.collate import encode_records, make_collator
from training.config import TrainConfig, TrainingError, build_parser, parse_config
from training.data import DatasetError, load_dataset_file, prepare_dataset, split_records
from training.data.variants import with_question_variants
from training.model import SCRATCH, LoadedModel, build_scratch_model, load_base
from training.prompt import format_example
from training.records import Record
from training.resume import CONFIG_FILE, last_complete_checkpoint, resumed_config
from training.tokenizer import EOS, PreTrainedTokenizerFast
from training.workdirs import WORK_PREFIX, clean_stale_work, held_by_another_run, release_lock, write_lock

# torch, transformers' Trainer and what builds on it (training.callbacks, training.evaluate, training.report)
# take seconds to import, so the functions below import them where they are needed: importing this module
# stays cheap (the bot reads WORK_PREFIX from it), and a bad --base or dataset is reported before they load.

log = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"  # inside the work folder, so DDP ranks and resumed runs share one vocabulary
MIN_SAVE_STEPS = 50

__all__ = ["WORK_PREFIX", "TrainConfig", "TrainingError", "build_parser", "parse_config", "train"]


def dataset_sha256(records: list[Record]) -> str:
    """Fingerprint of exactly what the model was trained on (the cleaned records, in order)."""
    blob = json.dumps([[r["question"], r["answer"]] for r in records], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _resolve_out(config: TrainConfig) -> Path:
    """The checkpoint folder: --out, the interrupted run being resumed, or models/<timestamp>."""
    if config.out is not None:
        return Path(config.out)
    root = Path(config.models_root)
    if config.resume:
        works = sorted(root.glob(f"{WORK_PREFIX}*"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
        # Only a run that got as far as training can be continued: a name reserved by a run killed while
        # it loaded its data holds nothing to resume.
        works = [work for work in works if (work / "trainer").is_dir()]
        # A run still training in its folder is not "interrupted": taking it over would train two runs
        # into one folder.
        busy = {work: held_by_another_run(work) for work in works}
        free = [work for work in works if busy[work] is None]
        if not free:
            running = ", ".join(f"{work} (pid {pid})" for work, pid in busy.items())
            raise TrainingError(
                f"--resume: no interrupted run under {root}/ (nothing to continue)"
                + (f"; still training: {running}" if running else "")
            )
        return root / free[-1].name[len(WORK_PREFIX) :]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # every rank must name the same folder: no reservation
        return root / stamp
    # Two runs started in the same second would share the name (and the work folder): the second one's
    # checkpoint replaced the first one's. Each reserves its name by creating its work folder.
    root.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        name = stamp if n == 1 else f"{stamp}-{n}"
        if (root / name).exists():
            continue
        with contextlib.suppress(FileExistsError):
            (root / f"{WORK_PREFIX}{name}").mkdir()
            write_lock(root / f"{WORK_PREFIX}{name}")  # in use from now: no other run's cleaning takes it
            return root / name
    raise AssertionError("unreachable")


def _load_data(config: TrainConfig) -> tuple[Any, list[Record], list[Record]]:
    """The cleaned dataset and its train / eval split (``--holdout`` and ``--always-train`` applied)."""
    if not config.data:
        raise TrainingError("no training data: pass --data PATH (repeatable)")
    cleaned = prepare_dataset([Path(p) for p in config.data], encoding=config.encoding, split=config.split)
    if not cleaned.records:
        raise TrainingError(f"no usable records left after cleaning {', '.join(map(str, config.data))}")
    train_recs, eval_recs = split_records(
        cleaned.records,
        eval_fraction=config.eval_fraction,
        seed=config.seed,
        holdout=_questions(config.holdout, "--holdout"),
        train_only=_questions(config.always_train, "--always-train"),
    )
    return cleaned, list(train_recs), list(eval_recs)


def _questions(path: Path | None, option: str) -> list[str]:
    """The questions of ``path``: a checkpoint's ``split.json`` (its eval side) or a dataset file."""
    from training.evaluate import read_split

    if path is None:
        return []
    path = Path(path)
    if path.name == SPLIT:
        try:
            return [r["question"] for r in read_split(path.parent)["eval"]]
        except (CheckpointError, KeyError, TypeError) as e:
            raise TrainingError(f"{option} {path}: not a readable split.json ({e})") from e
    return [r["question"] for r in load_dataset_file(path)]


def check_side_files(config: TrainConfig) -> None:
    """Read the files only the end of a run uses (``--synonyms``, ``--wordings``, an ``--encoder`` path),
    and check that each ``--data`` is there, before anything trains or is written: a bad one is an error
    naming the file, the entry and the field, not a traceback after every step has run (with a work folder
    left for a --resume that would fail the same way), nor a base model's error first."""
    from training.data.tables import HUB_PREFIX
    from training.retrieval.alterations import read_synonyms
    from training.retrieval.encoder_training import check_wordings

    for data in config.data:  # a mistyped --data is named before a base model is looked for, not after
        if not str(data).startswith(HUB_PREFIX) and not Path(data).expanduser().exists():
            raise DatasetError(Path(data), "cannot read the file: No such file or directory")
    for flag, path, check in (
        ("--synonyms", config.synonyms, read_synonyms),
        ("--wordings", config.wordings, check_wordings),
    ):
        if path is not None:
            try:
                check(Path(path))
            except ValueError as e:
                raise TrainingError(f"{flag} {e}") from None
    encoder = str(config.encoder)
    if encoder.startswith(("/", "./", "../", "~")) and not Path(encoder).expanduser().is_dir():
        raise TrainingError(f"--encoder {encoder}: no such folder (a sentence-transformers folder)")


def _auto_save_steps(config: TrainConfig, n_train: int, world_size: int) -> int:
    """About 10 resumable checkpoints per run, but none more often than every MIN_SAVE_STEPS steps:
    each one writes the optimizer state too, which would dominate short runs."""
    per_epoch = math.ceil(n_train / (config.batch_size * world_size)) / config.grad_accum
    total = config.max_steps if config.max_steps > 0 else math.ceil(per_epoch * (config.epochs or 1))
    return max(MIN_SAVE_STEPS, math.ceil(total / 10))


def _training_arguments(config: TrainConfig, work: Path, n_train: int, has_eval: bool) -> Any:
    import torch
    from transformers import TrainingArguments

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    on_gpu = torch.cuda.is_available()
    per_epoch = has_eval and (config.early_stopping > 0 or config.load_best)
    gpu = {}
    if on_gpu:
        bf16 = torch.cuda.is_bf16_supported()
        gpu = {
            "bf16": bf16,
            "fp16": not bf16,
            "tf32": torch.cuda.get_device_capability()[0] >= 8,
            "optim": "adamw_torch_fused",
            "dataloader_pin_memory": True,
        }
    return TrainingArguments(
        output_dir=str(work / "trainer"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 32),
        gradient_accumulation_steps=config.grad_accum,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of all steps
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        use_cpu=not on_gpu,
        train_sampling_strategy="group_by_length" if config.collator == "pad" else "random",
        eval_strategy="epoch" if has_eval else "no",
        # Trainer checkpoints exist for --resume: each epoch when picking the best epoch, else ~10 per run.
        save_strategy="epoch" if per_epoch else "steps",
        save_steps=config.save_steps or _auto_save_steps(config, n_train, world_size),
        save_total_limit=2 if config.load_best else 1,
        load_best_model_at_end=bool(config.load_best and has_eval),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_strategy="steps",
        logging_steps=0.02,  # about 50 log lines per run
        logging_first_step=True,
        disable_tqdm=config.progress == "json",
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,  # examples are pre-tokenized; collating is cheap
        ddp_find_unused_parameters=False,
        **gpu,
    )


def _scratch_model(config: TrainConfig, args: Any, work: Path, train_recs: list[Record]) -> LoadedModel:
    """``--base scratch``: a GPT-2 of preset ``config.size`` with random weights and the chosen tokenizer."""
    from transformers import set_seed  # imports torch

    set_seed(config.seed)  # the initial weights
    if config.tokenizer != "bpe":
        # Scratch with GPT-2's own tokenizer: nothing to learn from the data first. (load_base rejects a
        # tokenizer name it does not know.)
        return load_base(SCRATCH, config.size, config.tokenizer, dropout=config.dropout)
    # Scratch with a byte-level BPE trained on the training split: rank 0 trains it once and saves it in
    # the work folder; the other DDP ranks and a resumed run load that file, so all share one vocabulary.
    tok_dir = work / TOKENIZER_DIR
    with args.main_process_first(desc="train tokenizer"):
        if not (tok_dir / "tokenizer.json").is_file():
            texts = ["".join(format_example(r["question"], r["answer"], "")) for r in train_recs]
            loaded = load_base(SCRATCH, config.size, "bpe", texts=texts, dropout=config.dropout)
            loaded.tokenizer.save_pretrained(tok_dir)
            return loaded
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tok_dir))
    tokenizer.pad_token = tokenizer.eos_token = EOS
    model = build_scratch_model(config.size, tokenizer, config.dropout)
    return LoadedModel(model, tokenizer, SCRATCH, config.size, "bpe")


def train(config: TrainConfig, emit: Any = None) -> Path:
    """Train per ``config``; return the checkpoint folder. ``emit(dict)`` receives JSON progress events.

    Stale work folders of earlier runs beside the output are reported, and removed once
    ``config.stale_work_hours`` old (``training.workdirs``); this run's own is locked while it runs."""
    out = _resolve_out(config)
    work = out.parent / f"{WORK_PREFIX}{out.name}"
    if is_rank_zero():
        clean_stale_work(out.parent, config.stale_work_hours, keep=[work])
    try:
        return _train(config, emit, out, work)
    finally:
        release_lock(work)  # the folder itself stays for --resume unless the run succeeded
        with contextlib.suppress(OSError):  # ... or is empty: reserved by a run that failed before training
            work.rmdir()


def _train(config: TrainConfig, emit: Any, out: Path, work: Path) -> Path:
    # -- where the run writes, and what it reads ---------------------------------------------------------
    if out.exists() and not config.resume:
        raise CheckpointError(f"{out} already exists; choose another --out or remove it first")
    owner = held_by_another_run(work) if is_rank_zero() else None
    if owner is not None:
        raise TrainingError(
            f"{work} is in use by a running training run (pid {owner}) for {out}: wait for it to finish or "
            "stop it, or choose another --out"
        )
    if config.resume and not (work / "trainer").is_dir():
        raise TrainingError(f"--resume: no interrupted run for {out} (expected {work})")
    config = resumed_config(config, work).resolved()
    check_side_files(config)  # before the minutes of training they would otherwise fail after

    # -- base model (fine-tune / continue) and data ------------------------------------------------------
    # Fine-tuning a hub model or a local folder, or continuing a qabot checkpoint (load_base keeps its size
    # and tokenizer lineage): loaded before the data pipeline, so a mistyped or unreachable base fails fast.
    pretrained = load_base(config.base) if config.base != SCRATCH else None
    cleaned, train_recs, eval_recs = _load_data(config)

    # -- Trainer setup (the heavy imports start here: see the note at the top) --------------------------
    from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback, Trainer

    from training.callbacks import JsonProgressCallback, LossBar, ParentWatch

    args = _training_arguments(config, work, len(train_recs), has_eval=bool(eval_recs))
    if args.process_index == 0:
        work.mkdir(parents=True, exist_ok=True)
        write_lock(work)  # in use: no other run's clean_stale_work removes it
        write_json(work / CONFIG_FILE, config.to_dict())
    # Scratch models need the training split (for the BPE) and the Trainer's arguments (for rank order).
    loaded = pretrained or _scratch_model(config, args, work, train_recs)
    tokenizer = loaded.tokenizer
    context = int(
        getattr(loaded.model.config, "n_positions", 0) or loaded.model.config.max_position_embeddings
    )
    max_length = min(config.max_length, context)
    examples = train_recs if config.no_question_variants else with_question_variants(train_recs)
    train_ds = encode_records(examples, tokenizer, max_length, config.loss_on_prompt)
    eval_ds = encode_records(eval_recs, tokenizer, max_length) if eval_recs else None

    callbacks: list[Any] = []
    if config.early_stopping > 0 and eval_ds is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping))
    if config.progress == "json":
        callbacks.append(JsonProgressCallback(emit) if emit else JsonProgressCallback())
    if watch := ParentWatch.from_env():
        callbacks.append(watch)
    if getattr(loaded.model, "loss_type", None) is None:  # GPT-2's class name maps to no loss: transformers
        loaded.model.loss_type = "ForCausalLM"  # warns, then uses this one
    trainer = Trainer(
        model=loaded.model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=make_collator(config.collator, tokenizer, on_gpu=args.device.type == "cuda"),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    # Both of the Trainer's own print raw log dicts: PrinterCallback (no bar) would break the JSON lines,
    # ProgressCallback writes ~50 of them under the bar (LossBar shows the latest losses on it instead).
    if config.progress == "json":
        trainer.remove_callback(PrinterCallback)
    else:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LossBar())

    # -- train -------------------------------------------------------------------------------------------
    resume_from = (
        last_complete_checkpoint(Path(args.output_dir), args.process_index == 0) if config.resume else None
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return out

    # -- evaluate and write the checkpoint (rank 0 only) -------------------------------------------------
    from training.report import write_checkpoint

    try:
        with staged_dir(out, overwrite=config.resume) as tmp:
            write_checkpoint(
                tmp,
                model=trainer.model,
                tokenizer=tokenizer,
                loaded=loaded,
                config=config,
                cleaned=cleaned,
                train_recs=train_recs,
                eval_recs=eval_recs,
                log_history=trainer.state.log_history,
                train_seconds=train_seconds,
                sha256=dataset_sha256(cleaned.records),
                model_version=out.name,
            )
    except OSError as e:  # a full disk, a read-only folder: staged_dir removed the half-written folder
        raise CheckpointError(
            f"could not write the checkpoint to {out} ({e}); the previous model is untouched. Free the space "
            f"or fix the folder, then finish the run with --resume --out {out}"
        ) from e
    shutil.rmtree(work, ignore_errors=True)  # the checkpoint is complete: nothing left to resume
    if not config.no_current:
        try:
            with pointer_free(out.parent / CURRENT):
                point_current(out)
        except CheckpointError as e:
            raise CheckpointError(f"the model is saved in {out}, but {e}") from e
    return out


def read_metrics(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / METRICS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def leave_process_group() -> None:
    """Tear down torchrun's process group, if this process joined one, before the process exits: a gloo
    group left to the interpreter's finalization can abort a rank (SIGABRT, "terminate called without an
    active exception"; pytorch/pytorch#179291), and torchrun then reports the run as failed and stops the
    others. Seen here on the rank that finishes first while rank 0 writes the checkpoint (2 in 12 runs
    with the CPU busy)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_rank_zero() -> bool:
    """Rank 0, or not distributed: the process that reports (torchrun sets RANK for every worker)."""
    return int(os.environ.get("RANK", "0")) == 0
