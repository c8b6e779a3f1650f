"""What a logged follow-up becomes (revision 0009): "and 2018?" asked after "who won the world cup in 2014",
answered through the real answer path (a thread on dpytest, the terminal session), is stored as read with
its words beside it. An admin's correction of it corrects the known question it was answered with; Teach
on it shows the reading but will not teach it as is, and learns no wording; exports write it as its known
question. Read as it was logged, it would take the 2014 question's askers."""

from __future__ import annotations

import io
import json

import discord.ext.test as dpytest
import pytest
from sqlalchemy import select

from bot import async_store
from bot.answering.answerer import Answerer
from bot.discord_app.cogs.feedback import NO_KNOWN_QUESTION, SAVED_FOLLOWUP
from bot.discord_app.escalation import FOLLOWUP_AS_READ, FOLLOWUP_LABEL, TeachButton, TeachModal
from bot.discord_app.replies import SUGGEST_TEXT
from bot.terminal import Terminal
from storage.models import Exchange, TaughtPair
from storage.text import question_key
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import ADMIN_ID, invoke, make_interaction, make_member
from tests.bot.test_escalation import submit
from tests.bot.test_followups import BEFORE, KNOWN, ZONES, generator
from tests.bot.threads_support import install_thread_routes, say

KNOWN_2018 = "Who won the World Cup in 2018?"
READ = f"{BEFORE} and 2018?"
CORRECTED = "France, beating Croatia 4-2 in the final."


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN, ZONES)


def rows(store) -> list[Exchange]:
    with store() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


def taught(store) -> list[str]:
    with store() as session:
        return list(session.scalars(select(TaughtPair.question)))


async def follow_up_in_a_thread(dpy, monkeypatch):
    """BEFORE in an open channel (answered in a new thread), then "and 2018?" in the thread: its answer
    message, and its exchange row."""
    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    asker = dpytest.get_config().members[1]
    await dpytest.message(BEFORE, channel=channel, member=asker)
    first = dpytest.get_message()
    await say(first.channel, asker, "and 2018?")
    followed = dpytest.get_message()
    assert followed.content.startswith("France.")
    row = rows(store=dpy.session_factory)[-1]
    assert (row.question, row.followup_words, row.matched_question) == (READ, "and 2018?", KNOWN_2018)
    assert row.reply_message_id == str(followed.id) and row.followup_key == question_key(KNOWN_2018)
    return followed, row


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_correcting_a_follow_up_corrects_the_known_question_it_was_answered_with(
    dpy, store, monkeypatch
):
    followed, _ = await follow_up_in_a_thread(dpy, monkeypatch)
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "correct", interaction, message_id=str(followed.id), answer=CORRECTED)
    said = interaction.followup.send.await_args.args[0]
    assert said == SAVED_FOLLOWUP.format(words="and 2018?", question=KNOWN_2018)
    # Served at once for the known question, here and (through the store) by every other process.
    now = await dpy.answerer.answer("who won the world cup in 2018")
    assert (now.text, now.matched_question, now.answered_by) == (CORRECTED, KNOWN_2018, "correction")
    assert [(p["question"], p["answer"]) for p in await async_store.live_pairs(store)] == [
        (KNOWN_2018, CORRECTED)
    ]
    assert (await dpy.answerer.answer(BEFORE)).text == "Germany."  # its askers keep their answer


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_a_follow_up_offered_did_you_mean_has_no_known_question_to_correct(dpy, store, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    asker = dpytest.get_config().members[1]
    await dpytest.message(BEFORE, channel=channel, member=asker)
    await say(dpytest.get_message().channel, asker, "what about 2018 then")  # a year alone: answered
    offer = dpytest.get_message()
    assert offer.content == SUGGEST_TEXT and rows(store)[-1].followup_words == "what about 2018 then"
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "correct", interaction, message_id=str(offer.id), answer=CORRECTED)
    said = interaction.followup.send.await_args.args[0]
    assert said == NO_KNOWN_QUESTION.format(words="what about 2018 then")
    assert await async_store.live_pairs(store) == []  # nothing stored, nothing served


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_teach_on_a_follow_up_wants_the_one_question_it_asks_and_learns_no_wording(
    dpy, store, monkeypatch
):
    """The form shows the reading (the admin sees what was asked), but taught as is, it would answer
    BEFORE's askers; rewritten, it is taught, the asker gets the answer, and the reading is not learned as
    a way to ask it. (Teach meets a follow-up on a 👎'd answer's gap: ``/gaps``.)"""
    _, row = await follow_up_in_a_thread(dpy, monkeypatch)
    admin = make_member(ADMIN_ID)
    pressed = make_interaction(dpy, admin)
    button = TeachButton(row.id, None)  # the button /gaps and the escalation channel show
    assert await button.interaction_check(pressed)
    await button.callback(pressed)
    modal = pressed.response.send_modal.await_args.args[0]
    assert isinstance(modal, TeachModal)
    assert (modal.question.label, modal.question.default) == (FOLLOWUP_LABEL, READ)

    as_read = await submit(dpy, modal, admin, None, answer="France.")
    assert as_read.response.send_message.await_args.args[0] == FOLLOWUP_AS_READ.format(words="and 2018?")
    assert taught(store) == []

    question = "Who won the 2018 final?"
    modal = TeachModal(await async_store.exchange(store, row.id), None)
    await submit(dpy, modal, admin, None, answer=CORRECTED, question=question)
    assert taught(store) == [question]
    assert await async_store.learned_wordings(store) == []
    assert (await dpy.answerer.answer(READ)).matched_question != question  # not learned in-process either
    delivered = rows(store)[-1]  # the admin's answer, sent to the asker: still that follow-up
    assert (delivered.answer, delivered.followup_words) == (CORRECTED, "and 2018?")
    assert delivered.followup_key == question_key(question)


async def test_the_terminal_logs_a_follow_up_and_exports_it_as_its_known_question(store, tmp_path):
    out, exported = io.StringIO(), tmp_path / "out.json"
    lines = [BEFORE, "and 2018?", "who won the world cup in 2018", f"/export json {exported}"]
    async with Answerer(generator(), batch_wait_ms=0) as answerer:
        terminal = Terminal(answerer=answerer, session_factory=store, retrain_job=None, out=out)
        terminal.stdin = io.StringIO("\n".join(lines) + "\n")
        await terminal.run()
    assert out.getvalue().splitlines()[:3] == ["Germany.", "France.", "France."]
    logged = [(r.question, r.followup_words) for r in rows(store)]
    assert logged == [(BEFORE, None), (READ, "and 2018?"), ("who won the world cup in 2018", None)]
    records = json.loads(exported.read_text(encoding="utf-8"))
    # The follow-up is a row of the known question it was answered with, and so one with the question
    # asked alone in those words (the same question to the store: the latest wording shows).
    assert [(r["question"], r["answer"]) for r in records] == [
        (BEFORE, "Germany."),
        ("who won the world cup in 2018", "France."),
    ]
