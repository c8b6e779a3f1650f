"""Word alterations: learned from a small dataset, applied to the query without inflating scores, saved
with the index, and an index saved without them still loads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.retrieval.alterations import ALTERATIONS_FILE, Alteration, Alterations
from training.retrieval.alterations_learning import learn
from training.retrieval.index import RetrievalIndex
from training.retrieval.index_files import INDEX_DIR
from training.retrieval.lexical import BM25View, word_terms

RECORDS = [
    {"question": "How many substitutes may a team use?", "answer": "Five substitutes in most competitions."},
    {"question": "When may substitutes come on?", "answer": "At a stoppage, with the referee's permission."},
    {"question": "Who won the first World Cup?", "answer": "Uruguay won the 1930 World Cup."},
    {"question": "Which country hosted the 2014 World Cup?", "answer": "Brazil hosted the World Cup."},
    {"question": "What does a referee do?", "answer": "The referee enforces the laws."},
    {"question": "Can the referee stop play?", "answer": "Yes, the referee may stop play for an injury."},
    {"question": "What does expected goals (xG) measure?", "answer": "The quality of a chance."},
    {"question": "How big is the penalty area?", "answer": "It is 16.5 m deep."},
    {"question": "Who is the best goalkeeper ever?", "answer": "Many say Lev Yashin."},
]


@pytest.fixture(scope="module")
def learned() -> Alterations:
    return learn(RECORDS)


def _means(alterations: Alterations) -> dict[str, tuple[str, ...]]:
    return {e.word: e.means for e in alterations}


def test_prefixes_of_frequent_words_are_learned_as_abbreviations(learned: Alterations) -> None:
    means = _means(learned)
    assert means["subs"] == ("substitutes",)
    assert means["ref"] == ("referee",)
    rules = {e.word: (e.source, e.rule) for e in learned}
    assert rules["ref"] == ("learned", "prefix")
    # A typed word the dataset itself uses is no abbreviation ("stop"), nor an everyday word ("car" of
    # "cards"), nor a prefix of a word the dataset seldom uses ("yash" of "Yashin").
    assert "stop" not in means and "yash" not in means
    cards = [{"question": "How many cards are there?", "answer": "Cards: red cards and yellow cards."}]
    assert "car" not in _means(learn(cards))


def test_acronyms_of_frequent_word_sequences_and_of_the_datasets_definitions(learned: Alterations) -> None:
    means = _means(learned)
    assert means["wc"] == ("world cup",)  # "World Cup" five times, "world" never alone
    assert means["xg"] == ("expected goals",)  # written "expected goals (xG)" once
    assert {e.word: e.rule for e in learned}["xg"] == "defined"
    assert "pa" not in means  # "penalty area" once: not yet a name people abbreviate


def test_query_words_get_their_alternatives_in_slots(learned: Alterations) -> None:
    slots = learned.slots("how many subs per team")
    assert slots == [[["how", "many", "per", "team"]], [["subs"], ["substitutes"]]]
    assert learned.slots("refs") == [[[]], [["refs"], ["referee"]]]  # stems: "refs" is "ref"
    assert learned.slots("how big is the penalty area") is None
    assert learned.rewrite("Who won the first WC?") == "Who won the first world cup?"
    assert learned.rewrite("nothing to change") is None


def test_generic_chat_abbreviations_come_with_learning_only_when_asked() -> None:
    assert _means(learn(RECORDS))["ppl"] == ("people",)
    assert "ppl" not in _means(learn(RECORDS, with_generic=False))


def test_an_alternative_finds_the_datasets_word(learned: Alterations) -> None:
    index = RetrievalIndex.build(RECORDS, alterations=learned)
    plain = RetrievalIndex.build(RECORDS)
    best = index.search("how many subs can a team use")[0]
    assert best.row == 0
    assert best.lexical > plain.search("how many subs can a team use")[0].lexical
    assert index.search("who won the first wc")[0].row == 2


def test_expansion_never_scores_above_typing_the_known_words(learned: Alterations) -> None:
    index = RetrievalIndex.build(RECORDS, alterations=learned)
    typed = index.search("Who won the first World Cup?")[0]
    abbreviated = index.search("Who won the first wc?")[0]
    assert typed.row == abbreviated.row == 2 and typed.score == pytest.approx(1.0, abs=1e-6)
    assert abbreviated.score <= typed.score + 1e-9 and abbreviated.lexical <= 1.0
    # "cup" typed beside "wc" (which stands for "world cup") counts once, not twice.
    both = index.search("world cup wc who won the first")[0]
    assert both.score <= typed.score + 1e-9


def test_a_slot_scores_its_best_alternative_not_their_sum() -> None:
    docs = [["red", "card"], ["yellow", "card"], ["red", "yellow", "card"], ["goal"]]
    view = BM25View.build(docs)
    rows = np.arange(len(docs))

    def typed(terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = view.ids(terms)
        return view.exact(rows, ids, view.weight_total(terms, ids))

    # "rc" might mean "red" or "yellow" here: the third question holds both, and scores only what typing
    # the better one would, not both.
    norm, coverage = view.exact_slots(rows, [[["card"]], [["rc"], ["red"], ["yellow"]]])
    red, yellow = typed(["red", "card"]), typed(["yellow", "card"])
    assert norm[2] == pytest.approx(max(red[0][2], yellow[0][2]))
    assert norm[2] < typed(["red", "yellow", "card"])[0][2]
    assert norm[0] == pytest.approx(1.0) and coverage[0] == pytest.approx(red[1][0])
    assert (norm <= 1.0 + 1e-6).all() and (coverage <= 1.0 + 1e-6).all()
    # A term typed in one slot and offered in another counts in the first only.
    norm, _ = view.exact_slots(rows, [[["red", "card"]], [["rc"], ["red", "card"]]])
    assert norm[0] == pytest.approx(1.0)


def test_a_plain_slot_scores_as_exact_does() -> None:
    index = RetrievalIndex.build(RECORDS)
    view = index._word
    rows = np.arange(len(RECORDS))
    terms = word_terms("how many substitutes may the referee use")
    ids = view.ids(terms)
    expected = view.exact(rows, ids, view.weight_total(terms, ids))
    got = view.exact_slots(rows, [[terms]])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)


def test_admin_entries_go_over_learned_ones_and_an_empty_one_removes(learned: Alterations) -> None:
    merged = learned.merged(
        [
            Alteration("goalie", ("goalkeeper",), "admin"),
            Alteration("the box", ("penalty area",), "admin"),
            Alteration("ref", (), "admin"),  # an admin says "ref" is not short for anything here
        ]
    )
    assert merged.slots("why does the goalie wear other colours")[1] == [["goalie"], ["goalkeeper"]]
    assert merged.slots("how big is the box")[1] == [["box"], ["penalty", "area"]]
    assert merged.slots("refs") is None
    index = RetrievalIndex.build(RECORDS)
    assert index.search("who is the best goalie", alterations=merged)[0].row == 8


def test_alterations_are_saved_with_the_index_and_loaded(tmp_path, learned: Alterations) -> None:
    RetrievalIndex.build(RECORDS, alterations=learned).save(tmp_path)
    payload = json.loads((tmp_path / INDEX_DIR / ALTERATIONS_FILE).read_text(encoding="utf-8"))
    assert payload["format"] == 1
    assert {"word": "wc", "means": ["world cup"], "source": "learned", "rule": "acronym"} in payload[
        "alterations"
    ]
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded is not None and _means(loaded.alterations) == _means(learned)
    assert loaded.search("subs per team")[0].row == 0


def test_an_index_saved_without_alterations_loads_and_searches_as_typed(tmp_path, learned) -> None:
    RetrievalIndex.build(RECORDS, alterations=learned).save(tmp_path)
    (tmp_path / INDEX_DIR / ALTERATIONS_FILE).unlink()  # as an index saved before alterations existed
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded is not None and not loaded.alterations
    assert loaded.search("who won the first World Cup")[0].row == 2


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": 99, "alterations": []}),
        json.dumps({"format": 1, "alterations": [{"word": "x", "means": "y", "source": "learned"}]}),
        json.dumps({"format": 1, "alterations": [{"word": "x", "means": ["y"], "source": "someone"}]}),
    ],
)
def test_a_damaged_alterations_file_is_refused_at_load(tmp_path, learned, content: str) -> None:
    RetrievalIndex.build(RECORDS, alterations=learned).save(tmp_path)
    (tmp_path / INDEX_DIR / ALTERATIONS_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError):
        RetrievalIndex.load(tmp_path)


def test_an_index_built_like_another_uses_its_alterations(learned: Alterations) -> None:
    base = RetrievalIndex.build(RECORDS, alterations=learned)
    live = RetrievalIndex.build(
        [{"question": "Where is the next World Cup?", "answer": "In 2026: USA."}], like=base
    )
    assert live.alterations is base.alterations
    assert live.search("next wc where")[0].row == 0


def test_training_saves_admins_synonyms_over_the_learned_ones(tmp_path) -> None:
    from training.report import write_retrieval

    synonyms = tmp_path / "synonyms.json"
    synonyms.write_text(
        json.dumps([{"word": "goalie", "means": ["goalkeeper"]}, {"word": "ref", "means": []}]),
        encoding="utf-8",
    )
    summary = write_retrieval(tmp_path, RECORDS[:7], RECORDS[7:], "none", synonyms)
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded is not None and summary["alterations"] == len(loaded.alterations)
    assert loaded.alterations.find("goalie") == Alteration("goalie", ("goalkeeper",), "admin")
    assert loaded.alterations.find("refs") is None  # an admin switched the learned "ref" off
    assert loaded.alterations.find("wc") is not None
    synonyms.write_text('{"goalie": "goalkeeper"}', encoding="utf-8")
    with pytest.raises(ValueError, match="synonyms must be a list"):
        write_retrieval(tmp_path, RECORDS[:7], RECORDS[7:], "none", synonyms)
    synonyms.write_text(
        json.dumps(
            [{"word": "goalie", "means": ["goalkeeper"]}, {"word": "the box", "means": ["penalty area"]}]
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        ValueError, match=r"synonyms.json: synonym 2, field 'word': “the box” is searched as “box”"
    ):
        write_retrieval(tmp_path, RECORDS[:7], RECORDS[7:], "none", synonyms)


def test_the_example_glossary_reads_and_narrows_no_phrase() -> None:
    """make run trains with examples/soccer_synonyms.json: every entry must read, and none may be a phrase
    searched as one word of it (the check that caught "the box" turning boxing into the penalty area)."""
    from pathlib import Path

    from training.retrieval.alterations import admin_entries, read_synonyms

    path = Path(__file__).resolve().parents[2] / "examples" / "soccer_synonyms.json"
    entries = admin_entries(read_synonyms(path))
    assert len(Alterations(entries)) == len(entries)  # no entry dropped or shadowed by another


def test_a_choice_says_which_dataset_word_one_unknown_typed_word_stands_for() -> None:
    from training.retrieval.alterations_learning import choice_pair, from_choices

    known = {"role", "goalkeeper", "kit", "long", "stoppage", "time", "what", "how"}.__contains__
    goalkeeper = "What is the role of the goalkeeper?"
    assert choice_pair("goalie role", goalkeeper, known) == ("goalie", "goalkeeper")
    assert choice_pair("what is the goalie's role", goalkeeper, known) == ("goalies", "goalkeeper")
    assert choice_pair("what does the goalie do", goalkeeper, known) is None  # "role" or "goalkeeper"?
    assert choice_pair("how long is injury time", "How long is stoppage time?", known) == (
        "injury",
        "stoppage",
    )
    assert choice_pair("goalie keeper role", goalkeeper, known) is None  # two unknown words: which one?
    assert choice_pair("role of the kit", goalkeeper, known) is None  # "kit" is the dataset's own word
    assert choice_pair("goalie", "What colour kit must a goalkeeper wear?", known) is None  # which word?
    pair = ("goalie", "goalkeeper")
    assert from_choices([(pair, {"1"}), (pair, {"1"})]) == []  # one person's choices: not yet
    assert from_choices([(pair, {"1"}), (pair, {"2"})]) == [
        Alteration("goalie", ("goalkeeper",), "learned", "choices")
    ]
    assert from_choices([(pair, {"admin"})])[0].means == ("goalkeeper",)
    assert len(from_choices([(pair, {"1"}), (("goalies", "goalkeepers"), {"2"})])) == 1  # the same stems


# A cooking dataset: the acronym rules are about how names are written, not about one sport.
KITCHEN = [
    {"question": "When do you add a bay leaf?", "answer": "Add the bay leaf early; take out the bay leaf."},
    {"question": "What is a fig leaf?", "answer": "A fig leaf wraps fish; a fig leaf is edible."},
    {"question": "What is a curry leaf?", "answer": "The curry leaf flavours dal; fry a curry leaf in oil."},
    {"question": "How much salt goes in bread?", "answer": "Two percent; the salt and the leaf stay apart."},
    {"question": "Who runs the CIA Culinary School?", "answer": "The CIA trains chefs."},
    {"question": "What is the Culinary School exam?", "answer": "The Culinary School exam tests knife work."},
    {"question": "Where is the Culinary School?", "answer": "The Culinary School is in New York."},
    {"question": "What does a breadmaker do?", "answer": "A breadmaker kneads and bakes the bread."},
    {"question": "Is a breadmaker worth it?", "answer": "A breadmaker saves time when the bread is daily."},
    {"question": "Which maker is best?", "answer": "Each maker has a model; a maker warranty helps."},
]


def test_kinds_named_compounds_and_extended_names_get_acronyms() -> None:
    means = _means(learn(KITCHEN, with_generic=False))
    # "bay leaf", "fig leaf", "curry leaf": kinds of leaf, named even though "leaf" is common alone.
    assert means["bl"] == ("bay leaf",)
    assert means["bm"] == ("breadmaker",)  # a closed compound of two words the dataset uses
    assert means["ccs"] == ("cia culinary school",)  # a name ("Culinary School") after an acronym the
    # dataset writes ("CIA"), seen once


def test_a_learned_prefix_does_not_alter_a_text_in_another_language(learned: Alterations) -> None:
    index = RetrievalIndex.build(RECORDS, alterations=learned)
    known = index.knows_term
    assert learned.rewrite("o ref usa uma cor diferente", known) is None  # no word of it is the dataset's
    assert learned.rewrite("can the ref stop play", known) == "can the referee stop play"
    assert learned.rewrite("ref", known) == "referee"  # one word: nothing to tell its language by
    assert learned.slots("o ref usa uma cor diferente", known) is None


def test_a_question_in_another_language_is_scored_by_meaning_alone(learned: Alterations) -> None:
    from tests.training.test_encoder_training import HashingEmbedder

    index = RetrievalIndex.build(RECORDS, HashingEmbedder(), alterations=learned)
    foreign = index.search("quantos substitutes pode usar uma equipe", 1)[0]
    assert foreign.score == pytest.approx(foreign.dense, abs=1e-6)  # its words say nothing against a match
    english = index.search("how many substitutes may a side use", 1)[0]
    assert english.score != pytest.approx(english.dense, abs=1e-3)  # words and meaning blend


@pytest.mark.parametrize(
    ("question", "hijacked_by"),
    [
        # Discord's "DM" is a direct message, not a defensive midfielder: "can someone dm me" was answered
        # with the defensive midfielder's question (score 0.63, the answer zone) by make run's model.
        ("can someone dm me", "What does a defensive midfielder do?"),
        ("should i dm a mod", "What does a defensive midfielder do?"),
        # Portuguese "time" is a team, English "time" is time: "what's the time" offered a team captain.
        ("what's the time", "What are the duties of a team captain?"),
    ],
)
def test_the_example_glossary_takes_no_everyday_english_word(question: str, hijacked_by: str) -> None:
    """The glossary applies to every question in every language: a word that is everyday English (or
    Discord) for something else is not in it, whatever it means in the glossary's other languages."""
    from pathlib import Path

    from training.retrieval.alterations import admin_entries, read_synonyms

    root = Path(__file__).resolve().parents[2]
    records = json.loads((root / "examples" / "soccer.json").read_text(encoding="utf-8"))
    glossary = admin_entries(read_synonyms(root / "examples" / "soccer_synonyms.json"))
    index = RetrievalIndex.build(records, alterations=learn(records).merged(glossary))
    assert index.search(question, k=1)[0].question != hijacked_by


def test_answer_words_count_each_typed_word_once_however_many_its_alternatives() -> None:
    # "vs" may be read "versus" or "against": an answer holding both is not scored as if both were typed.
    records = [
        {"question": "Who won the derby game?", "answer": "Boca against River, and versus their rivals."},
        {"question": "Who won the derby match?", "answer": "Boca against River, 2-0."},
    ]
    vs = Alterations([Alteration("vs", ("versus", "against"), "admin")])
    index = RetrievalIndex.build(records, alterations=vs)
    against = {m.row: m.answer_words for m in index.search("boca against river derby", k=2)}
    versus = {m.row: m.answer_words for m in index.search("boca versus river derby", k=2)}
    altered = {m.row: m.answer_words for m in index.search("boca vs river derby", k=2)}
    # Each answer scores the reading it fits best, as if that word alone had been typed.
    assert altered == pytest.approx({row: max(against[row], versus[row]) for row in altered})
