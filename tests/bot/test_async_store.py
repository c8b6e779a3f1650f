"""The async facade's calls for sources, live pairs, vote nudges and escalation, on a real SQLite file."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot import async_store
from storage import repo
from storage.db import StoreError, dispose, open_store
from storage.models import Exchange


@dataclass
class FullAnswer:
    """An answer with every field ``AnswerLike`` names (as ``bot.answering.answerer.Answer`` has them)."""

    question: str
    text: str = "An answer."
    confidence: float = 0.9
    unanswered: bool = False
    latency_s: float = 0.02
    model_version: str = "v1"
    zone: str = "answer"
    matched_question: str | None = None
    match_score: float | None = None


def rows(store) -> list[Exchange]:
    with store() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


async def test_log_exchange_stores_zone_matched_question_and_score(store):
    answer = FullAnswer("how many players per team", matched_question="How many players?", match_score=0.91)
    exchange_id = await async_store.log_exchange(store, answer, source="discord", reply_message_id=55)
    [row] = rows(store)
    assert row.id == exchange_id
    assert (row.zone, row.matched_question, row.reply_message_id) == ("answer", "How many players?", "55")
    assert row.match_score == 0.91 and row.latency_ms == 20.0


async def test_log_exchange_still_takes_an_answer_without_the_new_fields(store):
    old = SimpleNamespace(
        question="Old?", text="A.", confidence=0.5, unanswered=False, latency_s=0.01, model_version="v0"
    )
    assert await async_store.log_exchange(store, old, source="terminal") is not None
    [row] = rows(store)
    assert (row.zone, row.matched_question, row.match_score) == (None, None, None)


async def test_log_exchange_with_an_unknown_zone_logs_and_returns_none(store, caplog):
    caplog.set_level(logging.ERROR, logger="bot.async_store")
    assert await async_store.log_exchange(store, FullAnswer("Q?", zone="maybe"), source="discord") is None
    assert rows(store) == []
    assert any("could not log exchange" in r.getMessage() for r in caplog.records)


async def test_apply_vote_reports_the_matched_question_and_the_change(store):
    answer = FullAnswer("offside?", matched_question="What is offside?")
    await async_store.log_exchange(store, answer, source="discord", reply_message_id=9)
    [row] = rows(store)

    async def vote(value, user=1, only_if=None):
        return await async_store.apply_vote(store, 9, user, value, only_if=only_if)

    assert await vote(1) == async_store.VoteResult(row.id, "What is offside?", 1, "offside?")
    assert (await vote(-1)).delta == -2
    assert (await vote(-1, user=2)).delta == -1
    assert (await vote(None, only_if=1)).delta == 0  # user 1's 👍 is gone already: the 👎 stays
    assert await async_store.vote_totals(store) == {"What is offside?": -2}
    assert (await vote(None)).delta == 1
    assert await async_store.vote_totals(store) == {"What is offside?": -1}
    assert await async_store.apply_vote(store, 10, 1, 1) is None  # not a logged answer


async def test_record_vote_keeps_returning_the_exchange_id(store):
    answer = FullAnswer("Q?")
    exchange_id = await async_store.log_exchange(store, answer, source="discord", reply_message_id=3)
    assert await async_store.record_vote(store, 3, 1, 1) == exchange_id
    assert await async_store.record_vote(store, 3, 1, None) == exchange_id
    assert await async_store.record_vote(store, 4, 1, 1) is None
    assert await async_store.vote_totals(store) == {}  # no matched question: not counted


async def test_live_pairs_include_what_was_taught_and_corrected(store):
    await async_store.teach(store, "Who is the best goalkeeper?", "Lev Yashin.", admin_id=1)
    await async_store.log_exchange(store, FullAnswer("Who won in 2014?", text="Brazil."), source="discord",
                                   reply_message_id=77)  # fmt: skip
    await async_store.record_correction(store, 77, "Germany.", admin_id=1)
    pairs = await async_store.live_pairs(store)
    assert [(p["question"], p["answer"], p["origin"]) for p in pairs] == [
        ("Who is the best goalkeeper?", "Lev Yashin.", "taught"),
        ("Who won in 2014?", "Germany.", "correction"),
    ]


async def test_exchange_and_mark_escalated(store):
    answer = FullAnswer("Unknown thing?", unanswered=True, zone="fallback", matched_question="Near?")
    exchange_id = await async_store.log_exchange(
        store, answer, source="discord", guild_id=1, channel_id=2, message_id=3, user_id=4, reply_message_id=5
    )
    found = await async_store.exchange(store, exchange_id)
    assert {k: found[k] for k in ("id", "question", "channel_id", "message_id", "reply_message_id")} == {
        "id": exchange_id,
        "question": "Unknown thing?",
        "channel_id": "2",
        "message_id": "3",
        "reply_message_id": "5",
    }
    assert (found["user_id"], found["zone"], found["matched_question"]) == ("4", "fallback", "Near?")
    assert found["answer"] == "An answer." and found["escalated_at"] is None
    assert await async_store.exchange(store, exchange_id + 1) is None

    results = await asyncio.gather(*(async_store.mark_escalated(store, exchange_id) for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert (await async_store.exchange(store, exchange_id))["escalated_at"] is not None
    with store() as session:  # the unanswered queue is unchanged by escalation
        assert [e.id for e in repo.unanswered_queue(session)] == [exchange_id]


async def test_one_user_downvoting_every_time_they_ask_counts_once(store):
    """Asking again and 👎-ing each answer must not push a known question down for everyone."""
    for reply in (21, 22, 23):
        answer = FullAnswer("offside??", matched_question="What is offside?")
        await async_store.log_exchange(store, answer, source="discord", reply_message_id=reply)
    deltas = [(await async_store.apply_vote(store, reply, 1, -1)).delta for reply in (21, 22, 23)]
    assert deltas == [-1, 0, 0]
    assert await async_store.vote_totals(store) == {"What is offside?": -1}
    assert (await async_store.apply_vote(store, 23, 1, 1)).delta == 2  # their latest vote is what counts
    assert (await async_store.apply_vote(store, 22, 2, -1)).delta == -1  # another user counts on their own
    assert await async_store.vote_totals(store) == {}  # +1 and -1: nothing to nudge


async def test_a_known_question_retaught_in_other_case_still_counts_one_vote_per_user(store):
    """An admin re-teaching "What is a hat trick?" as "what is a hat trick" gives nobody a second vote."""
    for reply, matched in ((31, "What is a hat trick?"), (32, "what is a hat trick")):
        answer = FullAnswer("hat trick?", matched_question=matched)
        await async_store.log_exchange(store, answer, source="discord", reply_message_id=reply)
    assert (await async_store.apply_vote(store, 31, 1, -1)).delta == -1
    assert (await async_store.apply_vote(store, 32, 1, -1)).delta == 0
    assert list((await async_store.vote_totals(store)).values()) == [-1]


async def test_a_locked_database_is_one_line_saying_so_not_sqlalchemys_three(tmp_path):
    """/teach while another program holds SQLite's write lock (a big import, a backup): the terminal and
    Discord show the StoreError's line ("… is locked by another program …; close it or try again"), not
    "(sqlite3.OperationalError) database is locked", "[SQL: BEGIN IMMEDIATE]" and a link."""
    store = open_store(f"sqlite:///{tmp_path / 'qabot.db'}", busy_timeout_s=0.05)
    holder = sqlite3.connect(tmp_path / "qabot.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as failed:
            await async_store.teach(store, "Who won?", "Spain.", admin_id=1)
        assert "locked by another program" in str(failed.value) and "\n" not in str(failed.value)
    finally:
        holder.close()
        dispose(store)
