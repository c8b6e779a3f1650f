"""JSON parsing for dataset files that never fails with a Python error: nesting too deep for the parser
is a ``DatasetError`` naming the record, and an integer too long for ``int()`` (past
``sys.get_int_max_str_digits()``, 4300 digits) is kept as a ``HugeNumber``, so a field holding one fails
the usual type check ("not a string (got a 5000-digit number)") with its record and field, and one in a
field nobody reads costs nothing. A list of records, and JSON Lines, are parsed one record at a time
(``array_items``, ``lines``): parsed whole, 240 MiB of ``{}`` is tens of millions of objects (GBs).
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data.errors import DatasetError
from training.data.limits import MAX_RECORD_CHARS, size, too_many_records

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NOT_BLANK = re.compile(r"\S")  # what str.strip() keeps
_SCAN_DEPTH = 8  # levels of a document checked item by item (deeper values are parsed whole)
SHOWN_KEYS = 10  # keys an error message lists
_COUNTED_KEYS = 100_000  # keys of an object remembered (see Members)


class JsonTooDeep(ValueError):
    """Arrays/objects nested deeper than the parser can go (Python's recursion limit, about 1000);
    ``offset``: where the value that is too deep starts, when known."""

    PROBLEM = "malformed JSON: arrays or objects nested too deeply for the parser (about 1000 levels)"

    def __init__(self, offset: int | None = None) -> None:
        super().__init__(self.PROBLEM)
        self.offset = offset


class HugeNumber:
    """A JSON integer with more digits than ``int()`` converts; only its length is kept."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a {self.digits}-digit number"


def _int(text: str) -> int | HugeNumber:
    digits = len(text) - text.startswith("-")
    limit = sys.get_int_max_str_digits()
    return HugeNumber(digits) if limit and digits > limit else int(text)


_DECODER = json.JSONDecoder(parse_int=_int)


def loads(text: str) -> Any:
    """``json.loads(text)`` with huge integers as ``HugeNumber``; raises ``json.JSONDecodeError`` as it
    does, and ``JsonTooDeep`` instead of ``RecursionError``."""
    try:
        return json.loads(text, parse_int=_int)
    except RecursionError:
        raise JsonTooDeep from None


def first(text: str, pos: int = 0) -> int:
    """The offset of the first character at or after ``pos`` that is not JSON whitespace."""
    return _WHITESPACE.match(text, pos).end()


def _value(text: str, pos: int) -> tuple[Any, int]:
    """The JSON value that starts at ``text[pos]`` and the offset after it."""
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise JsonTooDeep(pos) from None


Parse = Callable[[str, int], tuple[Any, int]]


def _array(text: str, pos: int, parse: Parse = _value) -> Generator[tuple[int, Any], None, int]:
    """Each item of the JSON array at ``text[pos]`` (a ``[``) with its offset, parsed alone by ``parse``;
    returns the offset after the array's ``]``. Raises ``json.JSONDecodeError`` as ``json`` words it."""
    pos = first(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    while True:
        item, end = parse(text, pos)
        yield pos, item
        pos = first(text, end)
        if text.startswith("]", pos):
            return pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = first(text, pos + 1)


@dataclass
class Members:
    """What ``members`` saw of a JSON object: the offset after it, where the value of the key it looked
    for starts (the last one, which ``json.loads`` keeps), how many keys it has, its first ``SHOWN_KEYS``
    keys in sorted order, and (``lists``) its first keys whose value is a list."""

    end: int = 0
    value: int | None = None
    count: int = 0
    keys: list[str] = field(default_factory=list)
    # Whether each key's (last) value is a list, for the first _COUNTED_KEYS keys: past them, a key
    # repeated counts twice.
    _is_list: dict[str, bool] = field(default_factory=dict)

    def add(self, key: str, is_list: bool) -> None:
        if key in self._is_list:
            self._is_list[key] = is_list
            return
        if len(self._is_list) < _COUNTED_KEYS:
            self._is_list[key] = is_list
        self.count += 1
        if len(self.keys) < SHOWN_KEYS or key < self.keys[-1]:
            bisect.insort(self.keys, key)
            del self.keys[SHOWN_KEYS:]

    @property
    def lists(self) -> list[str]:
        return [key for key, is_list in self._is_list.items() if is_list][:SHOWN_KEYS]


def members(text: str, pos: int, want: str | None = None, depth: int = 0) -> Members:
    """Check the JSON object at ``text[pos]`` (a ``{``) without holding it: each value is parsed (a list's
    items and an object's values one at a time) and dropped; ``want``: the key whose value to locate.
    Raises ``json.JSONDecodeError`` as ``json`` words it, and ``JsonTooDeep``."""
    seen = Members()
    pos = first(text, pos + 1)
    if text.startswith("}", pos):
        seen.end = pos + 1
        return seen
    while True:
        if not text.startswith('"', pos):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
        key, pos = _value(text, pos)
        pos = first(text, pos)
        if not text.startswith(":", pos):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
        pos = first(text, pos + 1)
        seen.add(key, text.startswith("[", pos))
        if key == want:
            seen.value = pos
        pos = first(text, _skip(text, pos, depth + 1))
        if text.startswith("}", pos):
            seen.end = pos + 1
            return seen
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = first(text, pos + 1)


def _skip(text: str, pos: int, depth: int) -> int:
    """The offset after the JSON value at ``text[pos]``, checked but not kept: down to ``_SCAN_DEPTH``
    levels of objects, an array's items and an object's values are parsed one at a time, so a big list or
    object is never held whole (one item is)."""
    if depth < _SCAN_DEPTH and text.startswith("{", pos):
        return members(text, pos, depth=depth).end
    if text.startswith("[", pos):
        return _drain(_array(text, pos))
    return _value(text, pos)[1]


def _drain(items: Generator[tuple[int, Any], None, int]) -> int:
    """Run ``_array`` to its end, dropping each item, and return what it returns."""
    while True:
        try:
            next(items)
        except StopIteration as done:
            return done.value


def value_type(text: str, pos: int) -> str:
    """The type name (as ``type(value).__name__`` says it) of the JSON value at ``text[pos]``."""
    if text.startswith("{", pos):
        return "dict"
    return type(_value(text, pos)[0]).__name__


def array_items(
    path: Path, text: str, pos: int, *, checked: bool = False, limit: int | None = None
) -> Iterator[tuple[int, Any]]:
    """``(record number, item)`` of each item of the JSON array at ``text[pos]``, parsed one at a time, so
    memory holds one record's objects, not the whole file's. Unless ``checked`` (the caller checked the
    whole document), the array is checked first, each item parsed and dropped, and only whitespace may
    follow it: malformed JSON is reported before any record, as ``json.loads`` would, and an array past
    ``limit`` items is refused (``too_many_records``) before any record is kept. A problem is a
    ``DatasetError``: nesting too deep names the record and its line, malformed JSON its line and column."""
    number = 0  # items parsed: a problem is in the next one
    try:
        if not checked:
            items = _array(text, pos)
            while True:
                try:
                    next(items)
                except StopIteration as done:
                    end = first(text, done.value)
                    break
                number += 1
                if limit is not None and number > limit:
                    raise DatasetError(path, too_many_records(limit))
            if end < len(text):
                raise json.JSONDecodeError("Extra data", text, end)
            number = 0
        for _, item in _array(text, pos):
            number += 1
            yield number, item
    except JsonTooDeep as exc:
        line = text.count("\n", 0, exc.offset or 0) + 1
        raise DatasetError(path, exc.PROBLEM, record=number + 1, line=line) from None
    except json.JSONDecodeError as exc:
        raise malformed(path, exc) from None


def malformed(path: Path, exc: json.JSONDecodeError) -> DatasetError:
    return DatasetError(
        path, f"malformed JSON: {exc.msg}{_table_hint(exc)}", line=exc.lineno, column=exc.colno
    )


def _table_hint(exc: json.JSONDecodeError) -> str:
    """A table saved under a JSON name fails at its first character: say what reads it."""
    first = (exc.doc or "").lstrip().split("\n", 1)[0]
    if exc.lineno != 1 or exc.msg != "Expecting value" or not ("," in first or "\t" in first):
        return ""
    return " (this looks like CSV: pass --format csv, or name the file .csv, or .tsv for tabs)"


def lines(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each line of JSON Lines ``text`` that is not blank, one line at a time
    (``line_item``). Lines end at a line feed only: ``str.splitlines`` would also break at U+2028 etc.,
    which JSON strings may hold."""
    pos, lineno, counted = 0, 1, 0
    while found := _NOT_BLANK.search(text, pos):
        newline = text.rfind("\n", pos, found.start())
        start = pos if newline < 0 else newline + 1
        lineno += text.count("\n", counted, start)
        counted = start
        end = text.find("\n", found.start())
        end = len(text) if end < 0 else end
        yield lineno, line_item(path, text[start:end], lineno)
        pos = end + 1


def line_item(path: Path, line: str, lineno: int) -> Any:
    """The JSON value on line ``lineno`` of a JSON Lines file; any problem is a ``DatasetError`` naming the
    line (a line past ``MAX_RECORD_CHARS`` is refused unparsed)."""
    if len(line) > MAX_RECORD_CHARS:
        raise DatasetError(path, record_too_long(len(line)), line=lineno)
    try:
        return loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            path,
            f"malformed JSON: {exc.msg}{_table_hint(exc) if lineno == 1 else ''}",
            line=lineno,
            column=exc.colno,
        ) from None
    except JsonTooDeep as exc:
        raise DatasetError(path, str(exc), line=lineno) from None


def record_too_long(chars: int) -> str:
    limit = f"{size(MAX_RECORD_CHARS)} limit for one record (MAX_RECORD_CHARS)"
    return f"record too long: {chars:,} characters, over the {limit}"
