"""The Discord-style evaluation sets of issue 28 (examples/discord_dev.json, examples/discord_test.json):
schema, every expected question a question of examples/soccer.json, the minimum counts per kind and
language, and no test question a near-copy of a dev question. Fast: no model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

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
