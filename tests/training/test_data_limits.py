"""Bad input is a one-line DatasetError naming the file and record, within bounded memory: JSON nested too
deeply, integers too long for int(), compressed files that expand past the limit, oversized records and
fields (issue 26, section 3)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.training.memory_support import peak_of
from training.__main__ import main as train_main
from training.data import (
    MAX_ANSWER_CHARS,
    MAX_QUESTION_CHARS,
    DatasetError,
    load_dataset_file,
    read_dataset,
)
from training.data.preference import read_preference_file

GOOD = {"question": "What is offside?", "answer": "Being past the second-last defender."}
DEEP = "[" * 100_000 + "]" * 100_000
runner = CliRunner()


def _json(path: Path, items: list[str]) -> Path:
    path.write_text("[\n" + ",\n".join(items) + "\n]\n")
    return path


def test_json_nested_too_deeply_names_the_record_and_line(tmp_path):
    path = _json(tmp_path / "deep.json", [json.dumps(GOOD), json.dumps(GOOD), DEEP])
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(info.value) == (
        f"{path}: record 3, line 4: malformed JSON: arrays or objects nested too deeply for the parser "
        "(about 1000 levels)"
    )


def test_json_lines_nested_too_deeply_names_the_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + '{"question": "Q?", "answer": ' + DEEP + "}\n")
    with pytest.raises(DatasetError, match=r"deep.jsonl: line 2: malformed JSON: .* nested too deeply"):
        read_dataset(path)


def test_nesting_too_deep_under_a_records_key_names_the_file(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"data": ' + DEEP + "}")
    with pytest.raises(DatasetError, match=r"^[^\n]*deep.json: malformed JSON: .* nested too deeply"):
        read_dataset(path, records_key="data")


def test_a_preference_file_nested_too_deeply_is_a_dataset_error(tmp_path):
    path = tmp_path / "kto.jsonl"
    path.write_text('{"prompt": "Q?", "completion": "A.", "label": true}\n{"label": ' + DEEP + "}\n")
    with pytest.raises(DatasetError, match="kto.jsonl: line 2: malformed JSON: .* nested too deeply"):
        read_preference_file(path)


def test_a_huge_integer_names_file_record_and_field(tmp_path):
    path = _json(
        tmp_path / "big.json", [json.dumps(GOOD), '{"question": "Big?", "answer": ' + "9" * 5000 + "}"]
    )
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(info.value) == f"{path}: record 2, field 'answer': not a string (got a 5000-digit number)"
    lines = tmp_path / "big.jsonl"
    lines.write_text(json.dumps(GOOD) + '\n{"question": "Big?", "answer": -' + "9" * 5000 + "}\n")
    with pytest.raises(
        DatasetError, match=r"big.jsonl: line 2, field 'answer': not a string \(got a 5000-dig"
    ):
        read_dataset(lines)


def test_a_huge_integer_in_a_field_nobody_reads_loses_nothing(tmp_path):
    row = {**GOOD, "id": 0}
    path = _json(tmp_path / "ids.json", [json.dumps(row).replace('"id": 0', '"id": ' + "7" * 5000)])
    assert load_dataset_file(path) == [GOOD]


def test_a_huge_kto_label_names_the_field(tmp_path):
    path = tmp_path / "kto.jsonl"
    path.write_text('{"prompt": "Q?", "completion": "A.", "label": ' + "1" * 5000 + "}\n")
    with pytest.raises(DatasetError, match=r"line 1, field 'label': not a KTO label .*a 5000-digit number"):
        read_preference_file(path)


def _bomb(path: Path, megabytes: int) -> Path:
    """A .jsonl.gz of a few KB holding one record ``megabytes`` MB long."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b'{"question": "What?", "answer": "')
        for _ in range(megabytes):
            fh.write(b"a" * (1 << 20))
        fh.write(b'"}\n')
    return path


def test_a_compressed_file_is_read_as_a_stream_and_refused_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("training.data.reading.MAX_DATASET_BYTES", 4 << 20)
    path = _bomb(tmp_path / "bomb.jsonl.gz", 64)
    error, peak = peak_of(lambda: read_dataset(path))
    assert isinstance(error, DatasetError)
    assert str(error) == (
        f"{path}: decompresses to more than the 4 MiB limit for one dataset file (MAX_DATASET_BYTES); "
        "split it into smaller files"
    )
    assert peak < 16 << 20  # whole, it would have been 64 MiB of bytes and as much again as text


def test_a_text_file_past_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr("training.data.reading.MAX_DATASET_BYTES", 1 << 20)
    path = tmp_path / "big.jsonl"
    path.write_text((json.dumps(GOOD) + "\n") * 30_000)
    with pytest.raises(DatasetError, match=r"big.jsonl: 2.37 MiB, over the 1 MiB limit for one dataset file"):
        read_dataset(path)


def test_a_json_lines_record_past_the_record_limit_is_refused_unparsed(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({"question": "Q?", "answer": "a " * 600_000}) + "\n")
    with pytest.raises(
        DatasetError, match=r"long.jsonl: line 2: record too long: 1,200,\d+ characters, over the 1"
    ):
        read_dataset(path)


@pytest.mark.parametrize(
    ("record", "field", "kind", "limit"),
    [
        ({"question": "Q?", "answer": "a" * (MAX_ANSWER_CHARS + 1)}, "answer", "an answer", MAX_ANSWER_CHARS),
        (
            {"question": "q" * (MAX_QUESTION_CHARS + 1), "answer": "A."},
            "question",
            "a question",
            MAX_QUESTION_CHARS,
        ),
        (
            {"conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "a" * 4001}]},
            "conversations[1].value",
            "an answer",
            MAX_ANSWER_CHARS,
        ),
        ({"prompt": "Q?", "completion": "a " * 2001}, "completion", "an answer", MAX_ANSWER_CHARS),
        ({"instruction": "q" * 1500, "input": "i" * 600, "output": "A."}, "instruction", "a question", 2000),
    ],
    ids=["answer", "question", "sharegpt-turn", "prompt-completion", "alpaca-instruction-and-input"],
)
def test_a_field_past_its_limit_names_file_record_and_field(tmp_path, record, field, kind, limit):
    path = _json(tmp_path / "long.json", [json.dumps(record)])
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    message = str(info.value)
    assert message.startswith(f"{path}: record 1, field '{field}': too long for {kind}: ")
    assert f"(the limit is {limit:,}, MAX_" in message and "\n" not in message


def test_fields_at_their_limits_load():
    record = {"question": "q" * MAX_QUESTION_CHARS, "answer": "a" * MAX_ANSWER_CHARS}
    assert MAX_ANSWER_CHARS == 4000 and MAX_QUESTION_CHARS == 2000
    from training.data.formats import Where, detect_shape, extract

    where = Where("x.json", record=1)
    assert list(extract(record, where, detect_shape(record, where))) == [record]


def test_a_10_mb_answer_is_refused_before_cleaning(tmp_path):
    path = _json(
        tmp_path / "huge.json",
        [json.dumps(GOOD), json.dumps({"question": "Q?", "answer": "word " * 2_000_000})],
    )
    with pytest.raises(
        DatasetError, match=r"record 2, field 'answer': too long: 10,000,000 characters \(the limits"
    ):
        read_dataset(path)


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    return {
        "deep": _json(tmp_path / "deep.json", [json.dumps(GOOD), DEEP]),
        "bignum": _json(
            tmp_path / "big.json", [json.dumps(GOOD), '{"question": "Q?", "answer": ' + "9" * 5000 + "}"]
        ),
        "long-answer": _json(tmp_path / "long.json", [json.dumps({"question": "Q?", "answer": "a" * 4001})]),
    }


@pytest.mark.parametrize("name", ["deep", "bignum", "long-answer"])
@pytest.mark.parametrize("command", ["data-check", "import"])
def test_cli_reports_bad_input_in_one_line_with_exit_2(bad_files, tmp_path, name, command):
    path = bad_files[name]
    args = (
        ["data", "check", str(path)]
        if command == "data-check"
        else ["import", str(path), "--db", f"sqlite:///{tmp_path}/x.db"]
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {path}: record ") and result.output.count("\n") == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("name", ["deep", "bignum", "long-answer"])
def test_train_reports_bad_input_in_one_line_with_exit_2(bad_files, tmp_path, capsys, name):
    code = train_main(["--data", str(bad_files[name]), "--base", "scratch", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {bad_files[name]}: record ") and err.count("\n") == 1


TINY = 1_000_000  # "{}" records after a few good ones: 3 MB of text, about 70 MB as Python objects


@pytest.mark.parametrize(
    ("name", "text", "records_key"),
    [
        ("many.json", "[" + (json.dumps(GOOD) + ",") * 11 + "{}," * TINY + "{}]", None),
        ("many.jsonl", (json.dumps(GOOD) + "\n") * 11 + "{}\n" * TINY, None),
        (
            "nested.json",
            '{"meta": {"v": 1}, "data": [' + (json.dumps(GOOD) + ",") * 11 + "{}," * TINY + "{}]}",
            "data",
        ),
        ("many.csv", "question,answer\n" + "Q?,A.\n" * 11 + ",x\n" * TINY, None),
    ],
    ids=["json", "jsonl", "records-key", "csv"],
)
def test_a_file_of_many_small_records_is_refused_past_max_records_in_bounded_memory(
    tmp_path, monkeypatch, name, text, records_key
):
    """A file is read one record at a time and refused past MAX_RECORDS (1,000,000), so 240 MiB of "{}"
    lines (84 million records, from a 245 KB .gz) is an error, not GBs of objects and a MemoryError."""
    monkeypatch.setattr("training.data.load.MAX_RECORDS", 10)
    path = tmp_path / name
    path.write_text(text)
    del text
    error, peak = peak_of(lambda: read_dataset(path, records_key=records_key))
    assert isinstance(error, DatasetError)
    assert str(error) == (
        f"{path}: more than the 10-record limit for one dataset file (MAX_RECORDS); "
        "split it into smaller files"
    )
    assert peak < 3 * path.stat().st_size + (4 << 20)  # the bytes and the text, not 70 MB of objects


def test_a_preference_file_is_refused_past_max_records(tmp_path, monkeypatch):
    monkeypatch.setattr("training.data.preference.MAX_RECORDS", 3)
    row = json.dumps({"prompt": "Q?", "completion": "A.", "label": True})
    for name, text in (("kto.jsonl", (row + "\n") * 5), ("kto.json", "[" + ",".join([row] * 5) + "]")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(DatasetError, match=rf"^{path}: more than the 3-record limit .*\(MAX_RECORDS\)"):
            read_preference_file(path)


def test_max_records_is_a_million_and_exported():
    from training.data import MAX_RECORDS

    assert MAX_RECORDS == 1_000_000


def test_malformed_json_after_good_records_is_reported_before_any_record(tmp_path):
    """The list is checked whole before its records are read, as json.loads did: the syntax error, not
    record 1's problem, is what a file broken at its end reports."""
    path = _json(
        tmp_path / "broken.json", ['{"q": 1}', json.dumps(GOOD), '{"question": "Q?" "answer": "A."}']
    )
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(info.value) == f"{path}: line 4:19: malformed JSON: Expecting ',' delimiter"


def test_json_lines_saved_as_json_and_a_records_key_still_load(tmp_path):
    lines = tmp_path / "lines.json"
    lines.write_text((json.dumps(GOOD) + "\n") * 3)
    assert read_dataset(lines).syntax == "jsonl" and len(load_dataset_file(lines)) == 3
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"data": {"rows": [GOOD], "n": 1}, "x": [1]}))
    assert load_dataset_file(nested, records_key="data.rows") == [GOOD]
    with pytest.raises(
        DatasetError, match=r"no key 'rowz' for --records-key 'data.rowz' \(keys: \['n', 'rows'\]\)$"
    ):
        read_dataset(nested, records_key="data.rowz")
    with pytest.raises(
        DatasetError, match=r"pass --records-key \('data', 'x' holds a list\)|'x' holds a list"
    ):
        read_dataset(nested)


@pytest.mark.parametrize("reader", [read_dataset, read_preference_file])
def test_running_out_of_memory_while_reading_is_a_one_line_error_naming_the_file(
    tmp_path, monkeypatch, reader
):
    """The last resort, for what the limits do not foresee: MemoryError is a DatasetError (exit 2)."""

    def no_memory(path):
        raise MemoryError

    monkeypatch.setattr("training.data.load.read_source", no_memory)
    monkeypatch.setattr("training.data.preference.read_source", no_memory)
    path = _json(tmp_path / "big.json", [json.dumps(GOOD)])
    with pytest.raises(DatasetError) as info:
        reader(path)
    assert str(info.value) == (
        f"{path}: ran out of memory while reading it (MemoryError); split it into smaller files"
    )
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 2 and result.output == f"error: {info.value}\n"


def test_a_file_compressed_twice_says_so(tmp_path):
    path = tmp_path / "twice.json.gz"
    path.write_bytes(gzip.compress(gzip.compress(json.dumps([GOOD]).encode())))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(info.value) == (
        f"{path}: compressed twice (gzip inside gzip): decompress it once and pass the inner file"
    )


def test_a_huge_key_is_cut_in_the_error(tmp_path):
    """A record whose keys are 900,000 characters long gave a 1.8 MB error line."""
    path = tmp_path / "hugekey.json"
    path.write_text(json.dumps([{"k" * 900_000: "x", "j" * 900_000: "y"}]))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    message = str(info.value)
    assert f"fields ['{'j' * 40}…', '{'k' * 40}…']" in message and len(message) < 500
