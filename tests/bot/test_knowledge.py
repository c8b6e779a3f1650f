"""What the bot knows: taught pairs are scored on the checkpoint index's scale, at once."""

from __future__ import annotations

import numpy as np
import pytest

from bot.answering.knowledge import Knowledge
from training.retrieval.index import RetrievalIndex
from training.retrieval.zones import _agrees

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


def test_the_best_answer_words_are_over_what_was_taught_too() -> None:
    # Alone, the checkpoint's best match is also the best by its answer's words (the second opinion
    # agrees); a taught pair whose answer has more of the words asked takes that from it.
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    query = "yellow card signify at the club, northfield at 7 pm"
    matches = knowledge.search_many([query])[0]
    assert matches[0].question == BASE[1]["question"] and _agrees(matches)
    knowledge.set_live(TAUGHT)
    matches = knowledge.search_many([query])[0]
    taught = next(m for m in matches if m.origin == "taught" and "Northfield" in m.answer)
    assert matches[0].question == BASE[1]["question"] and not _agrees(matches)
    assert {m.answer_words_top for m in matches} == {taught.answer_words}


def test_what_stands_for_a_question_keeps_its_answer_words() -> None:
    # A correction of the best match, or a learned wording of it, is that question: the second opinion
    # still agrees (the correction's view counts its question twice and scores a little lower; the
    # wording's record has words of its own).
    query = "yellow card signify at the club"
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    before = knowledge.search_many([query])[0]
    assert before[0].question == BASE[1]["question"] and _agrees(before)
    knowledge.add_live(BASE[1]["question"], BASE[1]["answer"], origin="correction")
    corrected = knowledge.search_many([query])[0]
    assert corrected[0].origin == "correction" and _agrees(corrected)
    worded = Knowledge(RetrievalIndex.build(BASE))
    worded.add_wording("yellow card at the club what does it signify", BASE[1]["question"])
    matches = worded.search_many([query])[0]
    assert matches[0].question == BASE[1]["question"] and _agrees(matches)
    assert matches[0].answer_words == matches[0].answer_words_top > before[0].answer_words


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


def test_a_learned_wording_is_answered_as_the_question_it_was_chosen_as() -> None:
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    wording = "who got the trophy in france that summer"
    assert knowledge.search_many([wording])[0][0].score < 0.2  # shares little with any known question
    knowledge.add_wording(wording, "Who won Euro 2016?")
    for query in (wording, "who got the trophy in france"):
        best = knowledge.search_many([query])[0][0]
        # The known question stands for it: the model answers that question, as trained.
        assert (best.question, best.answer, best.origin) == ("Who won Euro 2016?", "Portugal.", "trained")
        assert best.score > 0.5
    # Once, whatever the wording matched as: never listed twice among the suggestions.
    questions = [m.question for m in knowledge.search_many(["who won euro 2016 in france"])[0]]
    assert questions.count("Who won Euro 2016?") == 1


def test_a_learned_wording_serves_its_questions_current_answer_and_goes_with_it() -> None:
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    knowledge.set_live(TAUGHT)
    knowledge.set_wordings(
        [
            {"wording": "what do i pay to be a member", "question": TAUGHT[1]["question"]},
            {"wording": "how long do the two teams play", "question": "How long is a match?"},
            {"wording": "who lifted the cup in france", "question": "A question nobody knows?"},
        ]
    )
    best = knowledge.search_many(["what do i pay to be a member"])[0][0]
    assert (best.question, best.answer, best.origin) == (TAUGHT[1]["question"], "120 pounds.", "taught")
    knowledge.add_live(TAUGHT[1]["question"], "150 pounds from 2027.", origin="correction")
    best = knowledge.search_many(["what do i pay to be a member"])[0][0]
    assert (best.answer, best.origin) == ("150 pounds from 2027.", "correction")
    lifted = knowledge.search_many(["who lifted the cup"])[0]
    assert all(m.question != "A question nobody knows?" for m in lifted)  # unknown: nothing to stand for

    # A checkpoint that no longer knows the chosen question drops its wordings; they come back with it.
    without = knowledge.with_base(RetrievalIndex.build(BASE[:4]))
    matches = without.search_many(["how long do the two teams"])[0]
    assert all(m.question != "How long is a match?" for m in matches)
    again = without.with_base(RetrievalIndex.build(BASE))
    assert again.search_many(["how long do the two teams play"])[0][0].question == "How long is a match?"


def test_a_thumbs_down_forgets_only_the_wording_that_brought_the_answer() -> None:
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    knowledge.add_wording("who took the trophy in france", "Who won Euro 2016?")
    knowledge.add_wording("how long do the two teams play", "How long is a match?")
    # "who won euro 2016" matches its known question by itself: the wording was not why.
    assert knowledge.forget_wording("who won euro 2016", "Who won Euro 2016?") is None
    # The wording brought "who took the trophy in france?"; a wording for another question is not touched.
    assert knowledge.forget_wording("who took the trophy in france?", "How long is a match?") is None
    forgotten = knowledge.forget_wording("who took the trophy in france?", "Who won Euro 2016?")
    assert forgotten == "who took the trophy in france"
    assert knowledge.search_many(["who took the trophy in france"])[0][0].score < 0.5  # on its own again
    assert knowledge.search_many(["how long do the two teams play"])[0][0].question == "How long is a match?"


def test_a_taught_pair_for_the_same_wording_wins_over_the_learned_one() -> None:
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    knowledge.add_wording("how long is extra time", "How long is a match?")
    knowledge.add_live("How long is extra time?", "Two halves of 15 minutes.")
    best = knowledge.search_many(["how long is extra time"])[0][0]
    assert (best.question, best.answer) == ("How long is extra time?", "Two halves of 15 minutes.")


class CountingEncoder:
    """A stand-in sentence encoder: a unit vector per text from its words; counts what it encodes."""

    name = "counting"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts, max_tokens: int = 64) -> np.ndarray:
        self.texts += list(texts)
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(map(ord, word)) % 16] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_a_change_encodes_only_the_live_records_that_changed() -> None:
    encoder = CountingEncoder()
    knowledge = Knowledge(RetrievalIndex.build(BASE, encoder))
    knowledge.set_live(TAUGHT)
    knowledge.set_wordings([{"wording": "length of a game", "question": "How long is a match?"}])
    knowledge.search_many(["where is training"])
    encoder.texts.clear()
    knowledge.add_wording("who took euro 2016", "Who won Euro 2016?")
    best = knowledge.search_many(["who took euro 2016"])[0][0]
    assert best.question == "Who won Euro 2016?"
    # The query, and the new wording's question and pair texts: nothing encoded before is encoded again.
    assert sorted(encoder.texts) == sorted(["who took euro 2016"] * 2 + ["who took euro 2016 Portugal."])
    # A new answer for a taught question is a new pair text: that one record is encoded again.
    encoder.texts.clear()
    knowledge.add_live(TAUGHT[0]["question"], "Southfield, 8 pm.", origin="correction")
    knowledge.search_many(["where is training"])
    assert len(encoder.texts) == 3 and "where is training" in encoder.texts


def test_a_taught_pair_asked_in_other_words_is_offered_from_its_own_cut() -> None:
    from bot.answering.answer_path import BatchSettings, route
    from training.retrieval.zones import ZoneThresholds
    from training.runtime.generate import GenerationConfig

    knowledge = Knowledge(RetrievalIndex.build(BASE))
    assert knowledge.live_suggest is None  # nothing taught
    knowledge.set_live(TAUGHT)
    zones = ZoneThresholds(answer_score=0.8, answer_margin=0.05, suggest_score=0.55)
    settings = BatchSettings(GenerationConfig(), zones, None, "Not sure.")
    query = "how much is it to join the club"
    best = knowledge.search_many([query])[0][0]
    assert best.origin == "taught" and knowledge.live_suggest <= best.score < zones.suggest_score
    questions = [query, "how do i boil an egg", "what happens with a card"]
    asked, off_topic, known = route(knowledge, questions, settings)
    assert asked.decision.zone == "suggest"
    assert asked.decision.suggestions[0].question == TAUGHT[1]["question"]
    # A question whose best match the checkpoint knows keeps the checkpoint's cut (0.43 here).
    assert off_topic.decision.zone == known.decision.zone == "fallback"
    # A pair taught close to the checkpoint's own questions: they must not be offered it, so it is
    # offered only from above their scores against it.
    close = {"question": "How long is a club match?", "answer": "80 minutes.", "origin": "taught"}
    knowledge.set_live([*TAUGHT, close])
    knowledge.search_many(["anything"])  # the live index is rebuilt on the next search
    near = knowledge.live.search("How long is a match?")[0]
    assert near.question == close["question"] and knowledge.live_suggest > near.score


def test_a_taught_pair_is_offered_only_clearly_ahead_of_what_the_checkpoint_knows() -> None:
    from bot.answering.answer_path import _taught_ahead
    from training.retrieval.index import Match

    def match(score: float, origin: str) -> Match:
        return Match(0, f"q{score}", "a", score, score, None, 1.0, origin)

    assert _taught_ahead([match(0.5, "taught"), match(0.38, "trained")], margin=0.1)
    # "How many players are on a basketball team?" against a taught "How many teams does the club run?"
    # and the checkpoint's "How many players may each team have...?": about what the checkpoint covers.
    assert not _taught_ahead([match(0.53, "taught"), match(0.51, "trained")], margin=0.1)
    assert not _taught_ahead([match(0.6, "trained"), match(0.3, "taught")], margin=0.1)
    # The checkpoint's best is not among the top three: it scores at most the third's.
    taught = [match(0.5, "taught"), match(0.45, "correction"), match(0.42, "taught")]
    assert not _taught_ahead(taught, margin=0.1) and _taught_ahead(taught[:2], margin=0.1)


def test_a_corrected_answers_old_words_do_not_vouch_for_it() -> None:
    # "caution" was in the trained answer, not in the correction: the second opinion does not read the
    # replaced words (it abstains where they were the best), though a verbatim re-teach keeps them.
    query = "yellow card caution"
    knowledge = Knowledge(RetrievalIndex.build(BASE))
    assert _agrees(knowledge.search_many([query])[0])
    knowledge.add_live(BASE[1]["question"], "A warning to the player.", origin="correction")
    corrected = knowledge.search_many([query])[0]
    assert corrected[0].origin == "correction" and not _agrees(corrected)


def test_a_year_typed_short_is_read_alike_by_the_checkpoint_and_what_was_taught() -> None:
    """ "in 74" shared no term with "1974", and the year is read by both indexes alike: the checkpoint
    reading "24" as its 2024 and the taught pairs as 1924 scored a taught 1924 question under what one
    index holding both gives it."""
    from tests.training.test_retrieval import YEARS

    knowledge = Knowledge(RetrievalIndex.build(YEARS))
    [best, *_] = knowledge.search_many(["world champions in 74"])[0]
    assert best.question == "Who won the World Cup in 1974?"
    assert best.score == pytest.approx(knowledge.search_many(["world champions in 1974"])[0][0].score)
    taught = {"question": "Who won the football tournament at the 1924 Olympics?", "answer": "Uruguay."}
    knowledge.set_live([{**taught, "origin": "taught"}])
    merged = RetrievalIndex.build([*YEARS, {**taught, "origin": "taught"}])
    query = "who won the olympic football in 24"
    [best, *_] = knowledge.search_many([query])[0]
    assert (
        best.question
        == taught["question"]
        == merged.search("who won the olympic football in 1924")[0].question
    )
    # 1924 and 2024 are both known: "24" is not read as either, by either index
    assert best.score == pytest.approx(merged.search(query)[0].score, abs=1e-5)
