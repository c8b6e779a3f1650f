"""Near-duplicate cleaning keeps different facts (numbers, names, words), stays linear on templated data,
and the report names the pairs it merged."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from training.data import CleanOptions, clean_records, comparison_key, normalize_text, render_report
from training.data.dedupe import WINDOW, candidate_pairs
from training.data.facts import Vocabulary, fact_difference, question_facts
from training.data.report import MAX_MERGED

FAST = {"token_stats": False, "offensive": False}  # neither is under test here

SEVEN = [
    ("How many goals did Pele score at the 1958 World Cup?", "Pele scored 6 goals at the 1958 World Cup."),
    ("How many goals did Pele score at the 1970 World Cup?", "Pele scored 4 goals at the 1970 World Cup."),
    ("What is the capacity of Stadium 12?", "Stadium 12 holds 40,000 spectators."),
    ("What is the capacity of Stadium 13?", "Stadium 13 holds 45,000 spectators."),
    ("How many goals did Messi score at the 2022 World Cup?", "Messi scored 7 goals at the 2022 World Cup."),
    (
        "How many goals did Mbappe score at the 2022 World Cup?",
        "Mbappe scored 8 goals at the 2022 World Cup.",
    ),
    ("Who won the 2014 World Cup?", "Germany won the 2014 World Cup."),
]
# The same question as the second record, mistyped, with the same numbers: a real near-duplicate.
TYPO_COPY = (
    "How many gaols did Pele score at the 1970 world cup??",
    "Pele scored 4 goals at the 1970 World Cup!",
)


def rec(question: str, answer: str) -> dict[str, str]:
    return {"question": question, "answer": answer}


def differ(a: str, b: str, vocabulary: Vocabulary | None = None) -> str | None:
    facts = [question_facts(normalize_text(q), comparison_key(q)) for q in (a, b)]
    return fact_difference(*facts, *([vocabulary] if vocabulary else []))


def test_seven_facts_are_kept_and_a_mistyped_copy_is_merged():
    result = clean_records([rec(*r) for r in [*SEVEN, TYPO_COPY]], CleanOptions(**FAST))
    assert [r["question"] for r in result.records] == [q for q, _ in SEVEN]
    report = result.report
    assert report.removed["near_duplicate"] == 1
    assert report.merged_pairs == [
        {
            "rule": "near",
            "kept": SEVEN[1][0],
            "dropped": TYPO_COPY[0],
            "similarity": pytest.approx(0.98, abs=0.01),
        }
    ]
    # Pele 1958 / 1970 and Stadium 12 / 13: the same words, other numbers, so kept apart and shown.
    assert report.kept_apart["number"] == 2
    shown = {(e["first"], e["second"]) for e in report.kept_apart_examples if e["differs_in"] == "number"}
    assert shown == {(SEVEN[0][0], SEVEN[1][0]), (SEVEN[2][0], SEVEN[3][0])}


@pytest.mark.parametrize(
    ("a", "b", "difference"),
    [
        ("How many goals did Pele score in 1958?", "How many goals did Pele score in 1970?", "number"),
        ("what is the price of the x100a?", "what is the price of the x100b?", "number"),
        ("How old is Tim Smith?", "How old is Tom Smith?", "name"),
        ("What colour is the red mug?", "What colour is the blue mug?", "word"),
        ("What is a corner kick?", "What is a goal kick?", "word"),
        ("What is teh offside rule?", "What is the offside rule?", None),
        ("How many players does each team have?", "How many players does each teamshave please?", None),
        ("How many goals did Pele score in 1958?", "HOW MANY GOALS DID PELÉ SCORE AT 1958", None),
        ("Who won the World Cup in 2014?", "who won the world cup in 2014", None),
        # Opposites share letters but are no slip; a negation gained or lost is another question.
        ("When did he move to Milan?", "When did he move from Milan?", "word"),
        (
            "Is a goal allowed from an indirect free kick?",
            "Is a goal allowed from a direct free kick?",
            "word",
        ),
        ("Who plays pre-match?", "Who plays post-match?", "word"),
        ("Why can't the keeper pick it up?", "Why can the keeper pick it up?", "word"),
        ("How many players are in five-a-side?", "How many players are in seven-a-side?", "number"),
        ("When did he move to Milan?", "When did he move Milan?", None),  # a function word left out
        ("Why can't the keeper pick it up?", "Why cant the keeper pick it up?", None),
        ("Is the stadium open on Sunday?", "Is the stadium open on Sundays?", None),
        ("What is the player's number?", "What is the players number?", None),
    ],
)
def test_fact_difference(a, b, difference):
    assert differ(a, b) == difference
    assert differ(b, a) == difference


def test_two_common_words_are_never_each_others_typo():
    keys = [comparison_key(f"What does the {item} cost?") for item in ("mug", "rug") for _ in range(30)]
    catalogue = Vocabulary(keys)
    assert differ("What does the mug cost?", "What does the rug cost?") is None  # alone: a slip
    assert differ("What does the mug cost?", "What does the rug cost?", catalogue) == "word"
    assert differ("What does the mug cost?", "What does the mgu cost?", catalogue) is None


def test_singular_and_plural_of_a_common_word_are_one_word():
    keys = [comparison_key(f"Who has the most {w}?") for w in ("team", "teams", "match", "matches") * 30]
    common = Vocabulary(keys)
    assert differ("Which team won?", "Which teams won?", common) is None
    assert differ("Which match won?", "Which matches won?", common) is None
    assert differ("Which match won?", "Which team won?", common) == "word"


# Issue 26: pairs 93-97% alike in question and answer that a reviewer found merged, yet other facts; an
# opposite ("inside" / "outside", "to" / "from"), or answers that say yes / no or other number words.
OPPOSITE_PAIRS = [
    (
        (
            "Can the goalkeeper handle the ball outside the box?",
            "No, the goalkeeper can only handle the ball inside the box.",
        ),
        (
            "Can the goalkeeper handle the ball inside the box?",
            "Yes, the goalkeeper can only handle the ball inside the box.",
        ),
    ),
    (
        ("What is the maximum number of substitutes?", "The maximum is five substitutes per team."),
        ("What is the minimum number of substitutes?", "The minimum is five substitutes per team."),
    ),
    (
        ("Which team won the league with Messi?", "Barcelona won the league with Messi."),
        ("Which team won the league without Messi?", "Barcelona won the league without Messi."),
    ),
    (
        ("When did the player move to Milan?", "He moved to Milan in 2019."),
        ("When did the player move from Milan?", "He moved from Milan in 2019."),
    ),
    (
        ("Who won the men's World Cup in 2014?", "Germany won the World Cup in 2014."),
        ("Who won the women's World Cup in 2014?", "Germany won the World Cup in 2014."),
    ),
    (
        ("How many players are on a team in futsal?", "Each team has five players on the court."),
        ("How many players are on a team in football?", "Each team has eleven players on the court."),
    ),
]


@pytest.mark.parametrize("pair", OPPOSITE_PAIRS, ids=lambda pair: pair[0][0])
def test_opposites_and_other_answers_are_kept_apart(pair):
    result = clean_records([rec(*r) for r in pair], CleanOptions(**FAST))
    assert [r["question"] for r in result.records] == [q for q, _ in pair]
    assert sum(result.report.kept_apart.values()) == 1  # alike enough to be compared, and told apart


def test_a_plural_is_the_same_question():
    pair = [
        rec("Is the stadium open on Sunday?", "Yes, the stadium is open from 10:00."),
        rec("Is the stadium open on Sundays?", "Yes, the stadium is open from 10:00."),
    ]
    result = clean_records(pair, CleanOptions(**FAST))
    assert result.records == pair[:1]
    assert result.report.merged["near"] == 1


def templated(count: int, rng: random.Random) -> list[dict[str, str]]:
    """``count`` distinct catalogue records whose questions differ in a name, a word or a number."""
    brands = ("Acme", "Zenith", "Orion", "Apex", "Nova", "Vertex", "Summit", "Atlas", "Titan", "Polar")
    colours = ("red", "blue", "green", "black", "white", "grey", "yellow", "orange", "purple", "brown")
    items = ("mug", "rug", "chair", "lamp", "desk", "kettle", "bottle", "table", "shelf", "clock")
    products = [f"{b} {c} {i}" for b in brands for c in colours for i in items]
    records = [
        rec(f"How much does the {p} cost?", f"The {p} costs {rng.randint(5, 9)} dollars.")
        for p in rng.sample(products, count // 2)
    ]
    records += [
        rec(f"What is the capacity of Stadium {k}?", f"Stadium {k} holds {rng.randint(5, 9)},000 people.")
        for k in range(1, count - len(records) + 1)
    ]
    return records


def mistype(rng: random.Random, question: str) -> str:
    """``question`` with one letter dropped from one of its longer words (a typo, not a new fact)."""
    words = question.split()
    k = rng.choice([k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()])
    cut = rng.randrange(1, len(words[k]))
    words[k] = words[k][:cut] + words[k][cut + 1 :]
    return " ".join(words)


def test_templated_catalogue_keeps_every_item_and_drops_its_typo_copies():
    rng = random.Random(0)
    records = templated(2000, rng)
    copies = [rec(mistype(rng, r["question"]), r["answer"]) for r in rng.sample(records, 40)]
    result = clean_records(records + copies, CleanOptions(**FAST))
    assert result.records == records
    assert result.report.removed["near_duplicate"] == len(copies)
    assert result.report.kept_apart["number"] + result.report.kept_apart["name"] > 0


def test_one_misspelling_repeated_throughout_a_file_is_still_a_misspelling():
    records = templated(200, random.Random(0))  # 100 stadiums: "capacty" 8 times is a word of the file
    copies = [rec(r["question"].replace("capacity", "capacty"), r["answer"]) for r in records[100:108]]
    result = clean_records(records + copies, CleanOptions(**FAST))
    assert result.records == records


def test_large_lsh_buckets_yield_at_most_window_pairs_per_record():
    sigs = np.zeros((3000, 64), dtype=np.uint32)  # every row in one bucket of every band
    pairs = candidate_pairs(sigs)
    assert len(pairs) <= WINDOW * len(sigs)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    split = candidate_pairs(sigs, blocks=np.arange(3000) % 2)  # two blocks never pair across
    assert (split[:, 0] % 2 == split[:, 1] % 2).all()


def test_report_lists_the_first_merged_pairs_of_each_rule_and_counts_them_all():
    records = [rec(f"What is rule {k}?", f"Rule {k} says so.") for k in range(12)] * 2
    records += [rec("WHAT IS OFFSIDE", "Being ahead."), rec("What is offside?", "Being ahead.")]
    report = clean_records(records, CleanOptions(**FAST)).report
    assert report.merged == {"exact": 12, "normalized": 1, "near": 0}
    assert [p["rule"] for p in report.merged_pairs] == ["exact"] * MAX_MERGED + ["normalized"]
    assert report.merged_pairs[0] == {
        "rule": "exact",
        "kept": "What is rule 0?",
        "dropped": "What is rule 0?",
        "similarity": 1.0,
    }
    data = report.to_dict()
    assert data["merged"] == report.merged and len(data["merged_pairs"]) == MAX_MERGED + 1
    console = Console(record=True, width=200)
    render_report(report, console)
    text = console.export_text()
    assert "Merged pairs (exact 12, normalized 1)" in text and "and 4 more" in text


def test_clean_cli_keeps_the_seven_facts_and_reports_the_merged_pair(tmp_path):
    source, output = tmp_path / "facts.json", tmp_path / "out.json"
    source.write_text(json.dumps([rec(*r) for r in [*SEVEN, TYPO_COPY]]))
    result = CliRunner().invoke(
        app, ["data", "clean", str(source), "-o", str(output), "--json", "--no-offensive"]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(output.read_text())) == 7
    data = json.loads(result.stdout)
    assert data["merged_pairs"][0]["dropped"] == TYPO_COPY[0] and data["merged_pairs"][0]["rule"] == "near"
    assert data["kept_apart"]["number"] == 2
