"""Reading a dataset file into records: the file syntax (JSON, JSON Lines, CSV) and the record shape
(see ``formats``) are both detected, and every problem is reported as a ``DatasetError``.

``fmt`` may force either one: ``json``/``jsonl``/``csv`` force the syntax (the shape is still detected),
``seed``/``alpaca``/``sharegpt``/``messages``/``prompt-completion`` force the shape.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data.errors import DatasetError
from training.data.formats import SHAPES, Where, detect_shape, extract
from training.records import Record

SYNTAXES = ("json", "jsonl", "csv")
FORMATS = SYNTAXES + SHAPES
_SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv"}
_CSV_DELIMITERS = ",;\t|"


@dataclass
class LoadedDataset:
    """The records of one file plus what was detected about it (for the report). ``empty`` holds the
    conversation turns (sharegpt / messages) whose question or answer is empty: real chat dumps have
    them, so they are set aside (and counted by cleaning) rather than failing the whole file."""

    path: Path
    syntax: str
    shape: str
    records: list[Record] = field(default_factory=list)
    empty: list[Record] = field(default_factory=list)

    @property
    def format(self) -> str:
        return f"{self.syntax}/{self.shape}"


def _decode(path: Path, data: bytes) -> str:
    """The file's text: UTF-8 (BOM allowed) or UTF-16 with a BOM; else an error with the byte offset."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DatasetError(path, f"unreadable UTF-16: {exc.reason}", byte_offset=exc.start) from None
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        raise DatasetError(
            path,
            f"unreadable encoding: byte 0x{data[offset]:02x} is not valid UTF-8 ({exc.reason}); "
            "save the file as UTF-8",
            byte_offset=offset,
            line=line,
        ) from None


def _syntax(path: Path, text: str, forced: str | None) -> str:
    if forced in SYNTAXES:
        return forced
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    return "json" if text.lstrip()[:1] in ("[", "{") else "csv"


def _json_items(path: Path, text: str, records_key: str | None) -> tuple[str, Iterator[tuple[Where, Any]]]:
    """Items of a JSON document (a list, or a list under ``records_key``); JSON Lines saved as .json
    are recognised by the 'Extra data' error on their second line."""
    try:
        top = json.loads(text)
    except json.JSONDecodeError as exc:
        first_line = text.lstrip().split("\n", 1)[0]
        if exc.msg == "Extra data" and _is_json_object(first_line):
            return "jsonl", _jsonl_items(path, text)
        raise DatasetError(path, f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    if records_key:
        top = _under_key(path, top, records_key)
    elif isinstance(top, dict):
        lists = [k for k, v in top.items() if isinstance(v, list)]
        hint = f"; pass --records-key ({', '.join(map(repr, lists))} holds a list)" if lists else ""
        raise DatasetError(path, f"not a list: the top level is an object, not a list of records{hint}")
    if not isinstance(top, list):
        raise DatasetError(path, f"not a list: the top level is {type(top).__name__}, not a list of records")
    return "json", ((Where(str(path), record=i), item) for i, item in enumerate(top, 1))


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _under_key(path: Path, top: Any, records_key: str) -> Any:
    """``top[a][b]`` for a records key ``a.b``, with an error naming the available keys."""
    node = top
    for part in records_key.split("."):
        if not isinstance(node, dict) or part not in node:
            keys = sorted(node) if isinstance(node, dict) else []
            raise DatasetError(path, f"no key {part!r} for --records-key {records_key!r} (keys: {keys})")
        node = node[part]
    if not isinstance(node, list):
        raise DatasetError(path, f"not a list: {records_key!r} holds {type(node).__name__}, not a list")
    return node


def _jsonl_items(path: Path, text: str) -> Iterator[tuple[Where, Any]]:
    # split on "\n" only: str.splitlines would also break at U+2028 etc., which JSON strings may hold
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(path, f"malformed JSON: {exc.msg}", line=lineno, column=exc.colno) from None
        yield Where(str(path), line=lineno), item


def _csv_items(path: Path, text: str) -> Iterator[tuple[Where, Any]]:
    sample = text[:8192]
    if path.suffix.lower() == ".tsv":
        dialect: Any = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=_CSV_DELIMITERS)
        except csv.Error:  # one column, or too irregular to sniff: plain commas
            dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DatasetError(path, "empty dataset: no header row", line=1)
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                if len(row) > len(header):
                    problem = f"{len(row)} columns but the header has {len(header)}"
                    raise DatasetError(path, problem, line=start)
                yield Where(str(path), line=start), dict(zip(header, row, strict=False))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(path, f"malformed CSV: {exc}", line=reader.line_num) from None


def read_dataset(
    path: str | Path,
    fmt: str | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
    records_key: str | None = None,
) -> LoadedDataset:
    """Load one file into normalized records and say what format it was."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise DatasetError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, f"cannot read the file: {exc.strerror or exc}") from None
    text = _decode(path, data)
    if not text.strip():
        raise DatasetError(path, "empty dataset: the file is empty")
    syntax = _syntax(path, text, fmt)
    if syntax == "json":
        syntax, items = _json_items(path, text, records_key)
    elif syntax == "jsonl":
        items = _jsonl_items(path, text)
    else:
        items = _csv_items(path, text)
    forced_shape = fmt if fmt in SHAPES else None
    loaded = LoadedDataset(path, syntax, forced_shape or "?")
    shape = None
    for where, item in items:
        if shape is None:
            shape = detect_shape(item, where, forced_shape, question_field, answer_field)
            loaded.shape = shape.name
        for record in extract(item, where, shape):
            (loaded.records if record["question"] and record["answer"] else loaded.empty).append(record)
    if shape is None:
        raise DatasetError(path, "empty dataset: no records")
    if not loaded.records:
        raise DatasetError(path, f"empty dataset: no question/answer pairs in the {shape.name} records")
    return loaded


def load_dataset_file(
    path: str | Path,
    fmt: str | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
    records_key: str | None = None,
) -> list[Record]:
    """The normalized, non-empty records of a dataset file in any supported format; raises
    ``DatasetError``."""
    return read_dataset(path, fmt, question_field, answer_field, records_key).records
