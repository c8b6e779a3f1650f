"""Repository functions: logging, votes (unique per user, changeable, removable), corrections, queue, runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storage import repo, runs, votes
from storage.models import Exchange, Feedback
from storage.text import question_key
from tests.storage.seed import log_one


def _votes(session, exchange_id):
    return session.scalars(select(Feedback).where(Feedback.exchange_id == exchange_id)).all()


def test_log_exchange_stores_every_field_with_snowflakes_as_strings(store):
    with store.begin() as s:
        row = log_one(
            s,
            guild_id=1,
            channel_id=2,
            message_id=3,
            user_id=4,
            reply_message_id=987654321098765432,
        )
        exchange_id = row.id
    with store.begin() as s:
        row = s.get(Exchange, exchange_id)
        assert (row.guild_id, row.channel_id, row.message_id, row.user_id) == ("1", "2", "3", "4")
        assert row.reply_message_id == "987654321098765432"
        assert row.created_at.tzinfo is not None
        assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=1)
        assert repo.exchange_by_reply(s, 987654321098765432).id == exchange_id
        assert repo.exchange_by_reply(s, "1") is None


def test_log_exchange_rejects_empty_question_and_unknown_source(store):
    with store.begin() as s:
        with pytest.raises(ValueError):
            log_one(s, question="  ")
        with pytest.raises(ValueError):
            log_one(s, source="irc")


def test_one_vote_per_user_changeable_and_removable(store):
    with store.begin() as s:
        exchange_id = log_one(s).id
        votes.set_vote(s, exchange_id, "u1", 1)
        votes.set_vote(s, exchange_id, "u1", 1)
        votes.set_vote(s, exchange_id, "u2", 1)
    with store.begin() as s:
        assert sorted((v.user_id, v.vote) for v in _votes(s, exchange_id)) == [("u1", 1), ("u2", 1)]
        votes.set_vote(s, exchange_id, "u1", -1)  # changed
    with store.begin() as s:
        assert sorted((v.user_id, v.vote) for v in _votes(s, exchange_id)) == [("u1", -1), ("u2", 1)]
        assert votes.remove_vote(s, exchange_id, "u2") is True
        assert votes.remove_vote(s, exchange_id, "u2") is False
    with store.begin() as s:
        assert [(v.user_id, v.vote) for v in _votes(s, exchange_id)] == [("u1", -1)]


def test_vote_values_are_checked(store):
    with store.begin() as s:
        exchange_id = log_one(s).id
        with pytest.raises(ValueError):
            votes.set_vote(s, exchange_id, "u1", 0)


def test_database_enforces_one_vote_per_user(store):
    with pytest.raises(IntegrityError), store.begin() as s:
        exchange_id = log_one(s).id
        s.add_all([Feedback(exchange_id=exchange_id, user_id="u", vote=1) for _ in range(2)])
        s.flush()


def test_vote_on_missing_exchange_violates_foreign_key(store):
    with pytest.raises(IntegrityError), store.begin() as s:
        votes.set_vote(s, 12345, "u1", 1)


def test_unanswered_queue_is_oldest_first_without_corrected_or_taught(store):
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with store.begin() as s:
        ids = [
            log_one(s, question=f"Question {i}?", unanswered=True, created_at=t0 + timedelta(hours=10 - i)).id
            for i in range(4)
        ]
        log_one(s, question="Answered?", unanswered=False)
        repo.add_correction(s, ids[1], "Fixed.", "admin")
        repo.add_taught_pair(s, "question 2", "Taught.", "admin")  # same normalized question as ids[2]
    with store.begin() as s:
        assert [e.id for e in repo.unanswered_queue(s)] == [ids[3], ids[0]]
        assert [e.id for e in repo.unanswered_queue(s, limit=1)] == [ids[3]]


def test_correction_needs_an_existing_exchange(store):
    with store.begin() as s, pytest.raises(LookupError):
        repo.add_correction(s, 999, "x", "admin")


def test_training_run_lifecycle(store):
    with store.begin() as s:
        run_id = runs.start_training_run(s, triggered_by=42, dataset_sha256="ab" * 32, counts={"train": 9}).id
    with store.begin() as s:
        assert runs.latest_training_run(s).status == "running"
        runs.finish_training_run(
            s, run_id, status="succeeded", metrics={"f1": 0.5}, model_path="models/x", counts={"train": 10}
        )
    with store.begin() as s:
        run = runs.latest_training_run(s)
        assert (run.status, run.metrics, run.counts, run.triggered_by) == (
            "succeeded",
            {"f1": 0.5},
            {"train": 10},
            "42",
        )
        assert run.finished_at >= run.started_at
        with pytest.raises(ValueError):
            runs.finish_training_run(s, run_id, status="exploded")


def test_get_stats_counts_days_top_questions_and_votes(store):
    now = datetime(2024, 5, 10, 15, tzinfo=UTC)
    with store.begin() as s:
        for days_ago, question in [
            (0, "What is offside?"),
            (0, "what is offside"),
            (1, "Who won?"),
            (30, "Old?"),
        ]:
            log_one(s, question=question, created_at=now - timedelta(days=days_ago))
        gone = log_one(s, question="No idea?", unanswered=True, created_at=now)
        votes.set_vote(s, gone.id, "u1", -1)
        votes.set_vote(s, gone.id, "u2", 1)
        votes.set_vote(s, gone.id, "u3", 1)
    with store.begin() as s:
        stats = repo.get_stats(s, days=3, now=now)
        total = s.scalar(select(func.count()).select_from(Exchange))
    assert stats["total"] == total == 5
    assert stats["per_day"] == [("2024-05-08", 0), ("2024-05-09", 1), ("2024-05-10", 3)]
    assert stats["top_questions"][0] == ("What is offside?", 2)
    assert (stats["unanswered"], stats["unanswered_pending"]) == (1, 1)
    assert (stats["upvotes"], stats["downvotes"]) == (2, 1)
    assert stats["vote_ratio"] == pytest.approx(2 / 3)


def test_get_stats_on_empty_store(store):
    with store.begin() as s:
        stats = repo.get_stats(s, days=1)
    assert stats["total"] == 0 and stats["vote_ratio"] is None and len(stats["per_day"]) == 1


TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde" + ".abcdefghijklmnopqrstuvwxyz1234"  # a Discord bot token's shape


def test_a_secret_in_a_question_never_reaches_the_store(store):
    """What a careful user expects: a pasted token is masked before the row is written (the database and
    its backups never hold it), and the row's key is the masked question's, whatever spelling finds it."""
    asked = f"help my bot wont start, token is {TOKEN}"
    with store.begin() as s:
        exchange_id = log_one(s, question=asked, unanswered=True, zone="fallback").id
        assert repo.record_choice(s, exchange_id, "How do I start my bot?")
        followup = log_one(s, question=f"what is offside? and {TOKEN}", followup_words=f"and {TOKEN}?")
        assert followup.followup_words == "and [secret]?"
    with store.begin() as s:
        row = s.get(Exchange, exchange_id)
        assert row.question == "help my bot wont start, token is [secret]"
        assert TOKEN not in str(s.execute(select(Exchange.__table__)).all())
        assert row.question_key == question_key(row.question)
        # Forgetting the wording as typed (the answerer learned it so) finds the masked row.
        assert repo.forget_wording(s, asked, "How do I start my bot?") == 1


@pytest.mark.parametrize("zone", repo.NOT_ASKED)
def test_chat_and_abuse_are_logged_but_never_unanswered(store, zone):
    """ "thanks!" or "fuck off" the bot was not sure about: an exchange, but no question to teach."""
    with store.begin() as s:
        ids = [
            log_one(s, question="fuck off", answer="Not sure.", unanswered=True, zone=zone).id for _ in "123"
        ]
        log_one(s, question="What is offside?", unanswered=False, zone="answer")
    with store.begin() as s:
        assert s.get(Exchange, ids[0]).unanswered is False
        assert repo.unanswered_queue(s) == []
        assert repo.record_choice(s, ids[0], "What is offside?") is False  # nothing to teach it as
        stats = repo.get_stats(s)
    assert (stats["total"], stats["unanswered"]) == (4, 0)
    assert stats["top_questions"] == [("What is offside?", 1)]  # said three times, but asked nothing
