"""Candidate pairs from members' answers (revision 0007): proposed once, accepted (served at once, with
provenance) or rejected, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from storage import candidates, repo
from storage.changes import ChangeFeed
from storage.export import ExportFilters
from storage.models import Candidate, TaughtPair

LINKS = {
    "guild_id": 1,
    "channel_id": 2,
    "question_message_id": 30,
    "answer_message_id": 31,
    "question_url": "https://discord.com/channels/1/2/30",
    "answer_url": "https://discord.com/channels/1/2/31",
    "asker_id": 40,
    "author_id": 41,
}


def test_propose_keeps_provenance_and_waits(store):
    with store.begin() as s:
        row, new = candidates.propose(
            s, question=" Can I wear a cap? ", answer="Only the goalkeeper.", source="reply", **LINKS
        )
        assert new and row.status == "pending" and row.question == "Can I wear a cap?"
        assert (row.author_id, row.answer_message_id) == ("41", "31")  # snowflakes stored as strings
    with store.begin() as s:
        assert [c.question for c in candidates.pending(s)] == ["Can I wear a cap?"]
        assert s.query(TaughtPair).count() == 0 and repo.live_pairs(s) == []  # nothing live yet


def test_a_members_pasted_secret_is_masked_before_it_is_stored(store):
    token = "ghp_abcdefghijklmnop" + "qrstuvwxyz0123456789"
    with store.begin() as s:
        row, _ = candidates.propose(
            s, question=f"why is {token} refused?", answer=f"Revoke {token} now.", source="reply", **LINKS
        )
        assert (row.question, row.answer) == ("why is [secret] refused?", "Revoke [secret] now.")
        again, new = candidates.propose(s, question=f"Why is {token} refused", answer=f"Revoke {token} now.",
                                        source="harvest")  # fmt: skip
        assert not new and again.id == row.id  # the same text, masked alike


def test_same_messages_or_same_pending_text_are_proposed_once(store):
    with store.begin() as s:
        first, _ = candidates.propose(s, question="Q?", answer="A.", source="reply", **LINKS)
        again, new = candidates.propose(s, question="Q?", answer="Other.", source="reaction", **LINKS)
        assert not new and again.id == first.id and again.answer == "A."
        text_again, new = candidates.propose(s, question="q ?", answer="A.", source="harvest")
        assert not new and text_again.id == first.id
        other, new = candidates.propose(s, question="Q?", answer="B.", source="harvest")
        assert new and other.id != first.id
        assert s.query(Candidate).count() == 2


def test_accept_with_edits_serves_at_once_and_records_who(store):
    with store.begin() as s:
        row, _ = candidates.propose(s, question="cap?", answer="goalie only", source="command", **LINKS)
    feed = ChangeFeed(store)
    feed.mark()
    with store.begin() as s:
        pair = candidates.accept(s, row.id, 99, question="Can I wear a cap?", answer="Only the goalkeeper.")
        assert pair is not None and pair.source == "member" and pair.admin_id == "99"
    with store.begin() as s:
        got = candidates.candidate(s, row.id)
        assert (got.status, got.decided_by, got.taught_pair_id) == ("accepted", "99", pair.id)
        assert got.decided_at is not None and got.answer_url == LINKS["answer_url"]
        live = repo.live_pairs(s)
        assert [(p["question"], p["answer"]) for p in live] == [("Can I wear a cap?", "Only the goalkeeper.")]
        assert [c.kind for c in feed.read()] == ["taught"]  # every process reloads
        assert candidates.pending(s) == []
        assert candidates.accept(s, row.id, 99) is None  # decided once
        assert candidates.reject(s, row.id, 99) is False


def test_reject_closes_without_teaching(store):
    with store.begin() as s:
        row, _ = candidates.propose(s, question="Q?", answer="A.", source="forum")
        assert candidates.reject(s, row.id, 5)
        assert candidates.candidate(s, row.id).status == "rejected"
        assert repo.live_pairs(s) == [] and candidates.pending(s) == []
        assert candidates.reject(s, 12345, 5) is False
        # A rejected text may be proposed again later (new messages).
        _, new = candidates.propose(s, question="Q?", answer="A.", source="forum")
        assert new


def test_trusted_answer_goes_live_at_once_decided_by_its_author(store):
    with store.begin() as s:
        row, _ = candidates.propose(s, question="Q?", answer="A.", source="reply", trusted=True, **LINKS)
        assert row.status == "accepted" and row.decided_by == "41"
        assert [p["question"] for p in repo.live_pairs(s)] == ["Q?"]


@pytest.mark.parametrize(
    "field,value,match",
    [("source", "dm", "source must be one of"), ("question", "  ", "question"), ("answer", "", "answer")],
)
def test_bad_input_is_refused_and_stores_nothing(store, field, value, match):
    args = {"question": "Q?", "answer": "A.", "source": "reply", field: value}
    with pytest.raises(ValueError, match=match), store.begin() as s:
        candidates.propose(s, **args)
    with store.begin() as s:
        assert s.query(Candidate).count() == 0


def test_open_question_is_the_unanswered_exchange_of_a_message_or_a_thread(store):
    with store.begin() as s:
        asked = repo.log_exchange(
            s, question="Q?", answer="not sure", model_version="m", confidence=0.1, unanswered=True,
            latency_ms=1, source="discord", guild_id=1, channel_id=2, message_id=30, user_id=40,
        )  # fmt: skip
        in_thread = repo.log_exchange(
            s, question="Follow-up?", answer="not sure", model_version="m", confidence=0.1, unanswered=True,
            latency_ms=1, source="discord", guild_id=1, channel_id=30, message_id=35, user_id=40,
        )  # fmt: skip
        assert candidates.open_question(s, message_id=30)["id"] == asked.id
        assert candidates.open_question(s, thread_id=30)["id"] == in_thread.id  # the latest in the thread
        assert candidates.open_question(s, message_id=99) is None
        row, _ = candidates.propose(
            s, question="Q?", answer="A.", source="reply", exchange_id=asked.id, **LINKS
        )
        candidates.accept(s, row.id, 7)
        assert candidates.open_question(s, message_id=30) is None  # answered by a member


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_member_pairs_are_exported_with_their_links(store, tmp_path, fmt):
    import csv
    import json

    from storage.export import export_dataset
    from training.data.load import load_dataset_file

    with store.begin() as s:
        repo.add_taught_pair(s, "Admin's?", "Taught.", 1)
        row, _ = candidates.propose(s, question="Cap?", answer="Goalkeepers only.", source="reply", **LINKS)
        candidates.accept(s, row.id, 7)
    out = tmp_path / f"x.{fmt}"
    export_dataset(store, fmt, out, ExportFilters(keep_pii=True))
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        assert next(csv.reader(text.splitlines())) == ["question", "answer"]
        return
    rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    admin, member = rows
    assert admin == {"question": "Admin's?", "answer": "Taught."}  # rows without provenance unchanged
    assert member == {
        "question": "Cap?", "answer": "Goalkeepers only.", "source": "member",
        "question_url": LINKS["question_url"], "answer_url": LINKS["answer_url"],
    }  # fmt: skip
    # ...and the file is still a dataset qabot trains on.
    assert [r["question"] for r in load_dataset_file(out)] == ["Admin's?", "Cap?"]


def test_in_a_thread_only_its_latest_question_is_open(store):
    common = dict(model_version="m", confidence=0.1, latency_ms=1, source="discord", guild_id=1, user_id=40)
    common.update(channel_id=30)
    with store.begin() as s:
        repo.log_exchange(s, question="Q?", answer="?", unanswered=True, message_id=30, **common)
        repo.log_exchange(s, question="Known?", answer="A.", unanswered=False, message_id=36, **common)
        assert candidates.open_question(s, thread_id=30) is None  # the bot answered the thread's latest
        assert candidates.open_question(s, message_id=30)["question"] == "Q?"  # a reply to it still counts


def test_a_reworded_accept_answers_the_askers_own_wording_too(store):
    """Accepted with a cleaner question (from the CLI too), the asker's wording is an admin's choice."""
    with store.begin() as s:
        asked = repo.log_exchange(
            s, question="can keepers wear caps lol", answer="not sure", model_version="v", confidence=0.1,
            unanswered=True, latency_ms=1.0, source="discord", zone="fallback",
        )  # fmt: skip
        row, _ = candidates.propose(
            s, question=asked.question, answer="Yes, goalkeepers may.", source="reply", exchange_id=asked.id
        )
    with store.begin() as s:
        candidates.accept(s, row.id, 9, question="May a goalkeeper wear a cap?")
    with store.begin() as s:
        [learned] = repo.learned_wordings(s)
        assert (learned["wording"], learned["question"], learned["by_admin"]) == (
            "can keepers wear caps lol",
            "May a goalkeeper wear a cap?",
            True,
        )
