"""The dataset pipeline: load any common Q&A file shape into ``{"question", "answer"}`` records,
validate, normalize, filter, de-duplicate, report, and split train/eval by question.

Part of ``training``: imports the standard library, its data libraries (rapidfuzz, alt-profanity-check,
datasets/pyarrow, rich, numpy) and other ``training`` modules (records, prompt, tokenizer, embedder, model's
hub probe); never ``bot`` or ``storage`` (a store export reaches it as a dataset file).

    from training.data import prepare_dataset, split_records
    result = prepare_dataset(["examples/soccer.json"])
    train, eval_ = split_records(result.records)

Size limits (``limits``): ``MAX_QUESTION_CHARS``, ``MAX_ANSWER_CHARS`` (the bot bounds what it is taught
with the same two), ``MAX_RECORD_CHARS``, ``MAX_DATASET_BYTES``, ``MAX_RECORDS``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each name loads with its module on first use: ``comparison_key`` (the bot's) and ``options`` (what
# ``qabot --help`` shows) come without numpy and the rest of the pipeline.
_HOME = {
    "CONFLICT_POLICIES": "options",
    "DEFAULT_EVAL_FRACTION": "split",
    "FORMATS": "load",
    "MAX_ANSWER_CHARS": "limits",
    "MAX_DATASET_BYTES": "limits",
    "MAX_QUESTION_CHARS": "limits",
    "MAX_RECORD_CHARS": "limits",
    "MAX_RECORDS": "limits",
    "REASONS": "report",
    "CleanOptions": "options",
    "CleanReport": "report",
    "CleanResult": "pipeline",
    "DatasetError": "errors",
    "DatasetWarning": "errors",
    "LoadedDataset": "load",
    "clean_records": "pipeline",
    "comparison_key": "normalize",
    "load_dataset_file": "load",
    "normalize_text": "normalize",
    "prepare_dataset": "pipeline",
    "read_dataset": "load",
    "render_report": "report",
    "split_records": "split",
}
__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
