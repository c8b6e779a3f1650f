"""Loading every supported dataset shape, and the errors for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data import CleanOptions, DatasetError, load_dataset_file, prepare_dataset, read_dataset

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("name", "kwargs", "fmt", "count"),
    [
        ("seed.json", {}, "json/seed", 3),
        ("alpaca.json", {}, "json/alpaca", 5),
        ("sharegpt.json", {}, "json/sharegpt", 4),
        ("messages.jsonl", {}, "jsonl/messages", 4),
        ("prompt_completion.jsonl", {}, "jsonl/prompt-completion", 3),
        ("trl_conversational.jsonl", {}, "jsonl/prompt-completion", 2),
        ("qa.csv", {}, "csv/seed", 5),
        ("custom.csv", {"question_field": "prompt_text", "answer_field": "response"}, "csv/seed", 2),
        (
            "nested.json",
            {"records_key": "data.rows", "question_field": "q", "answer_field": "a"},
            "json/seed",
            2,
        ),
    ],
)
def test_each_shape_loads_with_the_right_record_count(name, kwargs, fmt, count):
    loaded = read_dataset(FIXTURES / name, **kwargs)
    assert loaded.format == fmt
    assert len(loaded.records) == count
    assert all(set(r) == {"question", "answer"} for r in loaded.records)


def test_alpaca_input_is_appended_to_the_instruction():
    records = load_dataset_file(FIXTURES / "alpaca.json")
    assert records[1] == {
        "question": "Translate the following football term into French. Goalkeeper",
        "answer": "Gardien de but.",
    }


def test_alpaca_keys_in_any_case_keep_the_input(tmp_path):
    path = tmp_path / "alpaca.json"
    row = {"Instruction": "Translate into French.", "Input": "Goalkeeper", "Output": "Gardien de but."}
    path.write_text(json.dumps([row]))
    records = load_dataset_file(path)
    assert records == [{"question": "Translate into French. Goalkeeper", "answer": "Gardien de but."}]
    path.write_text(json.dumps([{**row, "Input": 3}]))
    with pytest.raises(DatasetError, match="record 1, field 'Input': not a string"):
        load_dataset_file(path)


def test_field_names_are_read_in_any_case_record_by_record(tmp_path):
    """The first record's spelling is not every record's: "Question" then "question" both load (it was
    "line 2, field 'Question': missing"), and a real typo later names the field as that record lacks it."""
    path = tmp_path / "mixed.jsonl"
    rows = [{"Question": "Who won?", "Answer": "Spain."}, {"question": "Who lost?", "answer": "Holland."}]
    path.write_text("\n".join(map(json.dumps, rows)))
    assert [r["question"] for r in load_dataset_file(path)] == ["Who won?", "Who lost?"]
    path.write_text("\n".join(map(json.dumps, [rows[0], {"question": "Who lost?", "awnser": "Them."}])))
    with pytest.raises(DatasetError, match="line 2, field 'Answer': missing"):
        load_dataset_file(path)
    stray = {"question": "Real?", "Question": "stray", "Answer": "A."}  # as the first record spells it
    path.write_text("\n".join(map(json.dumps, [rows[1], stray])))
    assert load_dataset_file(path)[1]["question"] == "Real?"
    turns = [{"from": "human", "value": "Who?"}, {"from": "gpt", "value": "Me."}]
    (tmp_path / "chat.json").write_text(json.dumps([{"Conversations": turns}, {"conversations": turns}]))
    assert len(load_dataset_file(tmp_path / "chat.json")) == 2


def test_sharegpt_gives_one_record_per_human_gpt_pair_and_skips_system_turns():
    records = load_dataset_file(FIXTURES / "sharegpt.json")
    assert records[0]["question"] == "Who won the 2014 FIFA World Cup?"
    assert records[1] == {
        "question": "Who scored the winning goal?",
        "answer": "Mario Götze scored the winner in extra time.",
    }
    assert len(records) == 4
    # The turn without an answer is set aside, not fatal; cleaning counts it under "empty".
    assert read_dataset(FIXTURES / "sharegpt.json").empty == [{"question": "And extra time?", "answer": ""}]


def test_trl_conversational_takes_last_user_turn_and_assistant_reply():
    records = load_dataset_file(FIXTURES / "trl_conversational.jsonl")
    assert records[0] == {
        "question": "How many substitutes may a team use?",
        "answer": "Usually five, in up to three stoppages plus half-time.",
    }


def test_csv_handles_quotes_and_multiline_cells_and_keeps_the_answers_line_breaks():
    records = load_dataset_file(FIXTURES / "qa.csv")
    assert records[1]["question"] == 'Who is known as "The King" of football?'
    assert records[4]["answer"] == "A yellow card;\ntwo in one match mean a red card."


def test_format_flag_forces_the_shape_or_syntax(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text('{"question": "Q1?", "answer": "A1 here."}\n{"question": "Q2?", "answer": "A2 here."}\n')
    assert len(load_dataset_file(path, fmt="jsonl")) == 2
    assert len(load_dataset_file(path)) == 2  # JSON Lines is also recognised without the flag
    with pytest.raises(DatasetError, match="field 'instruction': missing"):
        load_dataset_file(path, fmt="alpaca")


def test_utf8_bom_and_utf16_files_load(tmp_path):
    records = [{"question": "Qué es un gol?", "answer": "Cuando el balón cruza la línea."}]
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(records).encode())
    utf16 = tmp_path / "excel.csv"
    utf16.write_text("question,answer\nQué es un gol?,Cuando el balón cruza la línea.\n", encoding="utf-16")
    assert load_dataset_file(bom) == records
    assert load_dataset_file(utf16) == records


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_names_the_encoding_to_pass(tmp_path, encoding):
    path = tmp_path / "faq.json"
    records = [{"question": "Qué es un gol?", "answer": "Un tanto."}]
    path.write_text(json.dumps(records, ensure_ascii=False), encoding=encoding)
    with pytest.raises(DatasetError, match=f"UTF-16 without a byte-order mark; pass --encoding {encoding}$"):
        load_dataset_file(path)
    assert load_dataset_file(path, encoding=encoding) == records


def _error(tmp_path: Path, name: str, content: str | bytes, **kwargs) -> DatasetError:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path, **kwargs)
    assert str(path) in str(info.value)
    return info.value


def test_malformed_json_names_line_and_column(tmp_path):
    err = _error(
        tmp_path,
        "bad.json",
        '[\n  {"question": "Q?", "answer": "A."},\n  {"question": "Q2?" "answer": "A2."}\n]',
    )
    assert (err.line, err.column) == (3, 22)
    assert "line 3:22" in str(err) and "malformed JSON" in str(err)


def test_malformed_jsonl_names_the_line(tmp_path):
    err = _error(
        tmp_path, "bad.jsonl", '{"question": "Q?", "answer": "A."}\n\n{"question": "Q2?", "answer": }\n'
    )
    assert err.line == 3
    assert "line 3:" in str(err)


def test_missing_field_names_record_and_field(tmp_path):
    err = _error(
        tmp_path, "missing.json", json.dumps([{"question": "Q?", "answer": "A."}, {"question": "Q2?"}])
    )
    assert (err.record, err.field) == (2, "answer")
    assert "record 2, field 'answer': missing" in str(err)


def test_non_string_field_names_record_field_and_type(tmp_path):
    err = _error(
        tmp_path, "num.jsonl", '{"question": "Q?", "answer": "A."}\n{"question": "Year?", "answer": 1930}\n'
    )
    assert (err.line, err.field) == (2, "answer")
    assert "not a string (got int)" in str(err)


def test_text_empty_after_cleaning_is_an_error_in_flat_shapes(tmp_path):
    err = _error(tmp_path, "blank.json", json.dumps([{"question": " \u200b\t ", "answer": "A."}]))
    assert "record 1, field 'question': empty after cleaning" in str(err)


def test_unreadable_encoding_names_the_byte_offset(tmp_path):
    err = _error(tmp_path, "latin1.csv", "question,answer\nWho is Pelé?,A Brazilian.\n".encode("latin-1"))
    assert err.byte_offset == len(b"question,answer\nWho is Pel")
    assert f"byte {err.byte_offset}" in str(err) and "UTF-8" in str(err)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"data": [{"question": "Q?", "answer": "A."}]}', "pass --records-key ('data' holds a list)"),
        ('"just a string"', "not a list"),
    ],
)
def test_top_level_that_is_not_a_list(tmp_path, content, needle):
    assert needle in str(_error(tmp_path, "obj.json", content))


def test_records_key_that_is_absent_lists_the_keys(tmp_path):
    err = _error(tmp_path, "obj.json", '{"rows": []}', records_key="data")
    assert "no key 'data'" in str(err) and "['rows']" in str(err)


@pytest.mark.parametrize(
    ("name", "content"), [("e.json", "[]"), ("e.jsonl", "\n\n"), ("e.csv", "question,answer\n")]
)
def test_empty_dataset(tmp_path, name, content):
    assert "empty dataset" in str(_error(tmp_path, name, content))


def test_csv_row_missing_a_cell_names_its_line(tmp_path):
    err = _error(tmp_path, "short.csv", "question,answer\nQ1?,A one.\nQ2 without answer\n")
    assert (err.line, err.field) == (3, "answer")


def test_unknown_fields_say_which_flags_to_use(tmp_path):
    err = _error(tmp_path, "odd.json", json.dumps([{"query": "Q?", "reply": "A."}]))
    assert "--question-field" in str(err) and "record 1" in str(err)


def test_sharegpt_roles_are_trimmed_and_conversations_without_a_pair_are_counted(tmp_path):
    turn = lambda role, text: {"from": role, "value": text}  # noqa: E731
    rows = [
        {"conversations": [turn("Human ", "Q one?"), turn(" GPT", "A one.")]},
        {"conversations": [turn("system", "Be brief."), turn("human", "Q two?")]},
        {"conversations": [turn("customer", "Q three?"), turn("agent", "A three.")]},
    ]
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(rows))
    loaded = read_dataset(path)
    assert loaded.records == [{"question": "Q one?", "answer": "A one."}]
    assert loaded.empty == [{"question": "Q two?", "answer": ""}, {"question": "", "answer": ""}]
    assert loaded.unpaired == ["record 2", "record 3"]
    result = prepare_dataset([path], CleanOptions(token_stats=False))
    report = result.report
    assert (report.records_in, report.removed["empty"], report.sources[0]["records"]) == (3, 2, 3)
    assert report.warnings[0] == (
        f"{path}: 2 conversation(s) without a user -> assistant pair with text, counted as empty: "
        "record 2, record 3"
    )


def test_bad_conversation_turn_names_the_turn(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "Q?"}, {"value": "A."}]}]
    err = _error(tmp_path, "conv.json", json.dumps(rows))
    assert err.field == "conversations[1].role"
    assert "record 1, field 'conversations[1].role': missing" in str(err)


@pytest.mark.parametrize(
    ("row", "field", "problem"),
    [
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]},
                          {"role": "assistant", "content": "Fine."}]},
            "messages[0].content[0].text",
            "not a string (got null)",
        ),
        (
            {"prompt": [{"role": ["user"], "content": "Hi?"}],
             "completion": [{"role": "assistant", "content": "Hello."}]},
            "prompt[0].role",
            "not a string (got a list)",
        ),
    ],
)  # fmt: skip
def test_malformed_chat_parts_name_the_field_instead_of_crashing(tmp_path, row, field, problem):
    err = _error(tmp_path, "chat.jsonl", json.dumps(row) + "\n")
    assert err.field == field and problem in str(err)


@pytest.mark.parametrize("name", ["faq.json", "faq.jsonl"])
def test_a_table_saved_as_json_says_which_format_reads_it(tmp_path, name):
    path = tmp_path / name
    path.write_text("question,answer\nWho won?,Spain.\n")
    hint = r"line 1:1: malformed JSON: Expecting value \(this looks like CSV: pass --format csv"
    with pytest.raises(DatasetError, match=hint):
        load_dataset_file(path)
    assert load_dataset_file(path, fmt="csv") == [{"question": "Who won?", "answer": "Spain."}]
    path.write_text('[{"question": "Who won?" "answer": "Spain."}]')  # a real JSON slip: no such hint
    with pytest.raises(DatasetError) as failed:
        load_dataset_file(path)
    assert "CSV" not in str(failed.value)
