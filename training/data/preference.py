"""TRL preference files read back as records with a verdict, so importing one keeps only good answers.

- KTO (unpaired preference): ``prompt``, ``completion``, ``label`` -> ``{"question", "answer", "label"}``
  with the row's label (``true``: desirable).
- DPO (preference): ``prompt``, ``chosen``, ``rejected`` -> the chosen answer (``label: True``) and the
  rejected one (``label: False``). Without ``prompt`` (TRL's implicit prompt) ``chosen`` / ``rejected``
  are whole conversations; their last question/answer pair is the one compared.

Prompts and answers may be strings or TRL's conversational message lists (what ``qabot export`` writes);
they are read by ``training.data``'s prompt/completion shape, so the text is cleaned as every dataset is.
Files are JSON (a list) or JSON Lines, as TRL's ``Dataset.to_json`` and ``qabot export`` write them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data import jsontext
from training.data.errors import DatasetError, masked
from training.data.formats import PREFERENCE_SHAPES, Shape, Where, _type, extract
from training.data.limits import MAX_RECORDS, OUT_OF_MEMORY, too_many_records
from training.data.reading import read_source

PREFERENCE_FORMATS = PREFERENCE_SHAPES
_TRUE = {"true", "1", "yes", "desirable"}
_FALSE = {"false", "0", "no", "undesirable"}


@dataclass
class PreferenceFile:
    kind: str  # "kto" or "dpo"
    records: list[dict[str, Any]] = field(default_factory=list)  # question, answer, label

    @property
    def undesirable(self) -> int:
        return sum(1 for r in self.records if r["label"] is False)


def preference_kind(item: Any) -> str | None:
    """``kto`` or ``dpo`` when a dataset row has that format's fields, else None."""
    if not isinstance(item, dict):
        return None
    keys = {str(k).lower() for k in item}
    if {"chosen", "rejected"} <= keys:
        return "dpo"
    if {"prompt", "completion", "label"} <= keys:
        return "kto"
    return None


def _items(path: Path, text: str) -> Iterator[tuple[Where, Any]]:
    """A JSON list's items or JSON Lines' lines, parsed one at a time."""
    if text.startswith("[", start := jsontext.first(text)):
        for number, item in jsontext.array_items(path, text, start):
            yield Where(str(path), record=number), item
        return
    for lineno, item in jsontext.lines(path, text):
        yield Where(str(path), line=lineno), item


def _label(value: Any, where: Where) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, int | str) and text in _TRUE | _FALSE:
        return text in _TRUE
    shown = masked(repr(value)) if isinstance(value, int | float | str) else _type(value)
    raise where.error(f"not a KTO label (true/false), got {shown[:40]}", field="label")


def _pair(item: dict, answer_field: str, where: Where) -> dict[str, str]:
    """The (question, answer) of one row, the answer read from ``answer_field``."""
    # Read as the prompt/completion or messages shape, under the row's own field names (errors name them).
    if "prompt" in item:
        shape = Shape("prompt-completion", "prompt", answer_field)
        records = list(extract({"prompt": item["prompt"], answer_field: item[answer_field]}, where, shape))
    else:  # implicit prompt: the answer field holds the whole conversation
        shape = Shape("messages", answer_field, "")
        records = list(extract({answer_field: item[answer_field]}, where, shape))
    if not records or not records[-1]["question"] or not records[-1]["answer"]:
        raise where.error("no question/answer pair", field=answer_field)
    return dict(records[-1])


def preference_rows(kind: str, item: Any, where: Where) -> Iterator[dict[str, Any]]:
    """The labelled ``{"question", "answer", "label"}`` records of one ``kind`` row: a KTO row's pair with
    its label; a DPO row's chosen pair (``True``) then its rejected pair (``False``). ``training.data``'s
    loader reads KTO/DPO datasets through this, so ``qabot train`` and ``qabot import`` agree on them."""
    if preference_kind(item) != kind:
        raise where.error(
            f"not a {kind} row (expected {'prompt/completion/label' if kind == 'kto' else 'chosen/rejected'})"
        )
    item = {str(k).lower(): v for k, v in item.items()}
    if kind == "kto":
        yield {**_pair(item, "completion", where), "label": _label(item["label"], where)}
    else:
        yield {**_pair(item, "chosen", where), "label": True}
        yield {**_pair(item, "rejected", where), "label": False}


def read_preference_file(path: str | Path, fmt: str | None = None) -> PreferenceFile | None:
    """The labelled records of a KTO or DPO file; None when it is not one (unless ``fmt`` forces
    ``kto``/``dpo``, which makes anything else an error). Raises ``DatasetError``, past ``MAX_RECORDS``
    rows or out of memory too."""
    path = Path(path)
    try:
        return _read_preference_file(path, fmt)
    except MemoryError:
        pass  # raised below, once this traceback, and the objects its frames hold, are gone
    raise DatasetError(path, OUT_OF_MEMORY)


def _read_preference_file(path: Path, fmt: str | None) -> PreferenceFile | None:
    if fmt is not None and fmt not in PREFERENCE_FORMATS:
        return None
    _, data = read_source(path)  # decompressed, and refused past the size limit
    # Cheap test first: most imports are plain Q&A files, which never name these fields.
    if fmt is None and b'"chosen"' not in data and b'"label"' not in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if fmt is None:
            return None  # the dataset loader reports the encoding precisely
        raise DatasetError(path, "unreadable encoding: save the file as UTF-8") from None
    if not text.lstrip().startswith(("[", "{")):
        if fmt is None:
            return None
        raise DatasetError(path, f"a {fmt} file is JSON or JSON Lines")
    items = _items(path, text)
    try:
        first = next(items, None)
    except DatasetError:
        if fmt is None:
            return None  # not a JSON Lines preference file; the dataset loader says what it is
        raise
    if first is None:
        raise DatasetError(path, "empty dataset: no records")
    kind = fmt or preference_kind(first[1])
    if kind is None:
        return None
    result = PreferenceFile(kind)
    for count, (where, item) in enumerate(itertools.chain([first], items), 1):
        if count > MAX_RECORDS:
            raise DatasetError(path, too_many_records(MAX_RECORDS))
        result.records.extend(preference_rows(kind, item, where))
    return result
