"""TRL KTO / DPO files given to `qabot train --data` / `qabot data check`: read by training.data.preference,
so a KTO row labelled false and a DPO row's rejected answer never become training pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from training.data import (
    CleanOptions,
    DatasetError,
    load_dataset_file,
    prepare_dataset,
    read_dataset,
    render_report,
)

GOLDEN = Path(__file__).parents[1] / "storage" / "golden"
OPTIONS = CleanOptions(offensive=False, token_stats=False)  # the point here is the labels, not the filters

KTO_ROWS = [
    {"prompt": "What is offside?", "completion": "Being past the last defender.", "label": True},
    {"prompt": "How long is a match?", "completion": "About ten minutes, give or take.", "label": False},
    {"prompt": "How long is a match?", "completion": "Ninety minutes plus stoppage time.", "label": True},
    {"prompt": "What is a hat-trick?", "completion": "Three goals by one player in one game.", "label": True},
]  # fmt: skip
DPO_ROWS = [
    {"prompt": "Who won the 2018 World Cup?", "chosen": "France won it.", "rejected": "Brazil won it."},
    {"prompt": "What is a hat-trick?", "chosen": "Three goals by one player.", "rejected": "Three fouls."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def pairs(records) -> set[tuple[str, str]]:
    return {(r["question"], r["answer"]) for r in records}


def test_kto_label_false_pair_is_dropped_and_the_report_says_why(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", KTO_ROWS)
    result = prepare_dataset([path], OPTIONS)
    assert pairs(result.records) == {
        ("What is offside?", "Being past the last defender."),
        ("How long is a match?", "Ninety minutes plus stoppage time."),
        ("What is a hat-trick?", "Three goals by one player in one game."),
    }
    report = result.report
    assert (report.records_in, report.records_out) == (4, 3)
    assert report.removed["undesirable"] == 1
    assert report.examples["undesirable"] == [
        {"question": "How long is a match?", "answer": "About ten minutes, give or take."}
    ]
    assert report.sources == [{"path": str(path), "format": "jsonl/kto", "records": 4}]
    console = Console(record=True, width=200)
    render_report(report, console)
    assert "undesirable (KTO label false)" in console.export_text()


def test_kto_export_in_trl_conversational_form_keeps_only_desirable_answers():
    loaded = read_dataset(GOLDEN / "export.kto", fmt="jsonl")
    assert loaded.format == "jsonl/kto"
    answers = {r["answer"] for r in loaded.records}
    assert "Three goals by one player in one game." in answers
    assert not answers & {"No idea really.", "Brazil", "Three fouls."}
    assert pairs(loaded.undesirable) == {
        ("what is OFFSIDE", "No idea really."),
        ("Who won the 2018 World Cup?", "Brazil"),
        ("What is a hat-trick?", "Three fouls."),
    }


def test_dpo_file_trains_the_chosen_answers(tmp_path):
    path = write_jsonl(tmp_path / "dpo.jsonl", DPO_ROWS)
    result = prepare_dataset([path], OPTIONS)
    assert pairs(result.records) == {
        ("Who won the 2018 World Cup?", "France won it."),
        ("What is a hat-trick?", "Three goals by one player."),
    }
    assert result.report.sources[0]["format"] == "jsonl/dpo"
    assert result.report.records_in == 2 and sum(result.report.removed.values()) == 0


def test_dpo_export_in_trl_conversational_form_gives_the_chosen_answers():
    records = load_dataset_file(GOLDEN / "export.dpo", fmt="jsonl")
    assert pairs(records) == {
        ("Who won the 2018 World Cup?", "France won it; ask @user for details."),
        ("What is a hat-trick?", "Three goals by one player in one game."),
    }


def test_dpo_with_an_implicit_prompt_takes_the_last_exchange_of_chosen(tmp_path):
    chat = [{"role": "user", "content": "Who won the 2014 World Cup?"}]
    row = {
        "chosen": [*chat, {"role": "assistant", "content": "Germany."}],
        "rejected": [*chat, {"role": "assistant", "content": "Argentina."}],
    }
    path = write_jsonl(tmp_path / "implicit.jsonl", [row])
    assert load_dataset_file(path) == [{"question": "Who won the 2014 World Cup?", "answer": "Germany."}]


def test_kto_as_csv_reads_its_text_labels(tmp_path):
    path = tmp_path / "kto.csv"
    path.write_text(
        "prompt,completion,label\nHow wide is a goal?,7.32 metres.,true\nHow wide is a goal?,A mile.,false\n",
        encoding="utf-8",
    )
    loaded = read_dataset(path)
    assert loaded.format == "csv/kto"
    assert loaded.records == [{"question": "How wide is a goal?", "answer": "7.32 metres."}]
    assert loaded.undesirable == [{"question": "How wide is a goal?", "answer": "A mile."}]


def test_forced_prompt_completion_still_honours_kto_labels(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", KTO_ROWS)
    loaded = read_dataset(path, fmt="prompt-completion")
    assert "About ten minutes, give or take." not in {r["answer"] for r in loaded.records}


def test_forced_kto_format_rejects_other_rows(tmp_path):
    path = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "Hi?", "completion": "Hello."}])
    with pytest.raises(DatasetError, match="not a kto row"):
        read_dataset(path, fmt="kto")


def test_kto_with_only_false_labels_is_an_empty_dataset(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [KTO_ROWS[1]])
    with pytest.raises(DatasetError, match="all 1 kto rows are labelled false"):
        read_dataset(path)


def test_bad_kto_label_names_the_line(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", [{**KTO_ROWS[0], "label": "maybe"}])
    with pytest.raises(DatasetError, match="line 1, field 'label': not a KTO label"):
        read_dataset(path)


def test_data_check_json_counts_undesirable_rows(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", KTO_ROWS)
    result = CliRunner().invoke(app, ["data", "check", str(path), "--json", "--no-offensive"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["records_in"], data["records_out"]) == (4, 3)
    assert data["removed"]["undesirable"] == 1
    assert data["sources"][0]["format"] == "jsonl/kto"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"prompt": "Hi?", "chosen": "Hello.", "rejected": 7}, "rejected"),
        ({"prompt": "Hi?", "chosen": "", "rejected": "Go away."}, "chosen"),
        (
            {
                "chosen": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hey."}],
                "rejected": 3,
            },
            "rejected",
        ),
    ],
)
def test_a_bad_dpo_answer_is_reported_under_its_own_field(tmp_path, row, field):
    """The error names the field the file has (chosen, rejected), not the shape it is read through."""
    path = write_jsonl(tmp_path / "dpo.jsonl", [row])
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert f"field '{field}'" in str(info.value) and "completion" not in str(info.value)
