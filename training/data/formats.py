"""Record shapes: turning one parsed item (a JSON object or CSV row) into question/answer pairs.

Detected from the first record's fields (``--format`` forces one): ``seed`` (``question``/``answer``, or
the fields --question-field/--answer-field name); ``alpaca`` (``instruction`` + optional ``input`` ->
question, ``output`` -> answer); ``sharegpt`` (``conversations`` of ``{"from": "human"|"gpt", "value"}``
turns); ``messages`` (``{"role": "user"|"assistant", "content"}``); ``prompt-completion`` (TRL's, strings
or message lists); ``kto`` / ``dpo`` (TRL preference rows, read by ``training.data.preference``: only
desirable / chosen answers become records). A conversation gives one record per user -> assistant pair.

``_record`` makes the question one line (answers keep theirs: lists and steps are common) and holds both
to ``MAX_QUESTION_CHARS`` / ``MAX_ANSWER_CHARS``. Flat shapes must give non-empty strings; an empty
conversation turn, or a conversation without a user -> assistant pair, gives an empty record, which the
loader sets aside (cleaning counts it under "empty"): real chat dumps hold such turns, and one should not
reject a whole file. Roles are compared trimmed and in lower case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from training.data.errors import DatasetError, listing
from training.data.jsontext import HugeNumber
from training.data.limits import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, MAX_RECORD_CHARS, too_long
from training.data.normalize import normalize_text
from training.records import Record, make_record

SHAPES = ("seed", "alpaca", "sharegpt", "messages", "prompt-completion")
PREFERENCE_SHAPES = ("kto", "dpo")  # read by training.data.preference, never as plain pairs
USER_ROLES = frozenset({"human", "user", "prompter"})
ASSISTANT_ROLES = frozenset({"gpt", "assistant", "bot", "model", "chatgpt", "bard", "gpt4"})


@dataclass(frozen=True)
class Shape:
    """A record shape and the actual field names it reads (as spelled in the file)."""

    name: str
    question_field: str = "question"
    answer_field: str = "answer"


@dataclass(frozen=True)
class Where:
    """The location of one item, for error messages: record number or line number."""

    path: str
    record: int | None = None
    line: int | None = None

    def error(self, problem: str, field: str | None = None) -> DatasetError:
        return DatasetError(self.path, problem, record=self.record, line=self.line, field=field)


# The fields each shape needs, in detection order (conversation shapes first: they may also carry
# unrelated "prompt"-like metadata fields).
REQUIRED: dict[str, tuple[str, ...]] = {
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "alpaca": ("instruction", "output"),
    "prompt-completion": ("prompt", "completion"),
    "seed": ("question", "answer"),
}


def detect_shape(
    first: Any,
    where: Where,
    forced: str | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
) -> Shape:
    """The shape of a dataset, judged from its first record (field names compared case-insensitively)."""
    if not isinstance(first, dict):
        raise where.error(f"expected an object with fields, got {_type(first)}")
    if question_field or answer_field:
        return Shape("seed", question_field or "question", answer_field or "answer")
    keys = {str(k).lower(): str(k) for k in first}
    for name in [forced] if forced else REQUIRED:
        fields = REQUIRED[name]
        missing = [f for f in fields if f not in keys]
        if not missing:
            return Shape(name, keys[fields[0]], keys[fields[-1]] if len(fields) > 1 else "")
        if forced:
            raise where.error(f"missing (the {forced} format needs it)", field=missing[0])
    for name, fields in REQUIRED.items():  # half of a known pair: name the half that is missing
        missing = [f for f in fields if f not in keys]
        if len(missing) < len(fields):
            raise where.error(f"missing (a {name} record needs {' and '.join(fields)})", field=missing[0])
    raise where.error(
        f"cannot tell the format from its fields {listing(sorted(keys.values()))}; expected question/answer, "
        "instruction/output (alpaca), conversations (sharegpt), messages, or prompt/completion "
        "- pass --question-field/--answer-field or --format"
    )


def _type(value: Any) -> str:
    if isinstance(value, HugeNumber):
        return repr(value)
    return {dict: "an object", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def _normalized(value: str, where: Where, field: str, multiline: bool = True) -> str:
    """``normalize_text(value)``; a value past ``MAX_RECORD_CHARS`` is refused before the work."""
    if len(value) > MAX_RECORD_CHARS:
        raise where.error(too_long(len(value)), field)
    return normalize_text(value, multiline=multiline)


def _text(item: dict, field: str, where: Where, *, allow_empty: bool = False, label: str = "") -> str:
    """The normalized string in ``item[field]``, or a DatasetError saying why there is none."""
    name = label or field
    if field not in item:
        raise where.error("missing", field=name)
    value = item[field]
    if not isinstance(value, str):
        raise where.error(f"not a string (got {_type(value)})", field=name)
    text = _normalized(value, where, name)
    if not text and not allow_empty:
        raise where.error("empty after cleaning", field=name)
    return text


def _content(turn: dict, where: Where, label: str) -> str:
    """A chat turn's text: a string, or OpenAI-style content parts whose text parts are joined."""
    key = "value" if "value" in turn else "content"
    value = turn.get(key)
    if isinstance(value, list):  # [{"type": "text", "text": "..."}, {"type": "image_url", ...}]
        parts = []
        for i, part in enumerate(value):
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(_text(part, "text", where, allow_empty=True, label=f"{label}.{key}[{i}].text"))
        return normalize_text("\n".join(parts), multiline=True)
    return _text(turn, key, where, allow_empty=True, label=f"{label}.{key}")


def _pairs(turns: Any, where: Where, field: str) -> Iterator[Record]:
    """One record per user turn directly followed by an assistant turn (system turns are skipped); a
    conversation without such a pair gives one empty record, so that cleaning counts it."""
    if not isinstance(turns, list):
        raise where.error(f"not a list (got {_type(turns)})", field=field)
    pending: str | None = None
    asked = field  # the pending question's turn, for errors
    paired = False
    for i, turn in enumerate(turns):
        label = f"{field}[{i}]"
        if not isinstance(turn, dict):
            raise where.error(f"expected a turn object, got {_type(turn)}", field=label)
        role_key = "from" if "from" in turn else "role"
        role = turn.get(role_key)
        if not isinstance(role, str):
            problem = "missing" if role is None else f"not a string (got {_type(role)})"
            raise where.error(problem, field=f"{label}.{role_key}")
        role = role.strip().lower()
        text_label = f"{label}.{'value' if 'value' in turn else 'content'}"  # as _content reads it
        if role in USER_ROLES:
            pending, asked = _content(turn, where, label), text_label
        elif role in ASSISTANT_ROLES:
            if pending is not None:
                paired = True
                yield _record(pending, _content(turn, where, label), where, (asked, text_label))
            pending = None
        elif role != "system":
            pending = None  # a tool/function turn breaks the question -> answer pairing
    if not paired:
        yield _record(pending or "", "", where, (asked, field))


def _message_text(value: Any, where: Where, field: str, roles: frozenset[str], last_only: bool) -> str:
    """TRL prompt/completion value: a string, or a list of messages (last user / all assistant text)."""
    if isinstance(value, str):
        text = _normalized(value, where, field)
        if not text:
            raise where.error("empty after cleaning", field=field)
        return text
    if isinstance(value, list):
        texts = []
        for i, message in enumerate(value):
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if not isinstance(role, str):
                raise where.error(f"not a string (got {_type(role)})", field=f"{field}[{i}].role")
            if role.strip().lower() in roles:
                texts.append(_content(message, where, f"{field}[{i}]"))
        if last_only:
            texts = texts[-1:]  # the question is the last user turn; earlier ones are context
        text = normalize_text("\n".join(texts), multiline=True)
        if not text:
            raise where.error(f"no {'/'.join(sorted(roles))} message with text", field=field)
        return text
    raise where.error(f"not a string or message list (got {_type(value)})", field=field)


def _record(question: str, answer: str, where: Where, fields: tuple[str, str]) -> Record:
    """A record from extracted texts: the question on one line, the answer's line breaks kept; a text past
    its limit is an error naming ``fields`` (the question's, the answer's)."""
    question = normalize_text(question)
    if len(question) > MAX_QUESTION_CHARS:
        raise where.error(too_long(len(question), "question"), fields[0])
    if len(answer) > MAX_ANSWER_CHARS:
        raise where.error(too_long(len(answer), "answer"), fields[1])
    return make_record(question, answer)


def _fields(shape: Shape) -> tuple[str, str]:
    return shape.question_field, shape.answer_field


def _seed(item: dict, where: Where, shape: Shape) -> Iterator[Record]:
    question = _text(item, shape.question_field, where)
    yield _record(question, _text(item, shape.answer_field, where), where, _fields(shape))


def _alpaca(item: dict, where: Where, shape: Shape) -> Iterator[Record]:
    question = _text(item, shape.question_field, where)
    # "input" in any case, as detection matches "instruction"/"output" ("Input" was silently dropped)
    input_field = next((k for k in item if str(k).lower() == "input"), "input")
    extra = item.get(input_field)
    if extra is not None and not isinstance(extra, str):
        raise where.error(f"not a string (got {_type(extra)})", field=input_field)
    if extra and _normalized(extra, where, input_field):
        question = normalize_text(f"{question}\n{extra}")
    yield _record(question, _text(item, shape.answer_field, where), where, _fields(shape))


def _sharegpt(item: dict, where: Where, shape: Shape) -> Iterator[Record]:
    if shape.question_field not in item:
        raise where.error("missing", field=shape.question_field)
    yield from _pairs(item[shape.question_field], where, shape.question_field)


def _prompt_completion(item: dict, where: Where, shape: Shape) -> Iterator[Record]:
    for field in (shape.question_field, shape.answer_field):
        if field not in item:
            raise where.error("missing", field=field)
    question = _message_text(item[shape.question_field], where, shape.question_field, USER_ROLES, True)
    answer = _message_text(item[shape.answer_field], where, shape.answer_field, ASSISTANT_ROLES, False)
    yield _record(question, answer, where, _fields(shape))


EXTRACTORS: dict[str, Callable[[dict, Where, Shape], Iterator[Record]]] = {
    "seed": _seed,
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "messages": _sharegpt,  # same pairing; the field name comes from the Shape
    "prompt-completion": _prompt_completion,
}


def extract(item: Any, where: Where, shape: Shape) -> Iterator[Record]:
    """The records in one item of a dataset of the given shape."""
    if not isinstance(item, dict):
        raise where.error(f"expected an object with fields, got {_type(item)}")
    yield from EXTRACTORS[shape.name](item, where, _as_spelled(item, shape))


def _as_spelled(item: dict, shape: Shape) -> Shape:
    """``shape`` with its fields as this item spells them: the first record's "Question" must not make a
    later record's "question" missing (field names are compared case-insensitively)."""
    wanted = [f for f in (shape.question_field, shape.answer_field) if f]
    if all(f in item for f in wanted):
        return shape
    keys = {str(k).lower(): str(k) for k in item}

    def spelled(field: str) -> str:  # the exact spelling first: {"question", "Question"} reads "question"
        return field if not field or field in item else keys.get(field.lower(), field)

    return replace(
        shape, question_field=spelled(shape.question_field), answer_field=spelled(shape.answer_field)
    )
