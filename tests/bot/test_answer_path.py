"""The answer path: retrieval in front of the model, three zones, taught pairs answered at once."""

from __future__ import annotations

import pytest

from bot.answering.answerer import Answerer
from tests.bot.fakes import KNOWN, ZONES, FakeGenerator, known_generator


async def test_rewording_is_answered_by_the_model_for_the_known_question() -> None:
    gen = known_generator()
    async with Answerer(gen) as answerer:
        answer = await answerer.answer("how many players does each team have on the pitch")
    assert answer.zone == "answer" and answer.answered_by == "model"
    assert answer.text == "model: Eleven, one a goalkeeper."
    assert answer.matched_question == KNOWN[0]["question"] and answer.match_score > 0.6
    assert gen.batches == [[KNOWN[0]["question"]]]  # the model saw the known wording, not the user's


async def test_unsure_model_serves_the_stored_answer() -> None:
    gen = known_generator(confidence=0.2, threshold=0.5)
    async with Answerer(gen) as answerer:
        answer = await answerer.answer("What does a yellow card signify")
    assert (answer.zone, answer.answered_by, answer.text) == ("answer", "index", "A caution.")


async def test_ambiguous_question_gets_suggestions() -> None:
    async with Answerer(known_generator()) as answerer:
        answer = await answerer.answer("who won the euro")
    assert answer.zone == "suggest" and not answer.unanswered
    assert set(answer.suggestions) == {"Who won Euro 2016?", "Who won Euro 2004?"}
    assert answer.text.startswith("Did you mean:\n1. ")


async def test_off_topic_question_falls_back_without_the_model() -> None:
    gen = known_generator()
    async with Answerer(gen, fallback="Not sure.") as answerer:
        answer = await answerer.answer("How do I bake sourdough bread?")
    assert (answer.zone, answer.text, answer.unanswered) == ("fallback", "Not sure.", True)
    assert gen.batches == []


async def test_a_not_sure_that_asks_nothing_says_why_for_every_front_end() -> None:
    """ "thanks!" and "fuck off" get what they got (a friendly word, the fallback) but are marked, so no
    front end escalates or queues them (``Answer.not_asked``); closed book too."""
    async with Answerer(known_generator(), fallback="Not sure.") as answerer:
        said = {
            q: await answerer.answer(q) for q in ("thanks!", "fuck off", "How do I bake sourdough bread?")
        }
    assert [(a.text, a.unanswered, a.not_asked) for a in said.values()] == [
        ("You're welcome! 🙂", True, "chat"),
        ("Not sure.", True, "abuse"),
        ("Not sure.", True, None),
    ]
    async with Answerer(FakeGenerator({}, confidence=0.1, threshold=0.5)) as answerer:
        assert (await answerer.answer("lol")).not_asked == "chat"


async def test_taught_pair_is_answered_at_once_as_taught() -> None:
    gen = known_generator()
    async with Answerer(gen) as answerer:
        before = await answerer.answer("When does the club train on Tuesdays?")
        await answerer.teach("When does the club train on Tuesdays?", "From 7 pm at Northfield.")
        after = await answerer.answer("when is tuesday training at the club")
    assert before.zone == "fallback"
    assert (after.zone, after.text, after.answered_by) == ("answer", "From 7 pm at Northfield.", "taught")


async def test_correction_beats_the_models_old_answer() -> None:
    async with Answerer(known_generator()) as answerer:
        await answerer.teach("What does a yellow card signify?", "A caution; two mean a red.", "correction")
        answer = await answerer.answer("What does a yellow card signify?")
    assert (answer.text, answer.answered_by) == ("A caution; two mean a red.", "correction")


async def test_swap_keeps_what_was_taught() -> None:
    async with Answerer(known_generator(version="v1")) as answerer:
        await answerer.teach("Where is the clubhouse?", "Behind the north stand.")
        answerer.swap(known_generator(version="v2"))
        answer = await answerer.answer("where's the clubhouse")
    assert (answer.text, answer.model_version) == ("Behind the north stand.", "v2")


async def test_downvotes_push_a_close_match_out_of_the_answer_zone() -> None:
    async with Answerer(known_generator(), zone_overrides={"answer_score": 0.75}) as answerer:
        question = "how many players in each team"
        first = await answerer.answer(question)
        await answerer.nudge(KNOWN[0]["question"], -5)
        nudged = await answerer.answer(question)
    assert first.zone == "answer" and first.match_score >= 0.75
    assert nudged.zone == "suggest" and nudged.match_score == pytest.approx(first.match_score - 0.1, abs=1e-3)


async def test_settings_override_the_calibrated_zones() -> None:
    overrides = {"answer_score": 0.99, "suggest_score": 0.95}
    async with Answerer(known_generator(), zone_overrides=overrides) as answerer:
        answer = await answerer.answer("how many players does each team have on the pitch")
    assert answer.zone == "fallback"


async def test_without_an_index_the_model_answers_as_typed() -> None:
    gen = FakeGenerator({"Who won?": "Somebody."}, confidence=0.9, threshold=0.5)
    async with Answerer(gen) as answerer:
        answer = await answerer.answer("Who won?")
    assert (answer.zone, answer.text, answer.matched_question) == ("answer", "Somebody.", None)
    assert gen.batches == [["Who won?"]]


async def test_a_key_the_model_writes_is_masked_before_anyone_sees_it() -> None:
    """Datasets are cleaned of secrets, but a model (a hub base, say) may still write one: the answer the
    bot posts and stores shows it masked, with or without an index."""
    key = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    gen = FakeGenerator({"Which key?": f"Use {key} here."}, confidence=0.9, threshold=0.5)
    async with Answerer(gen) as answerer:
        answer = await answerer.answer("Which key?")
    assert answer.zone == "answer" and key not in answer.text and answer.text.startswith("Use ")
    gen = known_generator()
    gen.answers[KNOWN[0]["question"]] = f"Eleven, and the key {key}."
    async with Answerer(gen) as answerer:
        answer = await answerer.answer("how many players does each team have on the pitch")
    assert answer.answered_by == "model" and key not in answer.text and "Eleven" in answer.text


async def test_a_pasted_key_is_no_words_to_search() -> None:
    """ "my key is sk-proj-… why" searched the key's "sk" (the sweeper-keeper's abbreviation on make run's
    model) and answered the sweeper-keeper."""
    key = "sk-what-does-a-yellow-card-signify-" + "a1B2c3D4e5F6"
    async with Answerer(known_generator(), fallback="Not sure.") as answerer:
        answer = await answerer.answer(f"my key is {key} why")
    assert (answer.zone, answer.text) == ("fallback", "Not sure.") and answer.warning


async def test_teaching_an_empty_answer_is_refused() -> None:
    async with Answerer(known_generator()) as answerer:
        with pytest.raises(ValueError):
            await answerer.teach("A question?", "   ")


async def test_held_out_pair_is_served_as_stored_without_the_model() -> None:
    """A pair kept out of training for evaluation is known to the index, not to the model."""
    known = [*KNOWN, {"question": "What is a nutmeg?", "answer": "Through the legs.", "origin": "held_out"}]
    gen = FakeGenerator({"What is a nutmeg?": "model guess"}, known=known, zones=ZONES)
    async with Answerer(gen) as answerer:
        answer = await answerer.answer("what's a nutmeg")
    assert (answer.zone, answer.text, answer.answered_by) == ("answer", "Through the legs.", "index")
    assert gen.batches == []


async def test_a_flood_gets_busy_instead_of_an_unbounded_queue() -> None:
    """Past max_queue waiting questions, askers are told "busy" at once; the rest are answered."""
    import asyncio

    from bot.answering.answerer import AnswererBusy

    gen = FakeGenerator(delay_s=0.2)
    async with Answerer(gen, max_batch_size=1, max_queue=2, batch_wait_ms=0) as answerer:
        results = await asyncio.gather(
            *(answerer.answer(f"question {i}") for i in range(6)), return_exceptions=True
        )
    busy = [r for r in results if isinstance(r, AnswererBusy)]
    answered = [r for r in results if not isinstance(r, BaseException)]
    assert busy and answered and len(busy) + len(answered) == 6
    assert len(answered) <= 3  # one generating, two waiting: nobody else was queued


def test_did_you_mean_reads_one_way_in_each_place() -> None:
    from bot.answering.answer_path import suggestion_text
    from bot.discord_app.replies import SUGGEST_TEXT

    offered = ("Who won Euro 2016?", "Who won Euro 2004?")
    assert suggestion_text(offered) == "Did you mean:\n1. Who won Euro 2016?\n2. Who won Euro 2004?"
    one_line = "Did you mean: 1) Who won Euro 2016? | 2) Who won Euro 2004?"
    assert suggestion_text(offered, style="line") == one_line
    assert SUGGEST_TEXT == suggestion_text(style="buttons") == "Did you mean one of these?"
