"""The offensive filter: technical text that word lists flag is kept, insults are caught, in context.

The full measurement is ``bench/offensive_filter.py``; these tests take a small sample of the same
held-out set (``fixtures/offensive_set.jsonl``), never the reference sentences the filter compares with.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from training.data import CleanOptions, clean_records
from training.data.offensive import REFERENCES, classifier_scores, is_offensive, offensive_scores

FIXTURES = Path(__file__).parent / "fixtures"
FAST = {"token_stats": False}


def _held_out() -> list[dict[str, str]]:
    return [json.loads(line) for line in (FIXTURES / "offensive_set.jsonl").read_text().splitlines()]


def rec(question: str, answer: str) -> dict[str, str]:
    return {"question": question, "answer": answer}


def test_held_out_set_is_large_enough_and_apart_from_the_references():
    held_out = _held_out()
    references = {json.loads(line)["text"] for line in REFERENCES.read_text().splitlines()}
    assert sum(r["label"] == "benign" for r in held_out) >= 60
    assert sum(r["label"] == "insult" for r in held_out) >= 30
    assert {r["topic"] for r in held_out} >= {"medicine", "building", "cooking", "sports", "biology"}
    assert not references & {r["text"] for r in held_out}


def test_small_sample_keeps_technical_text_and_catches_insults():
    held_out = _held_out()
    # Every 7th benign sentence (10 of 70, across the five fields) and every 6th insult (5 of 30).
    benign = [r["text"] for r in held_out if r["label"] == "benign"][::7]
    insults = [r["text"] for r in held_out if r["label"] == "insult"][::6]
    assert len(benign) == 10 and len(insults) == 5
    scores = offensive_scores(benign + insults)
    assert [s is None for s in scores[:10]] == [True] * 10, benign
    assert [s is not None for s in scores[10:]] == [True] * 5, insults


def test_context_keeps_what_the_classifier_alone_flags():
    texts = [
        "The cock pheasant has a red face and a long tail.",
        "Use a bastard file to take the burrs off the cut steel.",
        "Drive the screw in until the head sits flush with the plasterboard.",
    ]
    assert min(classifier_scores(texts)) >= 0.8  # a word-based score alone would drop all three
    assert offensive_scores(texts) == [None, None, None]
    assert all(s is not None for s in offensive_scores(texts, context=False))


def test_an_insult_inside_a_long_answer_is_found_sentence_by_sentence():
    answer = (
        "Offside is when a player is nearer the goal line than both the ball and the second-last "
        "opponent when the ball is played to him, which every referee knows.\nOnly an idiot would "
        "not know that, you moron."
    )
    assert is_offensive("What is offside?", answer)


def test_letter_substitutions_are_read_but_scores_are_not():
    assert is_offensive("you l0ser b1tch")
    assert not is_offensive("Germany beat Argentina 1-0 in the final.")


def test_allowed_words_are_ignored_and_the_report_keeps_the_score():
    swearing = rec("What was the best comeback?", "Holy shit, what a comeback in Istanbul.")
    dropped = clean_records([swearing], CleanOptions(**FAST))
    assert dropped.report.removed["offensive"] == 1
    assert dropped.report.examples["offensive"][0]["score"] >= 0.5
    kept = clean_records([swearing], CleanOptions(**FAST, allowed_words=("Shit",)))
    assert kept.records == [swearing]


def test_threshold_option_moves_the_classifier_cut():
    insult = rec("Who is the best striker?", "That fucking idiot.")
    assert clean_records([insult], CleanOptions(**FAST)).records == []
    assert clean_records([insult], CleanOptions(**FAST, offensive_threshold=1.0)).records == [insult]


def test_load_classifier_soon_loads_it_on_a_thread_of_its_own():
    """The bot warms the classifier at start-up, off the thread that answers (its first chat message would
    otherwise wait ~1.6 s for it, with every question behind it)."""
    import threading

    from training.data import offensive

    offensive._classifier.cache_clear()
    loaders: list[str] = []
    load = offensive._classifier.__wrapped__

    def recording() -> object:
        loaders.append(threading.current_thread().name)
        return load()

    original = offensive._classifier
    offensive._classifier = functools.cache(recording)
    try:
        offensive.load_classifier_soon()
        for thread in threading.enumerate():
            if thread.name == "qabot-offensive-load":
                thread.join(30)
        assert loaders == ["qabot-offensive-load"]
        assert offensive.classifier_scores(["what a lovely goal"]) and loaders == ["qabot-offensive-load"]
    finally:
        offensive._classifier = original


def test_insults_in_other_languages_are_caught_and_their_ordinary_words_kept():
    """The classifier knows English only: "filho da puta" scored as harmless and was trained on."""
    insults = [
        "Quem marcou? Foi aquele filho da puta do árbitro.",
        "Vete a la mierda, bot.",
        "Ce connard d'arbitre a tout gâché.",
        "Che stronzo quel portiere.",
        "Der Schiri ist ein Arschloch.",
        "CABRÓN",
        "fdp",  # chat abbreviations, plurals, emphasis, spacing
        "hijos de puta",
        "Arschlöcher",
        "merdaaaa",
        "filho da \n puta",
        "vai-te foder",
    ]
    kept = [
        "Os cones de treino chamam-se conos em espanhol: pon los conos en línea.",  # coño folds to cono
        "Em Portugal, fazer bicha é fazer fila.",
        "Il a joué avec un corno à la mi-temps.",
        "Con el VAR el árbitro revisa la jugada.",
        "Le débilité de la défense; a idiotice do passe.",  # the words only inside others
        "La difesa del Milan è debile; o vestiário foi arrombado; il est rentré abruti de fatigue.",
    ]
    expected = [True] * len(insults) + [False] * len(kept)
    assert [score is not None for score in offensive_scores(insults + kept)] == expected
    allowed = offensive_scores(["Que merda de jogo."], allowed=frozenset({"merda"}))
    assert allowed == [None]  # --allow-word applies to them too
