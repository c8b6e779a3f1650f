"""The dataset pipeline: load any common Q&A file shape into ``{"question", "answer"}`` records,
validate, normalize, filter, de-duplicate, report, and split train/eval by question.

Part of ``training``: imports the standard library, its data libraries (rapidfuzz, alt-profanity-check,
datasets/pyarrow, rich, numpy) and other ``training`` modules (records, prompt, tokenizer, embedder, model's
hub probe); never ``bot`` or ``storage`` (a store export reaches it as a dataset file).

    from training.data import prepare_dataset, split_records
    result = prepare_dataset(["examples/soccer.json"])
    train, eval_ = split_records(result.records)

Size limits (``limits``): ``MAX_QUESTION_CHARS``, ``MAX_ANSWER_CHARS`` (the bot bounds what it is taught
with the same two), ``MAX_RECORD_CHARS``, ``MAX_DATASET_BYTES``.
"""

from training.data.dedupe import CONFLICT_POLICIES
from training.data.errors import DatasetError, DatasetWarning
from training.data.limits import MAX_ANSWER_CHARS, MAX_DATASET_BYTES, MAX_QUESTION_CHARS, MAX_RECORD_CHARS
from training.data.load import FORMATS, LoadedDataset, load_dataset_file, read_dataset
from training.data.normalize import comparison_key, normalize_text
from training.data.pipeline import CleanOptions, CleanResult, clean_records, prepare_dataset
from training.data.report import REASONS, CleanReport, render_report
from training.data.split import DEFAULT_EVAL_FRACTION, split_records

__all__ = [
    "CONFLICT_POLICIES",
    "DEFAULT_EVAL_FRACTION",
    "FORMATS",
    "MAX_ANSWER_CHARS",
    "MAX_DATASET_BYTES",
    "MAX_QUESTION_CHARS",
    "MAX_RECORD_CHARS",
    "REASONS",
    "CleanOptions",
    "CleanReport",
    "CleanResult",
    "DatasetError",
    "DatasetWarning",
    "LoadedDataset",
    "clean_records",
    "comparison_key",
    "load_dataset_file",
    "normalize_text",
    "prepare_dataset",
    "read_dataset",
    "render_report",
    "split_records",
]
