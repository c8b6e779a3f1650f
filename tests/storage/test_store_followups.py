"""Follow-ups in the store (revision 0009): "and 2018?" read after "who won the world cup in 2014" is logged
as that reading, with its words in ``followup_words``. Answered, it stands for the known question it
matched: corrections answer that question, exports write it under that question; it never teaches a
wording. On SQLite and PostgreSQL; the migration up, down and up again keeps every other row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import sessionmaker

from storage import repo, votes
from storage.db import engine_of, make_engine
from storage.export import FORMATS, ExportFilters, export_dataset
from storage.models import Correction, Exchange
from storage.text import question_key
from tests.storage.seed import log_one
from tests.storage.test_store_migrations import _count, _exchange_columns, _migrate

BEFORE = "who won the world cup in 2014"
KNOWN_2014, KNOWN_2018 = "Who won the World Cup in 2014?", "Who won the World Cup in 2018?"
READ = f"{BEFORE} and 2018?"  # how the follow-up was read, and logged


def _followup(session, zone: str = "answer", answer: str = "France.", **kw) -> Exchange:
    """The follow-up "and 2018?" after BEFORE, as ``bot.async_store.log_exchange`` logs it."""
    return log_one(
        session, READ, answer=answer, zone=zone, matched_question=KNOWN_2018, followup_words="and 2018?", **kw
    )


def _conversation(store) -> dict[str, int]:
    """BEFORE answered, then its follow-up answered, then "what about 2018" offered "did you mean" after it,
    and the known question the asker picked, answered (``cogs/ask.py``'s path, in the store)."""
    with store.begin() as s:
        ids = {
            "before": log_one(s, BEFORE, answer="Germany.", zone="answer", matched_question=KNOWN_2014).id,
            "followup": _followup(s).id,
            "offered": _followup(s, zone="suggest", answer="Did you mean…").id,
            "picked": log_one(s, KNOWN_2018, answer="France.", zone="answer", matched_question=KNOWN_2018).id,
        }
    return ids


def test_a_follow_up_keeps_its_words_and_stands_for_the_known_question_it_was_answered_with(store):
    with store.begin() as s:
        answered, offered = _followup(s), _followup(s, zone="suggest")
        alone = log_one(s, KNOWN_2018, zone="answer", matched_question=KNOWN_2018)
        assert (answered.question, answered.followup_words) == (READ, "and 2018?")
        assert answered.question_key == question_key(READ)  # the key of what the row holds, as ever
        assert answered.followup_key == question_key(KNOWN_2018)
        assert (offered.followup_words, offered.followup_key) == ("and 2018?", None)
        assert (alone.followup_words, alone.followup_key) == (None, None)
        assert [repo.corrected_question(r) for r in (answered, offered, alone)] == [
            KNOWN_2018,
            None,
            KNOWN_2018,
        ]


def test_a_follow_ups_choice_is_no_wording_to_learn(store):
    with store.begin() as s:
        offered = _followup(s, zone="suggest")
        plain = log_one(s, "what about 2018", zone="suggest", matched_question=KNOWN_2018)
        assert repo.record_choice(s, offered.id, KNOWN_2018, by_admin=True) is False
        assert repo.record_choice(s, plain.id, KNOWN_2018) is True  # a question read alone still teaches
    with store() as s:
        assert [(w["wording"], w["question"]) for w in repo.learned_wordings(s)] == [
            ("what about 2018", KNOWN_2018)
        ]


def test_a_correction_of_an_answered_follow_up_answers_its_known_question(store):
    with store.begin() as s:
        answered = _followup(s)
        repo.add_correction(s, answered.id, "France, 4-2 against Croatia.", "admin")
    with store() as s:
        pairs = repo.live_pairs(s)
    assert [(p["question"], p["answer"], p["origin"]) for p in pairs] == [
        (KNOWN_2018, "France, 4-2 against Croatia.", "correction")
    ]  # not READ: taught as read, it would take BEFORE's askers


def test_a_follow_up_offered_did_you_mean_has_nothing_to_correct(store):
    with store.begin() as s:
        offered_id = _followup(s, zone="suggest").id
    with pytest.raises(repo.NothingToCorrect) as refused, store.begin() as s:
        repo.add_correction(s, offered_id, "France.", "admin")
    assert refused.value.words == "and 2018?"
    assert _count(engine_of(store), "corrections") == 0
    with store() as s:
        assert repo.live_pairs(s) == []


def _export(store, tmp_path: Path, fmt: str, **filters) -> list:
    out = tmp_path / f"out.{fmt}"
    export_dataset(store, fmt, out, ExportFilters(**filters))
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        return json.loads(text)
    if fmt == "csv":
        return list(csv.DictReader(text.splitlines()))
    return [json.loads(line) for line in text.splitlines()]


def _questions(fmt: str, rows: list) -> list[str]:
    if fmt in ("json", "jsonl", "csv"):
        return [r["question"] for r in rows]
    if fmt == "sft":
        return [r["messages"][0]["content"] for r in rows]
    return [r["prompt"][0]["content"] for r in rows]


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_write_an_answered_follow_up_as_its_known_question(store, tmp_path, fmt):
    ids = _conversation(store)
    with store.begin() as s:
        votes.set_vote(s, ids["followup"], "u1", 1)  # kto: a rated answer
        repo.add_correction(s, ids["followup"], "France, 4-2 against Croatia.", "admin")  # dpo: a correction
    rows = _export(store, tmp_path, fmt)
    questions = _questions(fmt, rows)
    assert READ not in questions and "and 2018?" not in questions
    assert KNOWN_2018 in questions
    if fmt in ("json", "jsonl", "csv", "sft"):  # one row per question: the follow-up's correction wins
        assert sorted(questions) == sorted([BEFORE, KNOWN_2018])
        answers = {q: r for q, r in zip(questions, rows, strict=True)}
        answer = answers[KNOWN_2018]
        text = answer["messages"][1]["content"] if fmt == "sft" else answer["answer"]
        assert text == "France, 4-2 against Croatia."
    if fmt == "dpo":
        assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
            ("France, 4-2 against Croatia.", "France.")
        ]


def test_a_follow_up_with_no_known_question_is_left_out_of_exports(store, tmp_path):
    """A "not sure" follow-up, and a corrected "did you mean" one (stored before corrections refused them):
    neither its words nor its reading is a question anyone asked. A "not sure" question read alone stays
    (with the unanswered exchanges asked for)."""
    with store.begin() as s:
        log_one(s, READ, answer="Not sure.", unanswered=True, zone="fallback", followup_words="and 2018?")
        offered = _followup(s, zone="suggest")
        s.add(Correction(exchange_id=offered.id, answer="France.", admin_id="a1"))
        log_one(s, "what is a rabona", answer="Not sure.", unanswered=True, zone="fallback")
    for fmt in FORMATS:
        questions = _questions(fmt, _export(store, tmp_path, fmt, exclude_unanswered=False))
        assert READ not in questions
        if fmt in ("json", "jsonl", "csv", "sft"):
            assert questions == ["what is a rabona"]


def test_0009_up_down_up_keeps_every_other_row(db_url):
    """0009 adds the follow-up columns and the digest claims, and drops them again without losing an
    exchange, vote or correction (on SQLite a table rebuild would cascade-delete both)."""
    from storage.digests import claim_digest

    engine = make_engine(db_url)
    try:
        _migrate(engine, "upgrade", "head")
        factory = sessionmaker(engine, expire_on_commit=False)
        with factory.begin() as s:
            row = _followup(s)
            votes.set_vote(s, row.id, "u1", 1)
            repo.add_correction(s, row.id, "France.", "admin")
            assert claim_digest(s, "2026-W49")
        counts = {t: _count(engine, t) for t in ("exchanges", "feedback", "corrections")}
        assert counts == {"exchanges": 1, "feedback": 1, "corrections": 1}

        _migrate(engine, "downgrade", "0008")
        assert not {"followup_words", "followup_key"} & _exchange_columns(engine)
        assert "digest_posts" not in inspect(engine).get_table_names()
        assert {t: _count(engine, t) for t in counts} == counts

        _migrate(engine, "upgrade", "head")
        with factory.begin() as s:
            old = s.get(Exchange, row.id)
            assert (old.question, old.followup_words, old.followup_key) == (READ, None, None)  # dropped
            assert claim_digest(s, "2026-W49")  # the claims went with their table
            assert _followup(s).followup_key == question_key(KNOWN_2018)
    finally:
        engine.dispose()
