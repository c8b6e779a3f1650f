"""Binary and Hugging Face datasets: Parquet and Arrow files, ``datasets.save_to_disk`` folders and hub
datasets (``hf:owner/name``), read into the same items the text formats give, so the shape detection,
field mapping, validation and report are the same for every source.

A file is recognised by its first bytes, not its name: a Parquet file named ``data.csv`` is still read as
Parquet, and a compressed or archived file gets a message about what it is instead of an encoding error.

The limits hold as for text (``_checked_rows``): a table is refused from its metadata where that tells
(rows past ``MAX_RECORDS``, uncompressed data past ``MAX_DATASET_BYTES``), and each batch's text is
measured on Arrow's side before the batch becomes Python objects, since dictionary encoding lets a 1 KB
file hold a 10 MB text in every row. Parquet's dictionary-encoded columns are read as dictionaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from training.data.errors import DatasetError
from training.data.formats import Where
from training.data.limits import MAX_DATASET_BYTES, MAX_RECORD_CHARS, MAX_RECORDS, size, too_many_records

HUB_PREFIX = "hf:"
DEFAULT_SPLIT = "train"
TABLE_SYNTAXES = ("parquet", "arrow")
# Rows read at a time: each batch of a Parquet file read with dictionaries carries the dictionary, so
# small batches cost (1,024 rows made a load a third slower). Its text is measured before it is decoded.
BATCH_ROWS = 65536
SAVED_FILES = ("state.json", "dataset_info.json", "dataset_dict.json")  # save_to_disk writes these
_TEXT_TYPES = (
    "string",
    "large_string",
    "string_view",
    "binary",
    "large_binary",
    "binary_view",
    "fixed_size_binary",
)
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
    """The rows of a Parquet file or an Arrow IPC file/stream, batch by batch (memory-mapped), within the
    limits (``_checked_rows``)."""
    import pyarrow as pa

    try:
        if kind == "parquet":
            yield from _rows(str(path), _checked_rows(path, _parquet_batches(path)))
            return
        with pa.memory_map(str(path)) as source:
            _check_size(path, None, source.size(), "")
            if source.read(6) == b"ARROW1":
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                source.seek(0)
                batches = iter(pa.ipc.open_stream(source))
            yield from _rows(str(path), _checked_rows(path, batches))
    except MemoryError:  # pyarrow's too (ArrowMemoryError): the loader words it
        raise
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(path, f"unreadable {kind} file: {exc}") from None


def _parquet_batches(path: Path) -> Iterator[Any]:
    """A Parquet file's batches, once its metadata is within the limits; its dictionary-encoded text
    columns stay dictionaries (decoded, one 10 MB text repeated in 150 rows is 1.5 GB before any check)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    _check_size(path, meta.num_rows, sum(group.total_byte_size for group in groups), " uncompressed")
    columns = (group.column(i) for group in groups for i in range(group.num_columns))
    dictionary = {
        column.path_in_schema
        for column in columns
        if column.has_dictionary_page and column.physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")
    }
    return pq.ParquetFile(path, read_dictionary=sorted(dictionary)).iter_batches(BATCH_ROWS)


def _check_size(source: str | Path, rows: int | None, data: int, how: str) -> None:
    """Refuse a table of more than ``MAX_RECORDS`` rows or ``MAX_DATASET_BYTES`` of data (``how``: which
    size that is), as its metadata tells them."""
    if rows is not None and rows > MAX_RECORDS:
        raise DatasetError(source, too_many_records(MAX_RECORDS))
    if data > MAX_DATASET_BYTES:
        raise DatasetError(
            source, f"{size(data)}{how}, over the {_bytes_limit()}; split it into smaller files"
        )


def _bytes_limit() -> str:
    return f"{size(MAX_DATASET_BYTES)} limit for one dataset file (MAX_DATASET_BYTES)"


def _checked_rows(source: str | Path, batches: Iterator[Any]) -> Iterator[dict[str, Any]]:
    """The rows of Arrow record ``batches`` as dicts, each batch checked before it becomes Python objects:
    at most ``MAX_RECORDS`` rows, no row with more than ``MAX_RECORD_CHARS`` bytes of text (an error
    naming the record and its biggest field) and at most ``MAX_DATASET_BYTES`` of text in all. Bytes, not
    characters: they are read from Arrow's offsets without decoding a text."""
    import numpy as np

    done = text = 0
    for batch in batches:
        if done + batch.num_rows > MAX_RECORDS:
            raise DatasetError(source, too_many_records(MAX_RECORDS))
        measured = zip(batch.schema.names, map(_text_bytes, batch.columns), strict=True)
        fields = [(name, sizes) for name, sizes in measured if sizes is not None]
        if fields and batch.num_rows:
            per_row = np.sum([sizes for _, sizes in fields], axis=0)
            if (over := np.flatnonzero(per_row > MAX_RECORD_CHARS)).size:
                row = int(over[0])
                name = max(fields, key=lambda field: field[1][row])[0]
                limit = f"{size(MAX_RECORD_CHARS)} limit for one record (MAX_RECORD_CHARS)"
                problem = f"record too long: {int(per_row[row]):,} bytes of text, over the {limit}"
                raise DatasetError(source, problem, record=done + row + 1, field=name)
            text += int(per_row.sum())
            if text > MAX_DATASET_BYTES:
                problem = f"more than {size(MAX_DATASET_BYTES)} of text, over the {_bytes_limit()}"
                raise DatasetError(source, f"{problem}; split it into smaller files")
        yield from _decoded(batch).to_pylist()
        done += batch.num_rows


def _text_bytes(array: Any) -> Any:
    """The bytes of text (and binary) in each slot of the Arrow ``array``, those of nested lists and
    structs summed, as a numpy array; None when it holds none (numbers, booleans...)."""
    import numpy as np
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        indices = array.indices
        raw = np.frombuffer(indices.buffers()[1], dtype=indices.type.to_pandas_dtype())
        raw = raw[indices.offset : indices.offset + len(indices)]  # a null's index may be anything
        sizes = _entry_bytes(array.dictionary, np.clip(raw, 0, max(len(array.dictionary) - 1, 0)))
        if sizes is None:
            return None
    elif _is_text(kind):
        sizes = _entry_bytes(array, np.arange(len(array)))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        inner = _text_bytes(array.values)  # the whole child: the offsets index it
        if inner is None:
            return None
        offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        sums = np.concatenate(([0], np.cumsum(inner, dtype=np.int64)))
        sizes = sums[offsets[1:]] - sums[offsets[:-1]]
    elif pa.types.is_fixed_size_list(kind):
        inner = _text_bytes(array.values)  # the whole child, from before the array's offset
        width = kind.list_size
        if inner is None or not width:
            return None
        sizes = (
            inner[array.offset * width : (array.offset + len(array)) * width].reshape(-1, width).sum(axis=1)
        )
    elif pa.types.is_struct(kind):
        children = [sizes for sizes in map(_text_bytes, array.flatten()) if sizes is not None]
        if not children:
            return None
        sizes = np.sum(children, axis=0)
    else:
        return None
    sizes = np.asarray(sizes, dtype=np.int64)
    if array.null_count:
        sizes = np.where(array.is_valid().to_numpy(zero_copy_only=False), sizes, 0)
    return sizes


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return any(getattr(pa.types, f"is_{name}")(kind) for name in _TEXT_TYPES)


def _entry_bytes(values: Any, indices: Any) -> Any:
    """The sizes of ``values[indices]``, text or binary ``values``, read from their offsets (for a
    dictionary's values, of only the entries used: a batch's dictionary can hold its whole row group's
    texts, and measuring all of them for each batch made reading several times slower)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if not len(values):
        return np.zeros(len(indices), dtype=np.int64)
    large = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
    if large or pa.types.is_string(kind) or pa.types.is_binary(kind):
        offsets = np.frombuffer(values.buffers()[1], dtype=np.int64 if large else np.int32)
        offsets = offsets[values.offset : values.offset + len(values) + 1]
        return offsets[indices + 1].astype(np.int64) - offsets[indices]
    if pa.types.is_fixed_size_binary(kind):
        return np.full(len(indices), kind.byte_width, dtype=np.int64)
    if _is_text(kind):  # the view types
        return pc.binary_length(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)[indices]
    inner = _text_bytes(values)
    return None if inner is None else inner[indices]


def _decoded(batch: Any) -> Any:
    """``batch`` with its dictionary columns (read so by ``_parquet_batches``) decoded: ``to_pylist`` is
    several times slower on dictionaries, and the texts were measured already."""
    import pyarrow as pa

    schema = pa.schema([field.with_type(_dense(field.type)) for field in batch.schema])
    return batch if schema.equals(batch.schema) else batch.cast(schema)


def _dense(kind: Any) -> Any:
    """The type ``kind`` with each dictionary type, at any depth, replaced by its value type."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return _dense(kind.value_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = kind.value_field.with_type(_dense(kind.value_type))
        return pa.list_(item) if pa.types.is_list(kind) else pa.large_list(item)
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_dense(field.type)) for field in kind])
    return kind


def disk_items(path: Path, split: str = DEFAULT_SPLIT) -> Iterator[tuple[Where, Any]]:
    """The rows of a folder written by ``Dataset.save_to_disk`` (or one split of a ``DatasetDict``); a
    damaged one (a truncated shard, a bad state.json, a missing file) is an error naming the folder."""
    import datasets
    import pyarrow as pa

    try:
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = _split(path, loaded, split)
        yield from _rows(str(path), _dataset_rows(path, loaded))
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
    yield from _rows(source, _dataset_rows(source, loaded))


def _dataset_rows(source: str | Path, dataset: Any) -> Iterator[dict[str, Any]]:
    """A ``datasets.Dataset``'s rows within the limits: its row count and Arrow size first, then batch by
    batch as Arrow tables (``_checked_rows``) rather than row by row as Python objects."""
    _check_size(source, dataset.num_rows, dataset.data.nbytes, " of Arrow data")
    tables = dataset.with_format("arrow").iter(batch_size=BATCH_ROWS)
    yield from _checked_rows(source, (batch for table in tables for batch in table.to_batches()))
