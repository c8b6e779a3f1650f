"""`qabot import`'s storage side: records become taught pairs, duplicates and blanks skipped, undesirable
answers never taught, and big files in batches that let a running bot write between them."""

from __future__ import annotations

import pytest

from storage import repo
from storage.export import import_records
from storage.models import Change, TaughtPair


def test_import_records_skips_duplicates_and_blanks(store):
    records = [
        {"question": "What is a corner?", "answer": "A restart from the corner arc."},
        {"question": "what is a CORNER", "answer": "a restart from the corner arc"},  # same pair, normalized
        {"question": "What is a corner?", "answer": "A kick from the corner."},  # new answer: added
        {"question": "  ", "answer": "nothing"},
    ]
    with store.begin() as s:
        assert import_records(s, records, admin_id=42) == (2, 2, 0)
    with store.begin() as s:
        assert import_records(s, records[:1]) == (0, 1, 0)
        pairs = s.query(TaughtPair).all()
    assert len(pairs) == 2 and {p.source for p in pairs} == {"import"} and pairs[0].admin_id == "42"


def test_a_big_import_lets_other_writers_in_between_batches_and_can_be_run_again(store, db_url, monkeypatch):
    """A running bot writes while ``qabot import`` runs: between two batches the import holds no lock (a
    450k-record file held SQLite's for 14 s in one transaction and the bots' writes failed). Stopped
    half-way, the same import run again adds only the rest."""
    from storage import importing
    from storage.db import dispose, open_store, transaction

    monkeypatch.setattr(importing, "BATCH", 2)
    other = open_store(db_url, busy_timeout_s=0.05)  # another process: it gives up at once on a lock
    written = []

    class Records(list):
        def __getitem__(self, which):
            if isinstance(which, slice) and which.start:  # the next batch is read: the bot writes now
                with transaction(other) as s:
                    repo.add_taught_pair(s, f"Bot's own {which.start}?", "Yes.", admin_id=1)
                written.append(which.start)
                if which.start >= 4:
                    raise KeyboardInterrupt  # the admin's Ctrl-C, half-way
            return list.__getitem__(self, which)

    records = Records({"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(6))

    def told() -> int:  # "taught" changes: what makes every running bot reload its taught pairs
        with store() as s:
            return s.query(Change).filter_by(kind="taught").count()

    try:
        with pytest.raises(KeyboardInterrupt):
            importing.import_in_batches(store, records, admin_id=42)
        # What it added is announced, stopped or not (the bot's own two teaches announced theirs).
        assert written == [2, 4] and told() == 2 + 1
        assert importing.import_in_batches(store, list(records)) == (2, 4, 0)
        with store() as s:
            assert s.query(TaughtPair).filter_by(source="import").count() == 6
        assert told() == 4
        assert importing.import_in_batches(store, list(records)) == (0, 6, 0) and told() == 5  # as a retry
    finally:
        dispose(other)


def test_import_records_does_not_teach_undesirable_answers(store):
    records = [
        {"question": "What is offside?", "answer": "Being past the last defender.", "label": True},
        {"question": "What is offside?", "answer": "No idea really.", "label": False},
        {"question": "What is a corner?", "answer": "A restart from the corner arc."},
    ]
    with store.begin() as s:
        assert import_records(s, records) == (2, 0, 1)
        taught = {p.answer for p in s.query(TaughtPair).all()}
    assert taught == {"Being past the last defender.", "A restart from the corner arc."}


def test_rows_committed_before_a_failing_batch_are_announced_even_when_it_fails_at_commit(store, monkeypatch):
    """The last batch failing at COMMIT (its note goes with it) left the earlier batches' rows unannounced;
    so did a re-run that only skipped them before failing the same way. Running bots serve what is stored."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from storage import importing
    from storage.db import StoreError

    monkeypatch.setattr(importing, "BATCH", 2)
    records = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(4)]
    commits = []

    def second_commit_fails(session):
        commits.append(1)
        if len(commits) == 2:
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

    def told() -> int:
        with store() as s:
            return s.query(Change).filter_by(kind="taught").count()

    event.listen(Session, "before_commit", second_commit_fails)
    try:
        for run in (1, 2):  # the first adds batch 1, the second only skips it; both fail at batch 2
            commits.clear()
            with pytest.raises(StoreError):
                importing.import_in_batches(store, records)
            assert told() == run
    finally:
        event.remove(Session, "before_commit", second_commit_fails)
    with store() as s:
        assert s.query(TaughtPair).count() == 2
