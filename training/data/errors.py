"""Errors and warnings raised while reading a dataset, worded so a person can fix the file.

A ``DatasetError`` names the file, where in it (record number, line, line:column or byte offset),
the field, and what is wrong, e.g.::

    data.jsonl: line 7, field 'answer': not a string (got int)

The problem and field may quote the file (a header, a key, a value): both are ``masked``, so a ``.env``
passed as a dataset never has its token printed, nor a header its API key.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from training.redact import redact
from training.secret_shapes import mask_secrets

NAME_CHARS = 40  # of a key or header name quoted in a message
REDACT_SPAN = 200  # characters past NAME_CHARS redacted before the cut (a Discord token is ~72)


def masked(text: str) -> str:
    """``text`` with every secret masked: a Discord token or a settings line's value (``redact``), an API
    key or a password (``mask_secrets``); in this order: ``redact`` would take "[secret]" for a value."""
    return mask_secrets(redact(text))


def shown(items: Iterable[object]) -> list[object]:
    """``items`` as a message quotes them: a name past ``NAME_CHARS`` cut there, with "…" (a 2 MB key
    would otherwise be a 2 MB error line). Redacted before the cut: a token the cut fell into would no
    longer look like one, and its start would be shown."""
    return [_shown(item) if isinstance(item, str) else item for item in items]


def _shown(name: str) -> str:
    # A token that starts within NAME_CHARS ends well within REDACT_SPAN of it.
    cut = len(name) > NAME_CHARS + REDACT_SPAN
    name = masked(name[: NAME_CHARS + REDACT_SPAN])
    return f"{name[:NAME_CHARS]}…" if cut or len(name) > NAME_CHARS else name


def listing(items: Iterable[object], limit: int = 10, total: int | None = None) -> str:
    """``items`` as a list for a message, at most ``limit`` of them, each cut (``shown``): ``['a', 'b'] and
    8 more``. ``total``: how many there are, when ``items`` holds only the first ones."""
    items = list(items)
    total = len(items) if total is None else total
    more = f" and {total - min(limit, len(items))} more" if total > min(limit, len(items)) else ""
    return f"{shown(items[:limit])!r}{more}"


def location(
    *,
    record: int | None = None,
    line: int | None = None,
    column: int | None = None,
    field: str | None = None,
    byte_offset: int | None = None,
) -> str:
    """A place in a dataset file, e.g. ``record 3`` or ``line 5:12, field 'answer'`` ("" for none)."""
    parts = []
    if record is not None:
        parts.append(f"record {record}")
    if byte_offset is not None:
        parts.append(f"byte {byte_offset}")
    if line is not None:
        parts.append(f"line {line}" + (f":{column}" if column is not None else ""))
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


class DatasetError(Exception):
    """An input dataset that cannot be used as it is; the message says where and why."""

    def __init__(
        self,
        path: str | Path | None,
        problem: str,
        *,
        record: int | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        byte_offset: int | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = masked(problem)
        self.record = record
        self.line = line
        self.column = column
        self.field = masked(field) if field is not None else None
        self.byte_offset = byte_offset
        super().__init__(self._message())

    @property
    def location(self) -> str:
        """Where the problem is, e.g. ``record 3`` or ``line 5:12`` (empty when it is the whole file)."""
        return location(
            record=self.record,
            line=self.line,
            column=self.column,
            field=self.field,
            byte_offset=self.byte_offset,
        )

    def _message(self) -> str:
        head = str(self.path) if self.path is not None else "<records>"
        where = self.location
        return f"{head}: {where}: {self.problem}" if where else f"{head}: {self.problem}"


class DatasetWarning(UserWarning):
    """Something usable but worth knowing (e.g. an eval split too small to be trusted)."""
