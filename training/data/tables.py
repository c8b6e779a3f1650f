"""Binary and Hugging Face datasets: Parquet and Arrow files, ``datasets.save_to_disk`` folders and hub
datasets (``hf:owner/name``), read into the same items the text formats give, so the shape detection,
field mapping, validation and report are the same for every source.

A file is recognised by its first bytes, not its name: a Parquet file named ``data.csv`` is still read as
Parquet, and a compressed or archived file gets a message about what it is instead of an encoding error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from training.data.errors import DatasetError
from training.data.formats import Where

HUB_PREFIX = "hf:"
DEFAULT_SPLIT = "train"
TABLE_SYNTAXES = ("parquet", "arrow")
BATCH_ROWS = 1024
SAVED_FILES = ("state.json", "dataset_info.json", "dataset_dict.json")  # save_to_disk writes these
# (first bytes, kind). Arrow has two layouts: the IPC *file* starts with "ARROW1"; the IPC *stream*
# (what datasets writes, e.g. save_to_disk's data-00000-of-00001.arrow) with the 0xFFFFFFFF continuation
# marker of its first message.
MAGIC = (
    (b"PAR1", "parquet"),
    (b"ARROW1", "arrow"),
    (b"\xff\xff\xff\xff", "arrow"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"(\xb5/\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"SQLite format 3\x00", "sqlite"),
    (b"%PDF-", "pdf"),
)
MAGIC_BYTES = max(len(magic) for magic, _ in MAGIC)
COMPRESSED = ("gzip", "bz2", "xz")  # decompressed by the loader (e.g. train.jsonl.gz)
_UNSUPPORTED = {
    "zip": "a zip archive (an .xlsx workbook is one too): extract the dataset file, or export the sheet "
    "as CSV (UTF-8)",
    "zstd": "zstd-compressed: decompress it first (zstd -d)",
    "7z": "a 7-Zip archive: extract the dataset file first",
    "sqlite": "a SQLite database, not a dataset file: export its Q&A pairs (qabot export) first",
    "pdf": "a PDF document, not a dataset file: export the Q&A as CSV, JSON or JSON Lines",
}


def binary_kind(path: Path, head: bytes) -> str | None:
    """The binary kind that ``head`` (a file's first bytes) starts with: ``parquet``, ``arrow``, or a
    compression in ``COMPRESSED``; None for text. Raises ``DatasetError`` for kinds that cannot be read."""
    for magic, kind in MAGIC:
        if head.startswith(magic):
            if kind in _UNSUPPORTED:
                raise DatasetError(path, _UNSUPPORTED[kind])
            return kind
    return None


def _rows(where_path: str, rows: Iterator[dict[str, Any]]) -> Iterator[tuple[Where, Any]]:
    for number, row in enumerate(rows, 1):
        yield Where(where_path, record=number), row


def table_items(path: Path, kind: str) -> Iterator[tuple[Where, Any]]:
    """The rows of a Parquet file or an Arrow IPC file/stream, batch by batch (memory-mapped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            yield from _rows(str(path), _batch_rows(pq.ParquetFile(path).iter_batches(BATCH_ROWS)))
            return
        with pa.memory_map(str(path)) as source:
            if source.read(6) == b"ARROW1":
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                source.seek(0)
                batches = iter(pa.ipc.open_stream(source))
            yield from _rows(str(path), _batch_rows(batches))
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(path, f"unreadable {kind} file: {exc}") from None


def _batch_rows(batches: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


def disk_items(path: Path, split: str = DEFAULT_SPLIT) -> Iterator[tuple[Where, Any]]:
    """The rows of a folder written by ``Dataset.save_to_disk`` (or one split of a ``DatasetDict``); a
    damaged one (a truncated shard, a bad state.json, a missing file) is an error naming the folder."""
    import datasets
    import pyarrow as pa

    try:
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = _split(path, loaded, split)
        yield from _rows(str(path), iter(loaded))
    except (ValueError, OSError, pa.ArrowException) as exc:
        if isinstance(exc, FileNotFoundError) and not any((path / name).exists() for name in SAVED_FILES):
            problem = "a folder, not a dataset: give a file, or a folder written by datasets' save_to_disk"
            raise DatasetError(path, problem) from None
        raise DatasetError(path, f"damaged save_to_disk folder ({exc}); save the dataset again") from None


def _split(source: str | Path, splits: Any, split: str) -> Any:
    if split not in splits:
        names = ", ".join(splits) or "none"
        raise DatasetError(source, f"no split {split!r} (splits: {names}); pass --split")
    return splits[split]


def hub_unreachable_message(name: str) -> str:
    return (
        f"cannot load the hub dataset {name!r}: the Hugging Face hub is unreachable and it is not in the "
        "local cache. Where there is network, save it with `datasets.load_dataset(...).save_to_disk(DIR)` "
        "or `.to_parquet(FILE)` and pass that folder or file to --data instead."
    )


def hub_items(source: str, split: str = DEFAULT_SPLIT) -> Iterator[tuple[Where, Any]]:
    """The rows of one split of a hub dataset, ``source`` being ``hf:owner/name``. Without network it fails
    within seconds (datasets itself would retry for tens of seconds) unless ``HF_HUB_OFFLINE`` says to use
    the cache."""
    name = source[len(HUB_PREFIX) :]
    if not name or name.startswith(("/", ".")) or name.count("/") > 1:
        raise DatasetError(source, "not a hub dataset name: use hf:owner/name (or hf:name)")
    import datasets
    from huggingface_hub import constants

    from training.model import _hub_reachable  # the same fast probe that --base uses

    if not constants.HF_HUB_OFFLINE and not _hub_reachable():
        raise DatasetError(source, hub_unreachable_message(name))
    try:
        loaded = datasets.load_dataset(name, split=split)
    except (datasets.exceptions.DatasetsError, OSError, ValueError, ConnectionError) as exc:
        if constants.HF_HUB_OFFLINE:
            raise DatasetError(source, hub_unreachable_message(name)) from None
        raise DatasetError(source, f"cannot load the hub dataset {name!r}: {exc}") from None
    yield from _rows(source, iter(loaded))
