"""JSON parsing for dataset files that never fails with a Python error: nesting too deep for the parser
is a ``DatasetError`` naming the record, and an integer too long for ``int()`` (past
``sys.get_int_max_str_digits()``, 4300 digits) is kept as a ``HugeNumber``, so a field holding one fails
the usual type check ("not a string (got a 5000-digit number)") with its record and field, and one in a
field nobody reads costs nothing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from training.data.errors import DatasetError
from training.data.limits import MAX_RECORD_CHARS, size

_WHITESPACE = re.compile(r"[ \t\n\r]*")


class JsonTooDeep(ValueError):
    """Arrays/objects nested deeper than the parser can go (Python's recursion limit, about 1000)."""

    PROBLEM = "malformed JSON: arrays or objects nested too deeply for the parser (about 1000 levels)"


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
        raise JsonTooDeep(JsonTooDeep.PROBLEM) from None


def deep_item(text: str) -> tuple[int, int] | None:
    """For a document ``loads`` found nested too deeply: ``(record number, offset)`` of the first item of
    its top-level list that is, or None when the top level is not a list or no item alone is too deep."""
    end = _WHITESPACE.match(text).end()
    if text[end : end + 1] != "[":
        return None
    pos, number = end + 1, 0
    while True:
        pos = _WHITESPACE.match(text, pos).end()
        if text[pos : pos + 1] in ("]", ""):
            return None
        number += 1
        try:
            _, pos = _DECODER.raw_decode(text, pos)
        except RecursionError:
            return number, pos
        except ValueError:
            return None
        pos = _WHITESPACE.match(text, pos).end()
        if text[pos : pos + 1] != ",":
            return None
        pos += 1


def document(path: Path, text: str) -> Any:
    """The JSON document ``text`` of file ``path`` (``loads``); too deep is a ``DatasetError`` naming the
    record when a top-level list item is the culprit. ``json.JSONDecodeError`` passes through: callers
    word it (and one of them recognises JSON Lines by it)."""
    try:
        return loads(text)
    except JsonTooDeep as exc:
        if found := deep_item(text):
            record, offset = found
            raise DatasetError(path, str(exc), record=record, line=text.count("\n", 0, offset) + 1) from None
        raise DatasetError(path, str(exc)) from None


def line_item(path: Path, line: str, lineno: int) -> Any:
    """The JSON value on line ``lineno`` of a JSON Lines file; any problem is a ``DatasetError`` naming the
    line (a line past ``MAX_RECORD_CHARS`` is refused unparsed)."""
    if len(line) > MAX_RECORD_CHARS:
        raise DatasetError(path, record_too_long(len(line)), line=lineno)
    try:
        return loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"malformed JSON: {exc.msg}", line=lineno, column=exc.colno) from None
    except JsonTooDeep as exc:
        raise DatasetError(path, str(exc), line=lineno) from None


def record_too_long(chars: int) -> str:
    limit = f"{size(MAX_RECORD_CHARS)} limit for one record (MAX_RECORD_CHARS)"
    return f"record too long: {chars:,} characters, over the {limit}"
