"""Who a message in a thread or an open channel is for, read as people write: a reply to another member is
theirs, an emoji replying to the bot asks nothing, zero-width characters and other scripts' question marks
hide no question; a thread the bot starts carries no pasted key in its name; a fragment's choice teaches
no wording (found by a break-it review)."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend
from sqlalchemy import select

from bot.answering.chatter import asks, looks_like_question
from storage.models import Exchange
from tests.bot.fakes import FakeGenerator
from tests.bot.test_did_you_mean import KNOWN, click, mention
from tests.bot.test_threads import sent
from tests.bot.threads_support import install_thread_routes, say

REPLY_IN_THREAD = pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


@pytest.fixture
def admins(dpy):
    channel = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = channel.id
    return channel


def exchanges(store) -> list[Exchange]:
    with store() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


async def bots_thread(dpy, monkeypatch):
    """The thread the bot started to answer "hat trick?", and its answer there."""
    install_thread_routes(dpy, monkeypatch)
    await dpytest.message(f"{mention(dpy)} hat trick?")
    [answer] = sent()
    return answer.channel, answer


@REPLY_IN_THREAD
async def test_in_the_bots_thread_a_members_question_to_another_member_is_theirs(dpy, store, monkeypatch):
    thread, _ = await bots_thread(dpy, monkeypatch)
    asker, other = dpytest.get_config().members[:2]
    said = await say(thread, asker, "my team lost 3-0 today")
    await say(thread, other, "how many players are on a football team?", reply_to=said)
    await say(thread, other, f"<@{asker.id}> how many players are on a football team?")
    assert sent() == [] and len(exchanges(store)) == 1
    await say(thread, other, "how many players are on a football team?")  # to the thread: the bot's
    assert sent()[0].content.startswith("Eleven.")


@REPLY_IN_THREAD
async def test_an_emoji_or_an_image_replying_to_the_bots_answer_gets_no_scolding(dpy, store, monkeypatch):
    thread, answer = await bots_thread(dpy, monkeypatch)
    asker = dpytest.get_config().members[0]
    for text in ("<:pog:123456789012345678>", ""):  # a custom emoji; a sticker or an image alone
        await say(thread, asker, text, reply_to=answer, ping=True)
    assert sent() == []
    await dpytest.message(f"{mention(dpy)}")  # a bare mention still gets the hint
    assert "Ask me a question" in dpytest.get_message().content


@REPLY_IN_THREAD
async def test_zero_width_characters_and_other_question_marks_hide_no_question_in_a_thread(
    dpy, store, admins, monkeypatch
):
    thread, _ = await bots_thread(dpy, monkeypatch)
    asker = dpytest.get_config().members[0]
    await say(thread, asker, "ho\u200bw many players are on a football team")
    assert sent()[0].content.startswith("Eleven.")
    await say(thread, asker, "越位是什么？")  # not sure: silence in the thread, and escalated
    [escalation] = sent()
    assert escalation.channel.id == admins.id and len(exchanges(store)) == 3


@pytest.mark.parametrize("text", ["越位是什么？", "ما هو التسلل؟", "¿qué es el fuera de juego"])
def test_question_marks_of_other_scripts_ask(text):
    assert looks_like_question(text) and asks(text)


@REPLY_IN_THREAD
async def test_the_thread_the_bot_starts_is_not_named_with_a_pasted_key(dpy, store, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    key = "ghp_" + "a1B2c3D4" * 5
    await dpytest.message(f"{mention(dpy)} why does {key} not log in")
    sent()
    [(_, call)] = dpy.thread_calls
    assert "ghp_" not in call["name"] and "[secret]" in call["name"]


async def test_a_choice_on_a_fragment_asked_alone_teaches_no_wording(dpy, store):
    """ "and how long" chosen as half-time, learned, answered every member's later "and how long" with it,
    whatever they had asked before."""
    await dpytest.message(f"{mention(dpy)} and how long")
    dpytest.get_message()
    await click(
        dpy, dpy.sent_views[-1], "How long is half-time in a football match?", dpytest.get_config().members[0]
    )
    assert exchanges(store)[0].chosen_question is None
    await dpytest.message(f"{mention(dpy)} and how long")
    assert dpytest.get_message().content != "15 minutes."
    assert exchanges(store)[-1].zone == "suggest"


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True, "user_cooldown_s": 30}], indirect=True)
async def test_no_cooldown_drops_a_forum_post_or_a_quick_second_question_but_a_flood_is_bounded(
    dpy, store, monkeypatch
):
    """A member's mention started a 30 s window that silently dropped their forum post (its only chance)
    and a second question in a thread; and a flood into a thread was answered message by message."""
    from tests.bot.threads_support import make_forum, post_in_forum

    thread, _ = await bots_thread(dpy, monkeypatch)  # the mention starts the cooldown
    asker = dpytest.get_config().members[0]
    await say(thread, asker, "how many players are on a football team?")
    assert sent()[0].content.startswith("Eleven.")
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    await post_in_forum(forum, asker, "hat trick?", "what is it")
    assert sent()[0].content.startswith("Three goals")
    for _ in range(8):
        await say(thread, asker, "how long is a football match?")
    assert len(sent()) == 3  # the budget: five at once (two spent above), then one per 30 s
