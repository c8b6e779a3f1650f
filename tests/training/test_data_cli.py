"""`qabot data check` and `qabot data clean` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["data", *map(str, args)])


def test_check_json_reports_counts_and_duplicates():
    result = run("check", FIXTURES / "seed.json", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["valid"], data["records_in"], data["records_out"]) == (True, 3, 2)
    assert data["removed"]["duplicate"] == 1 and data["removed"]["near_duplicate"] == 0
    assert data["conflicts"] == 0
    assert data["tokens"]["max"] > 0


@pytest.mark.parametrize(
    ("name", "extra", "records_in"),
    [
        ("alpaca.json", [], 5),
        ("sharegpt.json", [], 5),
        ("messages.jsonl", [], 4),
        ("prompt_completion.jsonl", [], 3),
        ("qa.csv", ["--format", "csv"], 5),
        ("custom.csv", ["--question-field", "prompt_text", "--answer-field", "response"], 2),
        ("nested.json", ["--records-key", "data.rows", "--question-field", "q", "--answer-field", "a"], 2),
    ],
)
def test_check_loads_every_shape(name, extra, records_in):
    result = run("check", FIXTURES / name, "--json", *extra)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records_in"] == records_in


def test_check_prints_a_readable_table():
    result = run("check", FIXTURES / "qa.csv")
    assert result.exit_code == 0
    for word in ("records in", "records out", "duplicate", "near_duplicate", "tokens (GPT-2)"):
        assert word in result.stdout


BAD_INPUTS = {
    "malformed.json": ('[{"question": "Q?", "answer": "A."},\n {"question": "Q2?",}]', "line 2:"),
    "missing.jsonl": ('{"question": "Q?"}\n', "line 1, field 'answer': missing"),
    "not_string.json": ('[{"question": "Q?", "answer": 42}]', "record 1, field 'answer': not a string"),
    "blank.json": (
        '[{"question": "Q?", "answer": "\\u200b "}]',
        "record 1, field 'answer': empty after cleaning",
    ),
    "latin1.csv": ("question,answer\nWho is Pelé?,A Brazilian forward.\n".encode("latin-1"), "byte 26"),
    "object.json": ('{"rows": []}', "not a list"),
    "empty.json": ("[]", "empty dataset"),
    "all_spam.json": (
        '[{"question": "Free?", "answer": "https://discord.gg/x"}]',
        "no records left after cleaning",
    ),
    # A CSV without its header row, and plain text, said only "empty dataset: no records".
    "headerless_row.csv": (
        "What is offside?,Being past the last defender.\n",
        "no records under the header row (line 1); a CSV needs a header row naming its columns, such as "
        "question,answer",
    ),
    "headerless.csv": (
        "What is offside?,Being past the last defender.\nWho won in 2014?,Germany.\n",
        "Its first row is read as the header: a CSV needs a header row naming its columns",
    ),
    "notes.txt": ("What is offside? Being past the last defender.\n", "not a supported format: a .txt file"),
    "qa.txt": (
        "Q: What is offside?\nA: Being past the last defender.\n",
        "Supported: JSON (.json), JSON Lines (.jsonl, .ndjson), CSV or TSV with a header row (.csv, .tsv)",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(tmp_path, name):
    content, needle = BAD_INPUTS[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    out = tmp_path / "out" / "clean.json"

    checked = run("check", path)
    assert checked.exit_code == 2
    assert needle in checked.stderr and name in checked.stderr
    assert "Traceback" not in checked.output

    as_json = run("check", path, "--json")
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["valid"] is False

    cleaned = run("clean", path, "-o", out)
    assert cleaned.exit_code == 2 and needle in cleaned.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == [name]  # no output, no temp file, no folder


def test_missing_file_exits_2():
    result = run("check", "/nonexistent/data.json")
    assert result.exit_code == 2 and "cannot read the file" in result.stderr


def test_clean_writes_the_seed_schema_with_the_chosen_options(tmp_path):
    out = tmp_path / "clean.json"
    result = run(
        "clean", FIXTURES / "prompt_completion.jsonl", "-o", out, "--near-dup-threshold", "0.99", "--json"
    )
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert len(written) == 3  # at 0.99 "How wide's a goal?" is no longer a near-duplicate
    assert all(set(r) == {"question", "answer"} for r in written)
    assert json.loads(result.stdout)["output"] == str(out)


def test_clean_conflict_policy_and_filter_switches(tmp_path):
    data = tmp_path / "in.json"
    data.write_text(
        json.dumps(
            [
                {"question": "Who won in 2014?", "answer": "Germany."},
                {"question": "who won in 2014", "answer": "Germany, beating Argentina in the final."},
                {"question": "Where to watch?", "answer": "See https://example.com"},
            ]
        )
    )
    out = tmp_path / "out.json"
    result = run("clean", data, "-o", out, "--conflicts", "longest", "--no-spam")
    assert result.exit_code == 0, result.output
    answers = [r["answer"] for r in json.loads(out.read_text())]
    assert answers == ["Germany, beating Argentina in the final.", "See https://example.com"]

    bad_policy = run("clean", data, "-o", out, "--conflicts", "random")
    assert bad_policy.exit_code == 2


def test_allow_word_and_offensive_threshold_let_a_record_through(tmp_path):
    data = tmp_path / "in.json"
    data.write_text(
        json.dumps([{"question": "Best comeback?", "answer": "Holy shit, what a comeback in Istanbul."}])
    )
    assert run("check", data).exit_code == 2  # the only record is filtered: nothing left
    assert run("check", data, "--allow-word", "shit").exit_code == 0
    assert run("check", data, "--offensive-threshold", "0.99").exit_code == 0  # it scores 0.88


def test_clean_refuses_to_write_over_an_input(tmp_path, monkeypatch):
    data = tmp_path / "in.json"
    original = json.dumps([{"question": "Who won in 2014?", "answer": "Germany."}] * 2)
    data.write_text(original)
    monkeypatch.chdir(tmp_path)
    result = run("clean", FIXTURES / "seed.json", "in.json", "-o", "./sub/../in.json")
    assert result.exit_code == 2
    assert "is one of the input files" in result.stderr and "Traceback" not in result.output
    assert data.read_text() == original


def test_brackets_in_the_data_print_as_written_not_as_markup(tmp_path):
    data = tmp_path / "in.json"
    data.write_text(
        json.dumps(
            [
                {"question": "Why [/b]?", "answer": "Tags."},
                {"question": "why [/b]", "answer": "Other [bold] tags."},
                {"question": "Is [bold] ok?", "answer": "Yes."},
            ]
        )
    )
    result = run("check", data, "--no-offensive")
    assert result.exit_code == 0, result.output
    assert "Why [/b]?" in result.stdout and "Other [bold] tags." in result.stdout


@pytest.mark.parametrize("option", ["--near-dup-threshold", "--offensive-threshold"])
@pytest.mark.parametrize("value", ["0", "1.5"])
def test_a_threshold_out_of_range_is_a_usage_error_naming_the_option(option, value):
    result = run("check", FIXTURES / "seed.json", option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {value} is not in the range 0<x<=1." in result.output


def test_check_and_clean_share_their_options_and_the_pipelines_defaults():
    """One list of options (``DataOptions``) for both commands, defaulting to ``CleanOptions``'."""
    import typer.main

    from bot.cli.data import data_app
    from training.data import CleanOptions

    group = typer.main.get_group(data_app)
    params = {name: {p.name: p for p in group.commands[name].params} for name in ("check", "clean")}
    assert set(params["clean"]) - set(params["check"]) == {"output"}
    defaults = CleanOptions()
    for name in ("check", "clean"):
        assert params[name]["near_dup_threshold"].default == defaults.near_dup_threshold
        assert params[name]["offensive_threshold"].default == defaults.offensive_threshold
        assert params[name]["conflicts"].default == defaults.conflicts


def test_the_qabot_command_starts_without_the_cleaning_pipeline():
    """`qabot --help` stays quick: the data commands' defaults come without numpy and the pipeline."""
    import subprocess
    import sys

    probe = "import sys, bot.cli; print([m for m in ('numpy', 'training.data.pipeline') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
