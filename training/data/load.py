"""Reading a dataset into records: the source's syntax (JSON, JSON Lines, CSV/TSV, Parquet, Arrow, a
``save_to_disk`` folder, ``hf:owner/name`` on the hub) and the record shape (see ``formats``) are both
detected, and every problem is reported as a ``DatasetError``. ``fmt`` may force either:
``json``/``jsonl``/``csv``/``parquet``/``arrow`` the syntax, a shape name (``formats``) the shape.

TRL preference files are read by ``training.data.preference`` (the reader ``qabot import`` uses), not as
plain prompt/completion pairs, so their verdicts hold: a KTO row labelled false is set aside in
``undesirable`` (cleaning counts it as removed) and a DPO row gives its ``chosen`` answer, never the
``rejected`` one. Binary files are recognised by their first bytes (``tables.MAGIC``); gzip/bz2/xz files
are decompressed (``reading``); sizes and JSON nesting are bounded (``limits``, ``jsontext``). CSV follows
RFC 4180 (Python's default dialect); only the delimiter is guessed, among ``,`` ``;`` tab and ``|``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data import jsontext
from training.data.errors import DatasetError, listing, location, shown
from training.data.formats import PREFERENCE_SHAPES, SHAPES, Where, detect_shape, extract
from training.data.limits import MAX_RECORD_CHARS, MAX_RECORDS, OUT_OF_MEMORY, size, too_many_records
from training.data.reading import decode, read_source
from training.data.tables import (
    COMPRESSED,
    DEFAULT_SPLIT,
    HUB_PREFIX,
    TABLE_SYNTAXES,
    disk_items,
    hub_items,
    table_items,
)
from training.records import Record, make_record

SYNTAXES = ("json", "jsonl", "csv", *TABLE_SYNTAXES)
FORMATS = SYNTAXES + SHAPES + PREFERENCE_SHAPES
_SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv"}
# Only the delimiter is guessed (RFC 4180 otherwise): csv.Sniffer, guessing the whole dialect from a
# sample, was misled by apostrophes and could pick ' as the quote.
_CSV_DELIMITERS = ",;\t|"
_CSV_SNIFF_ROWS = 50  # records parsed with each candidate delimiter to choose one
_CSV_SNIFF_CHARS = 65536
_NOT_BLANK = re.compile(r"\S")
_LINE_END = re.compile(r"\r\n?|\n")


@dataclass
class LoadedDataset:
    """The records of one file plus what was detected about it (for the report). ``empty`` holds the
    conversation turns (sharegpt / messages) whose question or answer is empty: real chat dumps have
    them, so they are set aside (and counted by cleaning) rather than failing the whole file.
    ``undesirable`` holds a KTO file's rows labelled false: never trained on, counted by cleaning.
    ``unpaired`` says where the conversations are that gave no question/answer pair with text."""

    path: Path
    syntax: str
    shape: str
    records: list[Record] = field(default_factory=list)
    empty: list[Record] = field(default_factory=list)
    undesirable: list[Record] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        return f"{self.syntax}/{self.shape}"


def _syntax(path: Path, text: str, forced: str | None) -> str:
    if forced in SYNTAXES:
        return forced
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    return "json" if _first_char(text) in ("[", "{") else "csv"


def _first_char(text: str) -> str:
    """The first character of ``text`` that is not whitespace ("" for none), without copying ``text``."""
    found = _NOT_BLANK.search(text)
    return found.group() if found else ""


def _json_items(path: Path, text: str, records_key: str | None) -> tuple[str, Iterator[tuple[Where, Any]]]:
    """Items of a JSON document (a list, or a list under ``records_key``), parsed one at a time; JSON
    Lines saved as .json are recognised by the 'Extra data' error after their first line."""
    pos = jsontext.first(text)
    if text.startswith("[", pos) and not records_key:
        return "json", _numbered(path, jsontext.array_items(path, text, pos, limit=MAX_RECORDS))
    try:
        pos = _records_at(path, text, pos, records_key)
    except json.JSONDecodeError as exc:
        newline = text.find("\n", pos)
        if exc.msg == "Extra data" and _is_json_object(text[pos : newline if newline >= 0 else len(text)]):
            return "jsonl", _jsonl_items(path, text)
        raise jsontext.malformed(path, exc) from None
    except jsontext.JsonTooDeep as exc:
        raise DatasetError(path, str(exc)) from None
    return "json", _numbered(path, jsontext.array_items(path, text, pos, checked=True))


def _numbered(path: Path, items: Iterator[tuple[int, Any]]) -> Iterator[tuple[Where, Any]]:
    return ((Where(str(path), record=number), item) for number, item in items)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(jsontext.loads(line), dict)
    except ValueError:  # JSONDecodeError, JsonTooDeep
        return False


def _records_at(path: Path, text: str, pos: int, records_key: str | None) -> int:
    """The offset of the list of records in a JSON document that is not a plain list, ``top[a][b]`` for a
    records key ``a.b``: the document is checked whole first (each value parsed and dropped, never held
    together), and a missing key is an error naming the keys there are."""
    parts = records_key.split(".") if records_key else []
    if not text.startswith("{", pos):
        top = jsontext.loads(text)  # a number, string...: small, or malformed
        if parts:
            raise DatasetError(path, f"no key {parts[0]!r} for --records-key {records_key!r} (keys: [])")
        raise DatasetError(path, f"not a list: the top level is {type(top).__name__}, not a list of records")
    seen = jsontext.members(text, pos, parts[0] if parts else None)
    if (end := jsontext.first(text, seen.end)) < len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    if not parts:
        lists = ", ".join(map(repr, shown(seen.lists)))
        hint = f"; pass --records-key ({lists} holds a list)" if lists else ""
        raise DatasetError(path, f"not a list: the top level is an object, not a list of records{hint}")
    for number, part in enumerate(parts):
        if number:
            if not text.startswith("{", pos):
                raise DatasetError(path, f"no key {part!r} for --records-key {records_key!r} (keys: [])")
            seen = jsontext.members(text, pos, part)
        if seen.value is None:
            keys = listing(seen.keys, total=seen.count)
            raise DatasetError(path, f"no key {part!r} for --records-key {records_key!r} (keys: {keys})")
        pos = seen.value
    if not text.startswith("[", pos):
        kind = jsontext.value_type(text, pos)
        raise DatasetError(path, f"not a list: {records_key!r} holds {kind}, not a list")
    return pos


def _jsonl_items(path: Path, text: str) -> Iterator[tuple[Where, Any]]:
    for lineno, item in jsontext.lines(path, text):
        yield Where(str(path), line=lineno), item


def _text_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` as ``io.StringIO(text, newline="")`` gives them (each ending at CR LF, CR or
    LF, kept), one at a time: a StringIO would hold a copy of the text, four bytes a character."""
    pos, total = 0, len(text)
    while pos < total:
        found = _LINE_END.search(text, pos)
        end = found.end() if found else total
        yield text[pos:end]
        pos = end


def _csv_delimiter(path: Path, text: str) -> str:
    """The delimiter (``,`` ``;`` tab ``|``) that splits the header into the most columns consistently
    with the rows after it; a .tsv file is tab-separated."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    sample = text[:_CSV_SNIFF_CHARS]
    best, best_score = ",", (False, 0, 0)
    for delimiter in _CSV_DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            rows = list(itertools.islice(reader, _CSV_SNIFF_ROWS))
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        score = (width > 1, sum(len(row) == width for row in rows[1:]), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _named_twice(header: list[str]) -> str | None:
    """The first non-blank column name seen before in ``header`` (in linear time: a header may hold 250k)."""
    seen: set[str] = set()
    for name in header:
        if name in seen:
            return name
        if name:
            seen.add(name)
    return None


def _csv_items(path: Path, text: str) -> Iterator[tuple[Where, Any]]:
    # RFC 4180 quoting; strict: a stray quote after a closing one, or a quote never closed, is an error
    # with its line rather than a silently merged field.
    csv.field_size_limit(MAX_RECORD_CHARS)
    reader = csv.reader(_text_lines(text), delimiter=_csv_delimiter(path, text), strict=True)
    start = 1
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DatasetError(path, "empty dataset: no header row", line=1)
        header = [h.strip() for h in header]
        if twice := _named_twice(header):
            raise DatasetError(path, "named twice in the header; rename one", line=1, field=twice)
        start = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                if (chars := sum(map(len, row))) > MAX_RECORD_CHARS:
                    raise DatasetError(path, jsontext.record_too_long(chars), line=start)
                if len(row) > len(header):
                    problem = f"{len(row)} columns but the header has {len(header)}"
                    raise DatasetError(path, problem, line=start)
                yield Where(str(path), line=start), dict(zip(header, row, strict=False))
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            problem = "malformed CSV: a quoted field that starts in this row is never closed"
            raise DatasetError(path, problem, line=start) from None
        if "field larger than field limit" in str(exc):
            problem = f"record too long: a field over the {size(MAX_RECORD_CHARS)} limit (MAX_RECORD_CHARS)"
            raise DatasetError(path, problem, line=start) from None
        raise DatasetError(path, f"malformed CSV: {exc}", line=reader.line_num) from None


def _items(
    path: Path, fmt: str | None, records_key: str | None, encoding: str | None, split: str
) -> tuple[str, Iterator[tuple[Where, Any]]]:
    """The source's syntax and its items (one per record, with where each is)."""
    if str(path).startswith(HUB_PREFIX) and not path.exists():
        return "hub", hub_items(str(path), split)
    if path.is_dir():
        return "save_to_disk", disk_items(path, split)
    kind, data = read_source(path)
    if kind in TABLE_SYNTAXES or fmt in TABLE_SYNTAXES:
        if kind in COMPRESSED or (kind is None and not data.strip()):
            raise DatasetError(path, "empty dataset: the file is empty")
        return kind or fmt, table_items(path, kind or fmt)
    text = decode(path, data, encoding)
    del data  # the text is what is read from now on
    if not text or text.isspace():
        raise DatasetError(path, "empty dataset: the file is empty")
    syntax = _syntax(path, text, fmt)
    if syntax == "json":
        return _json_items(path, text, records_key)
    return syntax, _jsonl_items(path, text) if syntax == "jsonl" else _csv_items(path, text)


def read_dataset(
    path: str | Path,
    fmt: str | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
    records_key: str | None = None,
    encoding: str | None = None,
    split: str = DEFAULT_SPLIT,
) -> LoadedDataset:
    """Load one source (a file, a ``save_to_disk`` folder or ``hf:owner/name``) into normalized records
    and say what format it was. ``encoding`` names a text file's encoding; ``split`` picks the split of a
    hub dataset or a saved ``DatasetDict``. Past ``MAX_RECORDS`` records, or out of memory, it is a
    ``DatasetError`` too."""
    path = Path(path)
    try:
        return _read_dataset(path, fmt, question_field, answer_field, records_key, encoding, split)
    except MemoryError:
        pass  # raised below, once this traceback, and the objects its frames hold, are gone
    raise DatasetError(path, OUT_OF_MEMORY)


def _read_dataset(
    path: Path,
    fmt: str | None,
    question_field: str | None,
    answer_field: str | None,
    records_key: str | None,
    encoding: str | None,
    split: str,
) -> LoadedDataset:
    if fmt is not None and fmt not in FORMATS:
        raise DatasetError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    syntax, items = _items(path, fmt, records_key, encoding, split)
    forced_shape = fmt if fmt in SHAPES + PREFERENCE_SHAPES else None
    loaded = LoadedDataset(path, syntax, forced_shape or "?")
    shape = None
    preference: str | None = None  # "kto" / "dpo": rows read by training.data.preference
    for count, (where, item) in enumerate(items, 1):
        if count > MAX_RECORDS:
            raise DatasetError(path, too_many_records(MAX_RECORDS))
        if shape is None and preference is None:
            preference = _preference_kind(item, forced_shape, question_field, answer_field)
            if preference is None:
                try:
                    shape = detect_shape(item, where, forced_shape, question_field, answer_field)
                except DatasetError as exc:
                    raise _csv_error(path, syntax, fmt, exc, item) if syntax == "csv" else exc from None
            loaded.shape = preference or shape.name
        if preference is not None:
            _add_preference_rows(loaded, preference, item, where)
            continue
        found = len(loaded.records)
        for record in extract(item, where, shape):
            (loaded.records if record["question"] and record["answer"] else loaded.empty).append(record)
        if len(loaded.records) == found:
            loaded.unpaired.append(location(record=where.record, line=where.line))
    if shape is None and preference is None:
        empty = DatasetError(path, "empty dataset: no records")
        raise _csv_error(path, syntax, fmt, empty) if syntax == "csv" else empty
    if not loaded.records and loaded.undesirable:
        problem = f"no desirable pairs: all {len(loaded.undesirable)} kto rows are labelled false"
        raise DatasetError(path, f"empty dataset: {problem}")
    if not loaded.records:
        raise DatasetError(path, f"empty dataset: no question/answer pairs in the {loaded.shape} records")
    return loaded


SUPPORTED = (
    "JSON (.json), JSON Lines (.jsonl, .ndjson), CSV or TSV with a header row (.csv, .tsv), Parquet, Arrow, "
    "a save_to_disk folder or hf:owner/name (gzip, bz2 and xz compressed too)"
)
CSV_HEADER = "a CSV needs a header row naming its columns, such as question,answer, then one row per pair"


def _csv_error(
    path: Path, syntax: str, fmt: str | None, error: DatasetError, first: Any = None
) -> DatasetError:
    """``error`` (no records, or a shape not told from the ``first`` row) of a file read as CSV, saying why:
    a .csv/.tsv file (or ``--format csv``) needs its header row; any other text was read as CSV only because
    it does not start with ``[`` or ``{``, so it is most likely a format qabot does not read."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    suffix = suffixes[-1] if suffixes else ""
    if fmt == "csv" or _SUFFIXES.get(suffix) == syntax:
        if error.line is None:  # no row under the header
            return DatasetError(
                path, f"empty dataset: no records under the header row (line 1); {CSV_HEADER}"
            )
        problem = f"{error.problem}. Its first row is read as the header: {CSV_HEADER}"
        return DatasetError(path, problem, record=error.record, line=error.line, field=error.field)
    what = f"a {suffix} file" if suffix else "a file without a suffix"
    found = (
        f"its first line, read as the header ({listing(first)}), names no question and answer columns"
        if isinstance(first, dict)
        else "it holds no question/answer pairs under a header row"
    )
    return DatasetError(
        path,
        f"not a supported format: {what} is read as CSV when it does not start with [ or {{, and {found}. "
        f"Supported: {SUPPORTED}; --format names one",
    )


def _preference_kind(
    first: Any, forced_shape: str | None, question_field: str | None, answer_field: str | None
) -> str | None:
    """``kto`` / ``dpo`` when the dataset is a TRL preference file (judged from its first row, or forced);
    None for every other shape, and when --question-field/--answer-field name the fields to read."""
    from training.data.preference import (
        preference_kind,  # here: training.data.preference imports training.data
    )

    if question_field or answer_field:
        return None
    if forced_shape in PREFERENCE_SHAPES:
        return forced_shape
    if forced_shape not in (None, "prompt-completion"):
        return None
    return preference_kind(first)


def _add_preference_rows(loaded: LoadedDataset, kind: str, item: Any, where: Where) -> None:
    """One KTO/DPO row's records: desirable/chosen answers train, a KTO "label": false is set aside as
    undesirable, and a DPO row's rejected answer is dropped (it is the other half of the pair)."""
    from training.data.preference import preference_rows

    for row in preference_rows(kind, item, where):
        record = make_record(row["question"], row["answer"])
        if row["label"]:
            loaded.records.append(record)
        elif kind == "kto":
            loaded.undesirable.append(record)


def load_dataset_file(
    path: str | Path,
    fmt: str | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
    records_key: str | None = None,
    encoding: str | None = None,
    split: str = DEFAULT_SPLIT,
) -> list[Record]:
    """The normalized, non-empty records of a dataset in any supported format; raises ``DatasetError``."""
    return read_dataset(path, fmt, question_field, answer_field, records_key, encoding, split).records
