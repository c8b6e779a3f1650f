"""The Discord-style evaluation sets of issue 28 (examples/discord_dev.json, examples/discord_test.json):
schema, every expected question a question of examples/soccer.json, the minimum counts per kind and
language, and no test question a near-copy of a dev question; the same for the on-topic questions the
dataset cannot answer (examples/discord_unknown_dev.json, _test.json), and how bench/quality.py counts
them. Fast: no model."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from rapidfuzz import fuzz, process, utils

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"slang", "abbreviation", "framing", "context", "typo", "other-language", "off-topic"}
LANGS = {"en", "pt", "es", "fr"}
# (answerable English, answerable in other languages, off-topic, each other language at least)
MINIMUMS = {"discord_dev": (150, 50, 40, 15), "discord_test": (100, 30, 30, 10)}
NEAR_DUPLICATE = 85  # rapidfuzz ratio (lower case, punctuation dropped) a test question stays below


def load(name: str) -> list[dict]:
    data = json.loads((ROOT / "examples" / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data["about"], str) and data["about"]
    return data["questions"]


@pytest.fixture(scope="module")
def known() -> set[str]:
    records = json.loads((ROOT / "examples" / "soccer.json").read_text(encoding="utf-8"))
    return {r["question"] for r in records}


@pytest.mark.parametrize("name", sorted(MINIMUMS))
def test_schema_and_expected_questions(name: str, known: set[str]) -> None:
    items = load(name)
    for q in items:
        assert set(q) == {"question", "expected", "kind", "lang"}, q
        assert isinstance(q["question"], str) and q["question"].strip() == q["question"] != "", q
        assert q["kind"] in KINDS and q["lang"] in LANGS, q
        assert isinstance(q["expected"], list) and len(set(q["expected"])) == len(q["expected"]), q
        assert all(e in known for e in q["expected"]), q  # exactly a question of soccer.json
        assert (q["kind"] == "off-topic") == (q["expected"] == []), q
        if q["kind"] != "off-topic":
            assert (q["kind"] == "other-language") == (q["lang"] != "en"), q
        assert q["question"] not in known, q  # typed in people's words, not the dataset's
    questions = [q["question"].lower() for q in items]
    assert len(set(questions)) == len(questions), [q for q, n in Counter(questions).items() if n > 1]


@pytest.mark.parametrize("name", sorted(MINIMUMS))
def test_counts(name: str) -> None:
    items = load(name)
    english, other, off_topic, per_language = MINIMUMS[name]
    assert sum(q["lang"] == "en" and q["expected"] != [] for q in items) >= english
    assert sum(q["lang"] != "en" and q["expected"] != [] for q in items) >= other
    assert sum(q["expected"] == [] for q in items) >= off_topic
    langs = Counter(q["lang"] for q in items if q["kind"] == "other-language")
    assert all(langs[lang] >= per_language for lang in ("pt", "es", "fr")), langs
    kinds = Counter(q["kind"] for q in items)
    assert all(kinds[k] >= 10 for k in KINDS), kinds
    assert len({e for q in items for e in q["expected"]}) >= english // 2  # spread over the dataset


def test_no_test_question_near_a_dev_question() -> None:
    dev = [q["question"] for q in load("discord_dev")]
    test = [q["question"] for q in load("discord_test")]
    scores = process.cdist(test, dev, scorer=fuzz.ratio, processor=utils.default_process)
    near = [(test[i], dev[j]) for i, j in zip(*(scores >= NEAR_DUPLICATE).nonzero(), strict=True)]
    assert near == []


UNKNOWN_MINIMUMS = {"discord_unknown_dev": 90, "discord_unknown_test": 60}


@pytest.mark.parametrize("name", sorted(UNKNOWN_MINIMUMS))
def test_unknown_sets_schema_and_counts(name: str, known: set[str]) -> None:
    items = load(name)
    assert len(items) >= UNKNOWN_MINIMUMS[name]
    for q in items:
        assert set(q) == {"question", "expected", "kind", "lang"}, q
        assert isinstance(q["question"], str) and q["question"].strip() == q["question"] != "", q
        assert (q["expected"], q["kind"]) == ([], "unknown") and q["lang"] in LANGS, q
        assert q["question"] not in known, q
    langs = Counter(q["lang"] for q in items)
    assert sum(n for lang, n in langs.items() if lang != "en") >= len(items) // 10, langs
    questions = [q["question"].lower() for q in items]
    assert len(set(questions)) == len(questions), [q for q, n in Counter(questions).items() if n > 1]


def test_no_unknown_question_in_two_sets() -> None:
    """Not a fuzzy check as for the answerable sets: near misses share a template by design ("how many
    goals did messi score for psg" in the test set, "... for barca" in the dev set), only the fact differs."""
    names = ("discord_dev", "discord_test", "discord_unknown_dev", "discord_unknown_test")
    seen = Counter(utils.default_process(q["question"]) for name in names for q in load(name))
    assert [q for q, n in seen.items() if n > 1] == []


def test_quality_counts_an_answered_unknown_question_apart_from_off_topic_chat() -> None:
    """An answered on-topic question the dataset cannot answer lowers "unknown", not "off-topic"."""
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    items = [
        {"question": "hi all", "expected": [], "kind": "off-topic", "lang": "en"},
        {"question": "who won euro 2000", "expected": [], "kind": "unknown", "lang": "en"},
        {"question": "quem ganhou a euro 2000", "expected": [], "kind": "unknown", "lang": "pt"},
    ]
    answers = [
        SimpleNamespace(zone="fallback", answered_by=""),
        SimpleNamespace(zone="answer", answered_by="model"),  # "Spain won Euro 2024": wrong
        SimpleNamespace(zone="suggest", answered_by=""),
    ]
    report = quality.discord_report(items, answers, {}, lambda a, b: 0.0)
    assert report["off_topic"] == {"n": 1, "not_answered": 1.0, "not_sure": 1.0, "suggested": 0.0}
    assert (report["unknown"]["n"], report["unknown"]["not_answered"]) == (2, 0.5)
    assert report["by_lang"]["en"]["unknown"]["not_answered"] == 0.0
    assert report["target_met"]["unknown_not_answered"] is False
    assert report["target_met"]["off_topic_not_answered"] is True
