"""What the bot knows: taught pairs are scored on the checkpoint index's scale, at once."""

from __future__ import annotations

import pytest

from bot.knowledge import Knowledge
from training.retrieval import RetrievalIndex

BASE = [
    {"question": "How many players may each team have on the pitch at the start of a match?", "answer": "11"},
    {"question": "What does a yellow card signify?", "answer": "A caution."},
    {"question": "Who won Euro 2016?", "answer": "Portugal."},
    {"question": "When is a player in an offside position?", "answer": "Nearer the goal line than the ball."},
    {"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
]
TAUGHT = [
    {"question": "Where does the club train on Tuesdays?", "answer": "Northfield, 7 pm.", "origin": "taught"},
    {"question": "How much is the annual club membership fee?", "answer": "120 pounds.", "origin": "taught"},
]


def test_a_taught_pair_scores_as_it_would_in_the_checkpoints_index() -> None:
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    knowledge.set_live(TAUGHT)
    merged = RetrievalIndex.build([*BASE, *TAUGHT])
    for query, taught in (("where is training on a tuesday", 0), ("how much is the club fee", 1)):
        best = knowledge.search_many([query])[0][0]
        want = merged.search(query)[0]
        assert best.question == TAUGHT[taught]["question"] == want.question and best.origin == "taught"
        assert best.score == pytest.approx(want.score, abs=1e-5)  # the scale the zones were calibrated on


def test_a_new_checkpoint_rescales_the_taught_pairs() -> None:
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    knowledge.add_live(**{k: TAUGHT[0][k] for k in ("question", "answer")})
    before = knowledge.search_many(["where is training on a tuesday"])[0][0].score
    bigger = [*BASE, *({"question": f"Where is stadium {i}?", "answer": str(i)} for i in range(20))]
    swapped = knowledge.with_base(RetrievalIndex.build(bigger))
    after = swapped.search_many(["where is training on a tuesday"])[0][0]
    merged = RetrievalIndex.build([*bigger, TAUGHT[0]]).search("where is training on a tuesday")[0]
    assert after.question == TAUGHT[0]["question"] and after.score == pytest.approx(merged.score, abs=1e-5)
    assert after.score != pytest.approx(before, abs=1e-3)  # "where" is common now: it weighs less
