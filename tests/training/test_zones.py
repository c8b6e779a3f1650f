"""Zones: answer / did you mean / not sure, and their calibration from generated probes."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from training.metrics import token_f1
from training.retrieval.alterations_learning import learn
from training.retrieval.index import Match, RetrievalIndex
from training.retrieval.probes import terse_rewordings
from training.retrieval.zones import (
    ANSWER_OFF_TOPIC_PASS,
    NEVER,
    OFF_TOPIC_PROBES,
    SUGGEST_OFF_TOPIC_PASS,
    ZoneThresholds,
    _Rules,
    agree_cut,
    allowed_passes,
    calibrate_zones,
    decide,
    probe_rewordings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "soccer.json"
T = ZoneThresholds(answer_score=0.7, answer_margin=0.1, suggest_score=0.4)


def m(row: int, score: float) -> Match:
    return Match(row=row, question=f"q{row}", answer=f"a{row}", score=score, lexical=score, dense=None,
                 coverage=1.0)  # fmt: skip


def test_strong_clear_match_is_answered() -> None:
    d = decide([m(0, 0.9), m(1, 0.5)], T)
    assert d.zone == "answer" and d.match.row == 0


def test_strong_but_ambiguous_match_suggests_the_close_ones() -> None:
    d = decide([m(0, 0.9), m(1, 0.85), m(2, 0.8), m(3, 0.2)], T)
    assert d.zone == "suggest"
    assert [s.row for s in d.suggestions] == [0, 1, 2]  # the far fourth is not offered


def test_did_you_mean_offers_what_stands_close_to_the_best_even_under_the_cut() -> None:
    # The cut (0.4) decides whether to offer; a runner-up within the window is offered below it (people
    # type "who lifted the cup in 1970": the right question third, at 0.27 under a best of 0.41).
    d = decide([m(0, 0.45), m(1, 0.38), m(2, 0.31), m(3, 0.29)], T)
    assert d.zone == "suggest" and [s.row for s in d.suggestions] == [0, 1, 2]
    # Not one further than the window from the best, nor one under the lowest cut calibration tries.
    assert [s.row for s in decide([m(0, 0.45), m(1, 0.29)], T).suggestions] == [0]
    low = replace(T, suggest_score=0.25)
    assert [s.row for s in decide([m(0, 0.3), m(1, 0.21), m(2, 0.19)], low).suggestions] == [0, 1]
    # An admin's cut under that (SUGGEST_SCORE=0.1) offers what it lets through, never an empty list.
    lowest = replace(T, suggest_score=0.1)
    assert [s.row for s in decide([m(0, 0.15), m(1, 0.12), m(2, 0.05)], lowest).suggestions] == [0, 1]


def test_a_strong_match_is_answered_however_close_the_runner_up() -> None:
    strong = ZoneThresholds(answer_score=0.7, answer_margin=0.1, suggest_score=0.4, strong_score=0.85)
    assert decide([m(0, 0.9), m(1, 0.88)], strong).zone == "answer"  # near-duplicate known questions
    assert decide([m(0, 0.8), m(1, 0.78)], strong).zone == "suggest"  # not that strong: the margin holds
    assert decide([m(0, 0.9), m(1, 0.88)], T).zone == "suggest"  # uncalibrated: never
    assert ZoneThresholds.from_dict(strong.to_dict()) == strong
    # An answer cut set by hand answers by its own margin; a suggest cut leaves the strong score be.
    assert strong.with_overrides({"answer_margin": 0.2}).strong_score > 1.0
    assert strong.with_overrides({"suggest_score": 0.3}) == replace(strong, suggest_score=0.3)
    assert strong.with_overrides({}) is strong


def test_the_strong_score_does_not_answer_a_question_more_general_than_its_two_best_matches() -> None:
    strong = ZoneThresholds(answer_score=0.5, answer_margin=0.12, suggest_score=0.3, strong_score=0.58)
    records = [
        {"question": "What is an offside trap?", "answer": "Defenders step up together."},
        {"question": "When is a player in an offside position?", "answer": "Nearer the goal line than..."},
        {"question": "Who won the 2014 World Cup?", "answer": "Germany."},
    ]
    index = RetrievalIndex.build(records)
    general = index.search("what is offside", k=3)
    assert [x.covers_asked for x in general[:2]] == [True, True]  # "offside": both are about it
    # A word typed for a question word ("wut", learned as "what") asks for, not about: the same.
    slang = RetrievalIndex.build(records, alterations=learn(records)).search("wut is offside", k=3)
    assert [x.covers_asked for x in slang[:2]] == [True, True]
    specific = index.search("what is the offside trap", k=3)
    assert specific[0].row == 0 and specific[0].covers_asked and not specific[1].covers_asked
    # Scored alike, the words decide: both contain all that was asked, so only a margin answers.
    close = [replace(x, score=s) for x, s in zip(general[:2], (0.6, 0.56), strict=True)]
    assert decide(close, strong).zone == "suggest"
    assert decide([close[0], replace(close[1], covers_asked=False)], strong).zone == "answer"
    assert decide([replace(close[0], score=0.7), close[1]], strong).zone == "answer"  # a clear margin


def test_the_answer_words_second_opinion_answers_a_close_call_it_agrees_on() -> None:
    agreeing = ZoneThresholds(0.7, 0.1, 0.3, agree_score=0.35, agree_margin=0.06)
    top = 2.0  # the best answer-words score among the candidates

    def w(row: int, score: float, answer_words: float) -> Match:
        return replace(m(row, score), answer_words=answer_words, answer_words_top=top)

    assert decide([w(0, 0.4, 2.0), w(1, 0.3, 1.0)], agreeing).zone == "answer"
    assert decide([w(0, 0.4, 1.0), w(1, 0.3, 2.0)], agreeing).zone == "suggest"  # it prefers another
    assert decide([w(0, 0.4, 1.5), w(1, 0.3, 1.0)], agreeing).zone == "suggest"  # a candidate not shown
    assert decide([w(0, 0.4, 2.0), w(1, 0.36, 1.0)], agreeing).zone == "suggest"  # too close
    assert decide([w(0, 0.33, 2.0), w(1, 0.2, 1.0)], agreeing).zone == "suggest"  # too weak
    assert decide([w(0, 0.4, 2.0), w(1, 0.3, 1.0)], T).zone == "suggest"  # uncalibrated: never
    # Not for a query more general than both its best matches ("what is pele"): the margin alone tells.
    general = [replace(w(0, 0.4, 2.0), covers_asked=True), replace(w(1, 0.3, 1.0), covers_asked=True)]
    assert decide(general, agreeing).zone == "suggest"
    assert decide([w(0, 0.4, 2.0), w(1, 0.3, 1.0)], agreeing.offer_only()).zone == "suggest"
    assert decide([w(0, 0.95, 2.0), w(1, 0.3, 1.0)], agreeing.offer_only()).zone == "suggest"
    # Calibrated with the answer cut: an answer cut set by hand drops it; old manifests have none.
    assert agreeing.with_overrides({"answer_score": 0.8}).agree_score == NEVER
    assert agreeing.with_overrides({"suggest_score": 0.2}).agree_score == 0.35
    assert ZoneThresholds.from_dict(agreeing.to_dict()) == agreeing
    assert ZoneThresholds.from_dict({"answer_score": 0.7}).agree_margin == NEVER


def test_the_second_opinions_cut_is_calibrated_only_where_it_adds_right_answers() -> None:
    rules = _Rules(0.6, 0.1)
    # (score, margin, general, agrees, right): rewordings under the answer cut that the view agrees on
    positives = [(0.9, 0.3, False, True, True)] * 50 + [(0.45, 0.1, False, True, True)] * 20
    positives += [(0.45, 0.02, False, True, False)] * 5 + [(0.45, 0.1, False, False, False)] * 20
    near, off = [(0.3, 0.05, False, True)] * 10, [(0.25, 0.0, False, False)] * 70
    score, margin = agree_cut(rules, positives, near, off)
    assert score <= 0.45 and 0.02 < margin <= 0.1  # the 20 right ones, not the 5 close wrong ones
    # Where the near misses it would answer are too many (10% at most), it is never used.
    assert agree_cut(rules, positives, [(0.45, 0.1, False, True)] * 10, off) == (NEVER, NEVER)
    assert agree_cut(rules, positives[:50], near, off) == (NEVER, NEVER)  # nothing to add


def test_middling_match_suggests_and_weak_match_falls_back() -> None:
    assert decide([m(0, 0.55)], T).zone == "suggest"
    assert decide([m(0, 0.3)], T).zone == "fallback"
    assert decide([], T).zone == "fallback"


def test_thresholds_round_trip_through_the_manifest() -> None:
    assert ZoneThresholds.from_dict(json.loads(json.dumps(T.to_dict()))) == T
    assert ZoneThresholds.from_dict(None) == ZoneThresholds()


def test_probe_rewordings_differ_from_the_question() -> None:
    q = "How many players may each team have on the pitch?"
    probes = probe_rewordings(q, random.Random(0))
    assert len(probes) >= 4 and q not in probes
    assert "how many players may each team have on the pitch" in probes


def test_terse_rewordings_keep_a_few_content_words_in_order() -> None:
    q = "Which country has won the most Africa Cup of Nations titles?"
    terse = terse_rewordings(q, random.Random(0))
    assert len(terse) == 2
    for text in terse:
        words = text.rstrip("?").split()
        assert 2 <= len(words) <= 3 and words == sorted(words, key=q.lower().index)
    assert terse_rewordings("What is offside?", random.Random(0)) == []


def test_calibration_on_the_example_keeps_wrong_answers_rare() -> None:
    records = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    train, held = records[:280], records[280:]
    index = RetrievalIndex.build(train)
    thresholds, report = calibrate_zones(train, held, index, token_f1)
    assert 0.2 <= thresholds.suggest_score <= thresholds.answer_score <= 1.0
    assert report["rewordings_answered_right"] >= 0.8  # most rewordings of known questions are answered
    assert report["near_miss_answered"] <= 0.1  # unknown on-topic questions mostly are not
    assert report["rewordings_answered_wrong"] <= 0.02
    assert thresholds.strong_score > thresholds.answer_score
    # "Did you mean" lets through at most the nearest half of the off-topic probes (the bound allows
    # fewer), the answer zone at most the few a 3% rate's bound allows.
    off = index.search_many(list(OFF_TOPIC_PROBES), 3)
    n = len(OFF_TOPIC_PROBES)
    assert sum(m[0].score >= thresholds.suggest_score for m in off) <= allowed_passes(
        n, SUGGEST_OFF_TOPIC_PASS
    )
    assert sum(decide(m, thresholds).zone == "answer" for m in off) <= allowed_passes(
        n, ANSWER_OFF_TOPIC_PASS
    )
    assert report["off_topic_fallback"] >= 0.5


def test_allowed_passes_leaves_room_for_sampling_error() -> None:
    # The sample rate alone (5% of n) would let 3 of 70 probes through and miss 5% on new questions
    # about half the time; the bound lets fewer through, and none from a sample too small to tell.
    assert allowed_passes(70) == 1
    assert allowed_passes(10) == 0 and allowed_passes(46) == 0
    assert 0 < allowed_passes(1000) < 50
    strict, loose = allowed_passes(1000, confidence=0.95), allowed_passes(1000, confidence=0.5)
    assert loose >= allowed_passes(1000) >= strict


@pytest.mark.parametrize("bad", ["abc", None, [1], True, float("nan"), -5, 2.0])
def test_zones_that_are_no_cut_are_refused_naming_the_field(bad) -> None:
    with pytest.raises(ValueError, match=r"zones\.agree_score must be a number from 0 to 1\.01"):
        ZoneThresholds.from_dict({"answer_score": 0.5, "agree_score": bad})
    assert ZoneThresholds.from_dict({"answer_score": 1, "agree_score": 0}).answer_score == 1.0
