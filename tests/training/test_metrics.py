"""Answer metrics against hand-computed cases, and confidence calibration."""

from __future__ import annotations

import pytest

from training.metrics import aggregate, exact_match, normalize_answer, rouge_l, token_f1
from training.retrieval.calibrate import calibrate_threshold


def test_normalize_answer_follows_squad():
    assert normalize_answer("The  Ball, is ROUND!") == "ball is round"
    assert normalize_answer("an apple a day") == "apple day"


def test_exact_match_ignores_case_punctuation_and_articles():
    assert exact_match("The referee.", "referee") == 1.0
    assert exact_match("a referee", "the linesman") == 0.0


def test_token_f1_hand_computed():
    # pred tokens: eleven players team (3) ; ref: eleven players (2); common 2 -> P=2/3, R=1 -> F1=0.8
    assert token_f1("Eleven players a team", "eleven players") == pytest.approx(0.8)
    assert token_f1("goal goal", "goal") == pytest.approx(2 * 0.5 * 1 / 1.5)  # duplicates count once
    assert token_f1("", "") == 1.0
    assert token_f1("", "goal") == 0.0
    assert token_f1("red card", "yellow flag") == 0.0


def test_rouge_l_uses_longest_common_subsequence():
    # pred: a b c d ; ref: a c d e -> LCS "a c d" = 3 -> P=3/4, R=3/4 -> F=0.75 (letters avoid articles)
    assert rouge_l("x b y z", "x y z w") == pytest.approx(0.75)
    # order matters for ROUGE-L, not for token F1
    assert rouge_l("z y x", "x y z") == pytest.approx(1 / 3)
    assert token_f1("z y x", "x y z") == 1.0


def test_aggregate_averages_and_checks_lengths():
    scores = aggregate(["Germany", "Brazil won"], ["germany", "Italy won"])
    assert scores == {"exact_match": 0.5, "f1": pytest.approx(0.75), "rougeL": pytest.approx(0.75)}
    with pytest.raises(ValueError):
        aggregate(["one"], [])


def test_calibration_cuts_between_wrong_and_right_answers():
    confidences = [0.1, 0.2, 0.25, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9, 0.95]
    f1s = [0.0, 0.1, 0.0, 0.2, 0.0, 1.0, 0.9, 1.0, 1.0, 0.8]
    assert calibrate_threshold(confidences, f1s) == pytest.approx((0.35 + 0.6) / 2)


def test_calibration_needs_enough_data_and_both_outcomes():
    assert calibrate_threshold([0.5] * 5, [1.0, 0.0, 1.0, 0.0, 1.0]) is None
    assert calibrate_threshold([0.1 * i for i in range(10)], [1.0] * 10) is None
