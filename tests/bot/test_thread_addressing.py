"""Who a message in a thread or an open channel is for, read as people write: a reply to another member is
theirs, an emoji replying to the bot asks nothing, zero-width characters and other scripts' question marks
hide no question; a thread the bot starts carries no pasted key in its name; a fragment's choice teaches
no wording (found by a break-it review)."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend

from bot.answering.chatter import asks, looks_like_question
from tests.bot.fakes import FakeGenerator
from tests.bot.test_did_you_mean import KNOWN, click, mention
from tests.bot.test_threads import exchanges, sent
from tests.bot.threads_support import install_thread_routes, say

REPLY_IN_THREAD = pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


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
    assert (
        len(sent()) == 4
    )  # the budget: five at once (one spent above; a post takes none), then one per 30 s


@REPLY_IN_THREAD
async def test_a_reply_to_their_own_aside_or_to_another_bot_is_still_a_question_for_the_bot(
    dpy, store, monkeypatch
):
    """The first rule took any replied-to author but the bot for "another member" and stayed silent."""
    thread, _ = await bots_thread(dpy, monkeypatch)
    asker = dpytest.get_config().members[0]
    aside = await say(thread, asker, "quick rules thing for my kid's team")
    await say(thread, asker, "how many players are on a football team?", reply_to=aside)
    assert sent()[0].content.startswith("Eleven.")
    from discord.ext.test import factories

    score_bot = backend.get_state().store_user(
        {**factories.make_user_dict("scorebot", "0001", None), "bot": True}
    )
    posted = await say(thread, score_bot, "FT: Arsenal 2-1 Spurs")
    await say(thread, asker, "how long is a football match?", reply_to=posted)
    assert sent()[0].content.startswith("90 minutes")


@pytest.mark.parametrize("dpy", [{"user_cooldown_s": 60}], indirect=True)
async def test_remarks_in_an_open_channel_never_cost_a_members_forum_post(dpy, store, monkeypatch):
    from tests.bot.threads_support import make_forum, post_in_forum

    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    asker = dpytest.get_config().members[0]
    for remark in ["var is a joke today", "that ref is blind", "we need a new striker"] * 2:
        await say(channel, asker, remark)
    sent()
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    await post_in_forum(forum, asker, "hat trick?", "what is it")
    assert sent()[0].content.startswith("Three goals")


async def test_votes_on_a_long_taught_answers_later_message_count_for_it(dpy, store):
    """An admin's Teach delivered a long answer in pieces without noting them: a 👎 on the second was lost."""
    from bot.discord_app.escalation import deliver_answer

    channel = dpytest.get_config().channels[0]
    row = {"id": 1, "channel_id": channel.id, "question": "tell me everything", "user_id": 1}
    answer = "Football is played by two teams of eleven players. " * 60
    first = await deliver_answer(dpy, row, None, "tell me everything", answer.strip())
    pieces = sent()
    assert len(pieces) == 2 and pieces[0].id == first.id
    assert dpy.answer_parts.first(pieces[1].id) == first.id
