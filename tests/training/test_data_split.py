"""The grouped, deterministic train/eval split."""

from __future__ import annotations

import warnings

import pytest

from training.data import DatasetWarning, comparison_key, split_records
from training.records import make_record


def records(n: int, copies: int = 1) -> list[dict[str, str]]:
    return [
        {"question": f"Question {i}{'?' * c}", "answer": f"Answer {i}, variant {c}."}
        for i in range(n)
        for c in range(copies)
    ]


def test_no_question_lands_in_both_sides():
    data = records(200, copies=3)  # each question three times, differing only in punctuation
    train, evaluation = split_records(data)
    train_keys = {comparison_key(r["question"]) for r in train}
    eval_keys = {comparison_key(r["question"]) for r in evaluation}
    assert not train_keys & eval_keys
    assert len(train) + len(evaluation) == len(data)
    assert len(evaluation) == pytest.approx(0.15 * len(data), abs=3)


def test_split_is_deterministic_and_independent_of_input_order():
    data = records(100)
    first = split_records(data, seed=1)
    assert split_records(data, seed=1) == first
    reversed_eval = split_records(list(reversed(data)), seed=1)[1]
    assert sorted(map(str, reversed_eval)) == sorted(map(str, first[1]))
    assert split_records(data, seed=2)[1] != first[1]


def test_eval_fraction_is_respected():
    _, evaluation = split_records(records(400), eval_fraction=0.25)
    assert len(evaluation) == 100


def test_tiny_dataset_keeps_one_eval_question_and_warns():
    with pytest.warns(DatasetWarning, match="eval split holds only 1"):
        train, evaluation = split_records(records(3))
    assert (len(train), len(evaluation)) == (2, 1)


def test_single_question_goes_to_train_with_a_warning():
    with pytest.warns(DatasetWarning, match="no eval split"):
        train, evaluation = split_records(records(1, copies=2))
    assert (len(train), evaluation) == (2, [])


def test_zero_fraction_and_empty_input_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert split_records(records(5), eval_fraction=0.0) == (records(5), [])
        assert split_records([]) == ([], [])


def test_bad_fraction_is_rejected():
    with pytest.raises(ValueError, match="eval_fraction"):
        split_records(records(5), eval_fraction=1.0)


def test_holdout_questions_always_go_to_eval():
    records = [make_record(f"Question number {i}?", f"Answer {i}.") for i in range(40)]
    train, evaluation = split_records(records, eval_fraction=0.15)
    # Force questions that the plain split put in train (case and punctuation do not matter).
    forced = [r["question"].upper().rstrip("?") for r in train[:3]]
    train2, eval2 = split_records(records, eval_fraction=0.15, holdout=forced)
    eval_questions = {r["question"] for r in eval2}
    assert {r["question"] for r in train[:3]} <= eval_questions
    assert not eval_questions & {r["question"] for r in train2}
    assert len(train2) + len(eval2) == len(records)


def test_train_only_questions_never_go_to_eval_even_when_held_out():
    records = [make_record(f"Question number {i}?", f"Answer {i}.") for i in range(40)]
    _, evaluation = split_records(records, eval_fraction=0.15)
    taught = [r["question"] for r in evaluation[:2]]
    train, eval2 = split_records(records, eval_fraction=0.15, holdout=taught, train_only=taught)
    assert set(taught) <= {r["question"] for r in train}
    assert not set(taught) & {r["question"] for r in eval2}
    assert eval2 and len(train) + len(eval2) == len(records)
