"""Answers keep their line breaks (lists and steps) through loading, cleaning and the prompt; questions are
one line."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli import app
from training.data import CleanOptions, clean_records, normalize_text
from training.prompt import extract_answer, format_example

STEPS = "To take a penalty:  \r\n\r\n\r\n\r\n1.   Place the ball\u00a0on the spot.\u2028 2. Shoot.  \n\n"


def test_multiline_normalization_keeps_breaks_and_tidies_each_line():
    assert (
        normalize_text(STEPS, multiline=True)
        == "To take a penalty:\n\n1. Place the ball on the spot.\n2. Shoot."
    )
    assert normalize_text(STEPS) == "To take a penalty: 1. Place the ball on the spot. 2. Shoot."


@given(st.text())
def test_multiline_normalization_is_idempotent_and_tidy(text):
    out = normalize_text(text, multiline=True)
    assert normalize_text(out, multiline=True) == out
    assert "\n\n\n" not in out and out == out.strip("\n")
    assert all(line == line.strip() and "  " not in line for line in out.split("\n"))
    assert out.splitlines() == (out.split("\n") if out else [])  # "\n" is the only line break left


def test_cleaning_keeps_answer_lines_and_makes_questions_one_line():
    records = [{"question": "How do I take\na penalty?", "answer": STEPS}]
    result = clean_records(records, CleanOptions(token_stats=False))
    assert result.records == [
        {
            "question": "How do I take a penalty?",
            "answer": "To take a penalty:\n\n1. Place the ball on the spot.\n2. Shoot.",
        }
    ]


def test_data_clean_writes_a_multiline_csv_answer_with_its_line_breaks(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text(
        'question,answer\n"How do I\ntake a penalty?","1. Place the ball.\n2. Wait.\n3. Shoot."\n'
    )
    out = tmp_path / "clean.json"
    result = CliRunner().invoke(app, ["data", "clean", str(path), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == [
        {"question": "How do I take a penalty?", "answer": "1. Place the ball.\n2. Wait.\n3. Shoot."}
    ]


def test_the_prompt_carries_answer_lines_to_generation_and_back():
    answer = "1. Place the ball.\n2. Wait.\n3. Shoot."
    prompt, completion = format_example("How do I take a penalty?", answer, "<eos>")
    assert completion == f" {answer}<eos>"
    assert extract_answer(completion.removesuffix("<eos>")) == answer


def test_an_answer_line_starting_with_a_stop_marker_is_cut_and_the_report_says_so():
    # A known limit of the prompt (its stop strings are "\nQuestion:" and "\nAnswer:"): generation stops
    # at such a line. Not redesigned here; cleaning warns so the dataset can be reworded.
    answer = "Two common ones:\nQuestion: is it offside? Answer: no."
    assert extract_answer(f" {answer}") == "Two common ones:"
    result = clean_records(
        [{"question": "Which questions come up?", "answer": answer}], CleanOptions(token_stats=False)
    )
    assert any("starting with 'Question:' or 'Answer:'" in w for w in result.report.warnings)
