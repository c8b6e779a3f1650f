"""Property: the dataset loaders, given any file (generated JSON, JSON Lines, CSV with odd quoting, random
unicode, wrong types, deep nesting, huge numbers, binary magic), give records or a DatasetError: never
another exception, and never a record past the size limits or an error of more than one line."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.data import FORMATS, MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, DatasetError, read_dataset
from training.data.preference import read_preference_file

FIELDS = [
    "question", "answer", "Question", "ANSWER", "instruction", "input", "output", "conversations", "messages",
    "from", "value", "role", "content", "prompt", "completion", "chosen", "rejected", "label", "type", "text",
]  # fmt: skip
ROLES = ["human", "gpt", "user", "assistant", "system", "tool", " User ", "bot"]
MAX_ERROR_CHARS = 2000  # an error names a place and a problem; it never dumps the file

text = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(
        st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Mn"]), max_size=6
    ),  # surrogates, controls
    st.sampled_from(ROLES + FIELDS + ["", " ", "\n"]),
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | text, children, max_size=5)
    ),
    max_leaves=25,
)
turn = st.builds(
    lambda role_key, role, text_key, value: {role_key: role, text_key: value},
    st.sampled_from(["from", "role"]),
    st.sampled_from(ROLES) | json_values,
    st.sampled_from(["value", "content"]),
    text | json_values,
)
turns = st.lists(turn, max_size=4)
records = st.dictionaries(st.sampled_from(FIELDS), text | json_values | turns, max_size=6)
# Well-formed records of each shape, with random unicode, sometimes repeated past the size limits.
long_text = st.one_of(
    text, text, text, st.builds(lambda t, n: t * n, text.filter(bool), st.integers(50, 3000))
)
chat = st.lists(st.sampled_from(["user", "assistant"]), min_size=1, max_size=4)
SHAPES = [
    st.builds(lambda q, a: {"question": q, "answer": a}, long_text, long_text),
    st.builds(lambda q, i, a: {"instruction": q, "input": i, "output": a}, long_text, text, long_text),
    st.builds(lambda q, a: {"prompt": q, "completion": a}, long_text, long_text),
    st.builds(
        lambda roles, texts: {
            "messages": [{"role": r, "content": t} for r, t in zip(roles, texts, strict=False)]
        },
        chat,
        st.lists(long_text, min_size=4, max_size=4),
    ),
    st.builds(
        lambda roles, texts: {
            "conversations": [{"from": r, "value": t} for r, t in zip(roles, texts, strict=False)]
        },
        st.lists(st.sampled_from(["human", "gpt"]), min_size=1, max_size=4),
        st.lists(long_text, min_size=4, max_size=4),
    ),
]
shaped = st.one_of(SHAPES)


@st.composite
def json_documents(draw) -> str:
    if draw(st.booleans()):  # one shape throughout, as real files are
        items = draw(st.lists(shaped, max_size=6))
    else:
        items = draw(st.lists(shaped | records | json_values, max_size=6))
    parts = [json.dumps(item, ensure_ascii=draw(st.booleans())) for item in items]
    if draw(st.booleans()):  # something no json.dumps writes
        depth = draw(st.integers(1, 3000))
        parts.append(draw(st.sampled_from(["9" * 5000, "-" + "1" * 4301, "NaN", "[" * depth + "]" * depth])))
        parts = draw(st.permutations(parts))
    if draw(st.booleans()):
        return "\n".join(parts)  # JSON Lines (or, with a single line, a JSON value)
    document = "[" + ", ".join(parts) + "]"
    return '{"data": ' + document + "}" if draw(st.booleans()) else document  # for --records-key


@st.composite
def csv_documents(draw) -> str:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    cell = text | st.sampled_from(['"', '""', '"a"b', 'a"', '"\n"', "'", "\r\n", "\x00"])
    header = draw(st.lists(st.sampled_from(FIELDS) | text, min_size=1, max_size=4))
    rows = draw(st.lists(st.lists(cell, max_size=5), max_size=5))
    quote = draw(st.booleans())

    def line(cells: list[str]) -> str:
        return delimiter.join(f'"{c}"' if quote and draw(st.booleans()) else c for c in cells)

    return "\n".join(line(r) for r in [header, *rows])


BINARY_HEADS = [
    b"PAR1",
    b"ARROW1",
    b"\xff\xff\xff\xff",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"PK\x03\x04",
    b"",
]
files = st.one_of(
    json_documents().map(lambda t: (t.encode("utf-8", "surrogatepass"), ".json")),
    json_documents().map(lambda t: (t.encode("utf-8", "surrogatepass"), ".jsonl")),
    csv_documents().map(lambda t: (t.encode("utf-8", "surrogatepass"), ".csv")),
    st.tuples(st.text(max_size=200).map(str.encode), st.sampled_from([".txt", ".json", ".csv", ".tsv", ""])),
    st.tuples(
        st.tuples(st.sampled_from(BINARY_HEADS), st.binary(max_size=200)).map(b"".join),
        st.sampled_from([".parquet", ".gz", ".json", ""]),
    ),
)
options = st.just({}) | st.fixed_dictionaries(
    {},
    optional={
        "fmt": st.sampled_from(FORMATS),
        "question_field": st.sampled_from(FIELDS),
        "answer_field": st.sampled_from(FIELDS),
        "records_key": st.sampled_from(["data", "data.rows", "x"]),
        "encoding": st.sampled_from(["utf-8", "latin-1", "utf-16", "base64", "nope"]),
    },
)


def _check(call) -> None:
    try:
        loaded = call()
    except DatasetError as e:
        message = str(e)
        assert "\n" not in message and len(message) <= MAX_ERROR_CHARS, message[:300]
        return
    for record in getattr(loaded, "records", None) or []:
        assert isinstance(record["question"], str) and isinstance(record["answer"], str)
        assert len(record["question"]) <= MAX_QUESTION_CHARS and len(record["answer"]) <= MAX_ANSWER_CHARS


def _write(folder: str, content: bytes, suffix: str) -> Path:
    path = Path(folder) / f"data{suffix}"
    path.write_bytes(content)
    return path


COMMON = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(file=files, kwargs=options)
def test_read_dataset_gives_records_or_a_dataset_error(file, kwargs):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, *file)
        _check(lambda: read_dataset(path, **kwargs))


@COMMON
@given(file=files, fmt=st.sampled_from([None, "kto", "dpo"]))
def test_read_preference_file_gives_records_none_or_a_dataset_error(file, fmt):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, *file)
        _check(lambda: read_preference_file(path, fmt))


preference_row = st.fixed_dictionaries(
    {"prompt": long_text | json_values | turns, "completion": long_text | json_values | turns},
    optional={
        "label": st.booleans() | json_values,
        "chosen": long_text | json_values | turns,
        "rejected": long_text | json_values | turns,
    },
)


@settings(COMMON, max_examples=100)
@given(rows=st.lists(preference_row, min_size=1, max_size=3))
def test_preference_rows_give_records_or_a_dataset_error(rows):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(
            folder, "\n".join(json.dumps(r) for r in rows).encode("utf-8", "surrogatepass"), ".jsonl"
        )
        _check(lambda: read_dataset(path))
        _check(lambda: read_preference_file(path))


@st.composite
def well_formed_files(draw) -> tuple[bytes, str]:
    """A file of one shape in one syntax, as real files are: JSON, JSON Lines, or CSV (seed records)
    written by the csv module with any quoting and delimiter."""
    syntax = draw(st.sampled_from(["json", "jsonl", "csv"]))
    if syntax == "csv":
        rows = draw(st.lists(st.tuples(long_text, long_text), min_size=1, max_size=5))
        out = io.StringIO()
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        writer = csv.writer(out, delimiter=draw(st.sampled_from(",;\t|")), quoting=quoting)
        writer.writerows([("question", "answer"), *rows])
        return out.getvalue().encode("utf-8", "surrogatepass"), ".csv"
    items = draw(st.lists(draw(st.sampled_from(SHAPES)), min_size=1, max_size=5))
    dumps = [json.dumps(item, ensure_ascii=draw(st.booleans())) for item in items]
    text = "\n".join(dumps) if syntax == "jsonl" else "[" + ",\n".join(dumps) + "]"
    return text.encode("utf-8", "surrogatepass"), f".{syntax}"


@COMMON
@given(file=well_formed_files())
def test_well_formed_files_give_records_within_the_limits_or_a_dataset_error(file):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, *file)
        _check(lambda: read_dataset(path))


def test_an_error_about_a_record_with_many_fields_stays_short(tmp_path):
    path = tmp_path / "wide.json"
    path.write_text(json.dumps([{f"field{i}": "x" * 50 for i in range(1000)}]))
    _check(lambda: read_dataset(path))
    path.write_text(json.dumps({f"key{i}" * 20: [] for i in range(1000)}))
    _check(lambda: read_dataset(path, records_key="nope"))
    _check(lambda: read_dataset(path))
    path.write_text(json.dumps({"prompt": "Q?", "completion": "A.", "label": "x" * 10_000}))
    _check(lambda: read_preference_file(path, "kto"))
