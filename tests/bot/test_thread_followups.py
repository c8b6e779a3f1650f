"""Follow-ups in threads (issue 29 part 3 on Discord): in the bot's thread a question that does not stand
alone is read with the thread's previous question (``bot/answering/followups.py``); the same question
asked elsewhere, alone, is not."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest

from bot.discord_app.replies import SUGGEST_TEXT
from tests.bot.fakes import FakeGenerator
from tests.bot.test_followups import KNOWN, ZONES
from tests.bot.threads_support import install_thread_routes, say


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN, ZONES)


def sent() -> list:
    out = []
    while not dpytest.verify().message().nothing():
        out.append(dpytest.get_message())
    return out


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_a_follow_up_in_the_bots_thread_is_read_with_the_previous_question(dpy, store, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    asker, other = dpytest.get_config().members[:2]
    await dpytest.message("who won the world cup in 2014", channel=channel, member=asker)
    [first] = sent()
    assert first.content.startswith("Germany.")
    thread = first.channel
    await say(thread, other, "and 2018?")  # one conversation per thread: anyone in it follows up
    [followed] = sent()
    assert followed.channel.id == thread.id and followed.content.startswith("France.")
    await say(thread, other, "what is a brace?")  # a question that stands alone is answered as alone
    [alone] = sent()
    assert alone.content.startswith("Two goals")
    await dpytest.message(f"<@{dpy.user.id}> and 2018?", channel=channel, member=asker)
    [elsewhere] = sent()  # in the channel, a new question: no previous one to read it with
    assert elsewhere.content == SUGGEST_TEXT


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_a_follow_ups_choice_in_a_thread_teaches_no_wording(dpy, store, monkeypatch):
    """Its words alone ("what about 2018") mean nothing; read with the question before, the wording would
    take that question's own askers (``tests/bot/test_followups.py``). The asker still gets the answer."""
    from bot import async_store
    from tests.bot.test_did_you_mean import click

    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    asker = dpytest.get_config().members[0]
    await dpytest.message("who won the world cup in 2014", channel=channel, member=asker)
    [first] = sent()
    await say(first.channel, asker, "what about 2018 then")  # a year alone: asked for it
    [offer] = sent()
    assert offer.content == SUGGEST_TEXT
    await click(dpy, dpy.sent_views[-1], "Who won the World Cup in 2018?", asker)
    assert await async_store.learned_wordings(store) == []
    assert (await dpy.answerer.answer("what about 2018 then")).zone != "answer"
