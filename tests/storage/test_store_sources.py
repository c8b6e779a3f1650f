"""What revision 0002 serves: how each answer was found (matched question, score, zone), the pairs to answer
at once without a retrain, net votes per matched question, and escalating an exchange exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from storage import repo, votes
from storage.db import engine_of
from storage.models import Exchange
from tests.storage.seed import log_one

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_log_exchange_stores_how_the_answer_was_found(store):
    with store.begin() as s:
        found = log_one(s, matched_question="When is a player offside?", match_score=0.83, zone="answer").id
        plain = log_one(s).id
        empty = log_one(s, matched_question="", zone="fallback").id
    with store.begin() as s:
        row = s.get(Exchange, found)
        assert (row.matched_question, row.zone) == ("When is a player offside?", "answer")
        assert row.match_score == pytest.approx(0.83)
        row = s.get(Exchange, plain)
        assert (row.matched_question, row.match_score, row.zone, row.escalated_at) == (None,) * 4
        assert (s.get(Exchange, empty).matched_question, s.get(Exchange, empty).zone) == (None, "fallback")


@pytest.mark.parametrize("zone", ["maybe", "", "ANSWER"])
def test_log_exchange_rejects_an_unknown_zone(store, zone):
    with store.begin() as s, pytest.raises(ValueError, match="zone must be one of"):
        log_one(s, zone=zone)


def test_exchange_by_id(store):
    with store.begin() as s:
        exchange_id = log_one(s, question="Who won?", channel_id=7).id
    with store.begin() as s:
        row = repo.exchange_by_id(s, exchange_id)
        assert (row.question, row.channel_id) == ("Who won?", "7")
        assert repo.exchange_by_id(s, exchange_id + 1) is None


def test_mark_escalated_sets_the_time_once(store):
    with store.begin() as s:
        exchange_id = log_one(s, unanswered=True).id
    before = datetime.now(UTC)
    with store.begin() as s:
        assert repo.mark_escalated(s, exchange_id) is True
    with store.begin() as s:
        first = repo.exchange_by_id(s, exchange_id).escalated_at
        assert first.tzinfo is not None and before - timedelta(seconds=1) <= first <= datetime.now(UTC)
        assert repo.mark_escalated(s, exchange_id, at=T0) is False
        assert repo.mark_escalated(s, exchange_id + 1) is False  # no such exchange
    with store.begin() as s:
        assert repo.exchange_by_id(s, exchange_id).escalated_at == first  # the second call changed nothing


def test_concurrent_escalations_of_one_exchange_have_exactly_one_winner(store):
    with store.begin() as s:
        exchange_id = log_one(s, unanswered=True).id
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            with store.begin() as s:
                results.append(repo.mark_escalated(s, exchange_id))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert sorted(results) == [False] * (workers - 1) + [True]


def test_change_vote_returns_the_change_in_net_votes(store):
    with store.begin() as s:
        exchange_id = log_one(s).id
    steps = [
        (1, None, 1),  # first vote: +1
        (1, None, 0),  # same vote again: nothing changes
        (-1, None, -2),  # switched
        (None, 1, 0),  # taking back a 👍 that is no longer there keeps the 👎
        (None, -1, 1),  # taking back the 👎
        (None, None, 0),  # nothing left to remove
        (-1, None, -1),
        (None, None, 1),  # removal without only_if
    ]
    for vote, only_if, delta in steps:
        with store.begin() as s:
            assert votes.change_vote(s, exchange_id, "u1", vote, only_if=only_if) == delta, (vote, only_if)
    with store.begin() as s:
        assert votes.vote_of(s, exchange_id, "u1") is None
        with pytest.raises(ValueError):
            votes.change_vote(s, exchange_id, "u1", 2)


def test_vote_totals_count_one_vote_per_user_per_known_question_in_one_query(store):
    with store.begin() as s:
        a1 = log_one(s, matched_question="A?").id
        a2 = log_one(s, question="a reworded", matched_question="A?").id
        b = log_one(s, matched_question="B?").id
        unmatched = log_one(s).id
        log_one(s, matched_question="C?")  # matched, never voted on: absent
        for exchange_id, user, vote in [
            (a1, "u1", 1),
            (a1, "u2", 1),
            (a2, "u1", -1),
            (a2, "u3", 1),
            (b, "u1", -1),
            (b, "u2", -1),
            (unmatched, "u1", 1),
        ]:
            votes.set_vote(s, exchange_id, user, vote)
    statements: list[str] = []
    engine = engine_of(store)

    def count(_conn, _cursor, statement, *_):
        statements.append(statement)

    with store.begin() as s:
        s.execute(select(Exchange.id).limit(1))  # the transaction's BEGIN is not the aggregate
        event.listen(engine, "before_cursor_execute", count)
        try:
            totals = votes.vote_totals(s)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    # u1 voted on A? twice (asking it in two wordings): their latest vote, -1, is the one that counts.
    assert totals == {"A?": 1, "B?": -2}
    assert len(statements) == 1


def test_vote_totals_on_an_empty_store(store):
    with store.begin() as s:
        assert votes.vote_totals(s) == {}


def test_live_pairs_are_active_taught_pairs_and_latest_corrections_oldest_first(store):
    with store.begin() as s:
        repo.add_taught_pair(s, "Taught first?", "T1.", created_at=T0)
        off = repo.add_taught_pair(s, "Retired?", "Old.", created_at=T0 + timedelta(hours=1))
        off.active = False
        corrected = log_one(s, question="Who won in 2014?", answer="Brazil.", created_at=T0)
        repo.add_correction(s, corrected.id, "Germany?", "admin", created_at=T0 + timedelta(hours=2))
        repo.add_correction(s, corrected.id, "Germany.", "admin", created_at=T0 + timedelta(hours=4))
        log_one(s, question="Never corrected?", created_at=T0)
        repo.add_taught_pair(s, "Taught later?", "T2.", created_at=T0 + timedelta(hours=3))
        other = log_one(s, question="Offside?", answer="Wrong.", created_at=T0)
        repo.add_correction(s, other.id, "Right.", "admin", created_at=T0 + timedelta(hours=1, minutes=30))
    with store.begin() as s:
        pairs = repo.live_pairs(s)
        assert [(p["question"], p["answer"], p["origin"]) for p in pairs] == [
            ("Taught first?", "T1.", "taught"),
            ("Offside?", "Right.", "correction"),
            ("Taught later?", "T2.", "taught"),
            ("Who won in 2014?", "Germany.", "correction"),  # the latest correction, at its own time
        ]
        assert [p["created_at"] for p in pairs] == [T0 + timedelta(hours=h) for h in (0, 1.5, 3, 4)]
        assert set(pairs[0]) == {"question", "answer", "origin", "created_at"}
        recent = repo.live_pairs(s, since=T0 + timedelta(hours=3, minutes=30))
        assert [p["answer"] for p in recent] == ["Germany."]


def test_a_newer_correction_of_a_taught_question_comes_after_it(store):
    """Later ones win: a correction made after a taught pair on the same question is listed after it."""
    with store.begin() as s:
        exchange_id = log_one(s, question="Who won?", created_at=T0).id
        repo.add_taught_pair(s, "Who won?", "Taught.", created_at=T0 + timedelta(minutes=1))
        repo.add_correction(s, exchange_id, "Corrected.", "admin", created_at=T0 + timedelta(minutes=2))
    with store.begin() as s:
        assert [p["answer"] for p in repo.live_pairs(s)] == ["Taught.", "Corrected."]


def test_live_pairs_on_an_empty_store(store):
    with store.begin() as s:
        assert repo.live_pairs(s) == []


def test_a_choice_is_recorded_on_did_you_mean_exchanges_only_and_read_back_oldest_first(store):
    with store.begin() as s:
        first = log_one(s, question="how long", zone="suggest", created_at=T0).id
        answered = log_one(s, question="What is offside?", zone="answer").id
        second = log_one(s, question="hat trick", zone="suggest", created_at=T0 + timedelta(minutes=1)).id
        log_one(s, question="offered, not chosen", zone="suggest")
    with store.begin() as s:
        assert repo.record_choice(s, second, "What is a hat trick?") is True
        assert repo.record_choice(s, first, "How long is a match?") is True
        assert repo.record_choice(s, answered, "What is offside?") is False  # no suggestions were offered
        assert repo.record_choice(s, second + 10, "What is a hat trick?") is False  # no such exchange
        with pytest.raises(ValueError, match="question"):
            repo.record_choice(s, first, "  ")
    with store.begin() as s:
        assert [(w["wording"], w["question"]) for w in repo.learned_wordings(s)] == [
            ("how long", "How long is a match?"),
            ("hat trick", "What is a hat trick?"),
        ]
