"""The change log (``storage.changes``): every write that changes what the bot knows logs one change in its
own transaction, a ``ChangeFeed`` returns each committed change once (a late commit too), and old rows are
pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from storage import changes, repo, synonyms, votes
from storage.changes import ChangeFeed, note, prune
from storage.db import engine_of
from storage.importing import import_records
from storage.models import Change, utc_now


def kinds(store) -> list[str]:
    with store() as session:
        return list(session.scalars(select(Change.kind).order_by(Change.id)))


def exchange(session, zone: str = "suggest") -> int:
    row = repo.log_exchange(
        session, question="how long?", answer="...", model_version="v1", confidence=0.5, unanswered=False,
        latency_ms=1.0, source="discord", matched_question="How long is a match?", zone=zone,
    )  # fmt: skip
    return row.id


def test_every_write_that_changes_what_the_bot_knows_logs_one_change(store):
    with store.begin() as s:
        suggest, answer = exchange(s), exchange(s, "answer")
    assert kinds(store) == []  # logging an exchange changes nothing the bot knows
    with store.begin() as s:
        repo.add_taught_pair(s, "What is VAR?", "The video assistant referee.")
        repo.add_correction(s, answer, "Ninety minutes.", "admin")
        assert repo.record_choice(s, suggest, "How long is a match?")
        assert not repo.record_choice(s, answer, "How long is a match?")  # nothing recorded: no change
        repo.forget_wording(s, "how long?", "How long is a match?")
        repo.forget_wording(s, "how long?", "How long is a match?")  # nothing left to forget
        votes.change_vote(s, answer, "u1", 1)
        votes.change_vote(s, answer, "u1", None)
        votes.change_vote(s, answer, "u1", None)  # no vote to take back
        import_records(s, [{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": "A2."}])
        import_records(s, [{"question": "Q1?", "answer": "A1."}])  # all duplicates: nothing added
    assert kinds(store) == ["taught", "correction", "wording", "wording", "vote", "vote", "taught"]


def test_synonyms_are_replaced_by_word_removed_and_logged(store):
    with store.begin() as s:
        synonyms.set_synonym(s, "goalie", ["goalkeeper"], admin_id=7)
        synonyms.set_synonym(s, "the box", ["penalty area", "penalty area", " 18-yard  box "])
        synonyms.set_synonym(s, " GOALIE ", ["goalkeeper", "keeper"])  # the same word: replaced
        synonyms.set_synonym(s, "ref", [])  # "ref" has no alterations here, not even learned ones
        assert synonyms.remove_synonym(s, "The Box") is True
        assert synonyms.remove_synonym(s, "the box") is False  # nothing left: no change
    with store() as s:
        got = [(x["word"], x["means"], x["admin_id"]) for x in synonyms.synonyms(s)]
    assert got == [("GOALIE", ["goalkeeper", "keeper"], None), ("ref", [], None)]
    assert kinds(store) == ["synonym"] * 5
    with pytest.raises(ValueError, match="word"), store.begin() as s:
        synonyms.set_synonym(s, "  ", ["x"])
    with pytest.raises(ValueError, match="limit"), store.begin() as s:
        synonyms.set_synonym(s, "x", ["y" * 101])


def test_a_change_rolled_back_logs_nothing(store):
    with pytest.raises(RuntimeError), store.begin() as s:
        repo.add_taught_pair(s, "What is VAR?", "The video assistant referee.")
        raise RuntimeError("the write failed")
    assert kinds(store) == []


def test_note_refuses_an_unknown_kind(store):
    with pytest.raises(ValueError, match="kind"), store.begin() as s:
        note(s, "weather")


def test_a_feed_returns_each_change_committed_since_it_was_marked_once(store):
    with store.begin() as s:
        note(s, "taught")
    feed = ChangeFeed(store)
    feed.mark()
    assert feed.read() == []  # what was there before the mark is not new
    with store.begin() as s:
        note(s, "vote")
        note(s, "model", model_path="/models/run-2", model_version="run-2")
    new = feed.read()
    assert [(c.kind, c.model_path, c.model_version) for c in new] == [
        ("vote", None, None),
        ("model", "/models/run-2", "run-2"),
    ]
    assert feed.read() == []


def test_a_change_that_commits_after_a_newer_id_is_still_read(store):
    """PostgreSQL hands out ids at insert, not at commit: id 10 may commit after id 11 was read."""
    feed = ChangeFeed(store)
    feed.mark()
    with store.begin() as s:
        s.add(Change(id=11, kind="vote", created_at=utc_now()))
    assert [c.id for c in feed.read()] == [11]
    with store.begin() as s:  # the slower transaction
        s.add(Change(id=10, kind="taught", created_at=utc_now()))
    assert [(c.id, c.kind) for c in feed.read()] == [(10, "taught")]
    assert feed.read() == []


@pytest.mark.postgres
def test_concurrent_transactions_on_postgresql_are_each_read(postgres_server):
    """Two real PostgreSQL transactions: the first to take an id commits last; the feed still sees it."""
    from storage.db import dispose, open_store

    store = open_store(postgres_server.database())
    try:
        feed = ChangeFeed(store)
        feed.mark()
        slow = store()
        slow.begin()
        first = note(slow, "taught")  # takes its id now, commits later
        with store.begin() as s:
            second = note(s, "vote")
        assert second > first
        assert [c.id for c in feed.read()] == [second]
        slow.commit()
        slow.close()
        assert [c.id for c in feed.read()] == [first]
    finally:
        dispose(store)


def test_old_changes_are_pruned_but_never_the_newest(store):
    with store.begin() as s:
        ids = [note(s, "vote") for _ in range(3)]
        s.execute(update(Change).values(created_at=utc_now() - timedelta(days=2)))
    with store.begin() as s:
        assert prune(s) == 2  # the newest stays, however old: ids must never go back
    with store.begin() as s:
        assert list(s.scalars(select(Change.id))) == [ids[-1]]
        assert note(s, "vote") == ids[-1] + 1


def test_note_prunes_now_and_then(store, monkeypatch):
    monkeypatch.setattr(changes, "PRUNE_EVERY", 5)
    with store.begin() as s:
        for _ in range(4):
            note(s, "vote")
        s.execute(update(Change).values(created_at=utc_now() - timedelta(days=2)))
        note(s, "vote")  # id 5: prunes the four old ones
    with engine_of(store).connect() as conn:
        assert conn.execute(select(func.count()).select_from(Change)).scalar_one() == 1
