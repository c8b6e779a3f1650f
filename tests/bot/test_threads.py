"""Forum posts and threads on dpytest: real ``discord.Thread``/``ForumChannel`` objects from discord.py's
own parsers (``threads_support``). A post is answered in its thread, suggested there, or left in silence
and escalated; the asker's 👍 tags it solved; ``REPLY_IN_THREAD`` answers in a thread started from the
question, where people ask on without a mention; chatter there gets nothing."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend
from sqlalchemy import select

from bot.answering.chatter import is_chat, looks_like_question
from bot.answering.followups import Turn
from bot.discord_app.replies import SUGGEST_TEXT
from bot.discord_app.threads import Conversations, forum_question
from bot.discord_app.views import SuggestionView
from storage.models import Exchange
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import make_interaction, react
from tests.bot.test_did_you_mean import KNOWN
from tests.bot.test_escalation import DOG
from tests.bot.threads_support import (
    SOLVED_TAG_ID,
    install_thread_routes,
    make_forum,
    make_thread,
    post_in_forum,
    say,
)

CHATTER = [
    "thanks!!",
    "+1",
    "ty 🙏",
    "lol same",
    "omg what a goal",
    "hello everyone",
    "that match last night was mad",
    "ok cool",
]
# Reactions with a "?" or an interrogative ask about nothing: no reply in a thread, no escalation anywhere.
BANTER = ["really?", "wait what?", "why tho?", "who cares", "how?", "what?!", "are you serious", "ok but why",
          "what a save lol", "messi is the goat"]  # fmt: skip


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


@pytest.fixture
def forum(dpy, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    return forum


@pytest.fixture
def admins(dpy):
    channel = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = channel.id
    return channel


def exchanges(store) -> list[Exchange]:
    with store() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


def sent() -> list:
    out = []
    while not dpytest.verify().message().nothing():
        out.append(dpytest.get_message())
    return out


# -- forum posts ---------------------------------------------------------------------------------------


async def test_a_forum_post_is_answered_in_its_thread_and_logged(dpy, store, forum):
    asker = dpytest.get_config().members[0]
    post = await post_in_forum(forum, asker, "Hat trick", "what is a hat trick?")
    [answer] = sent()
    assert answer.channel.id == post.id and answer.content.startswith("Three goals")
    [row] = exchanges(store)
    assert (row.question, row.channel_id, row.message_id) == (
        "Hat trick: what is a hat trick?",
        str(post.id),
        str(post.id),
    )
    assert dpy.conversations.get(post.id).bot_spoke
    # The post's thread is a conversation now: chatter gets nothing, a question there is answered.
    for text in CHATTER:
        await say(post, asker, text)
    assert sent() == [] and len(exchanges(store)) == 1
    await say(post, dpytest.get_config().members[1], "how many players are on a football team?")
    [second] = sent()
    assert second.channel.id == post.id and second.content.startswith("Eleven.")


async def test_a_forum_post_gets_did_you_mean_in_its_thread(dpy, store, forum):
    asker = dpytest.get_config().members[0]
    post = await post_in_forum(forum, asker, "football", "football")
    [reply] = sent()
    assert reply.channel.id == post.id and reply.content == SUGGEST_TEXT
    view = dpy.sent_views[-1]
    assert isinstance(view, SuggestionView)
    [button] = [b for b in view.buttons if b.question == "How long is a football match?"]
    interaction = make_interaction(dpy, asker)
    interaction.channel = post
    await view._scheduled_task(button, interaction)
    # The choice is the thread's previous question now: a follow-up there is read with it.
    assert dpy.conversations.previous(post.id).matched == "How long is a football match?"


async def test_a_forum_post_the_bot_is_not_sure_about_gets_silence_and_is_escalated(
    dpy, store, forum, admins
):
    post = await post_in_forum(forum, dpytest.get_config().members[0], "Referee dogs", DOG)
    [escalation] = sent()  # nothing in the post's thread
    assert escalation.channel.id == admins.id and f"<#{post.id}>" in escalation.content
    assert exchanges(store)[0].escalated_at is not None
    assert not dpy.conversations.get(post.id).bot_spoke  # so later messages there are not questions to it


async def test_a_forum_post_of_only_greetings_gets_nothing(dpy, store, forum, admins):
    await post_in_forum(forum, dpytest.get_config().members[0], "hi", "hello everyone 👋")
    assert sent() == [] and exchanges(store) == []


async def test_posts_in_other_forums_and_threads_are_not_questions(dpy, store, forum):
    other = make_forum(dpytest.get_config().guilds[0], "general")
    await post_in_forum(other, dpytest.get_config().members[0], "Hat trick", "what is a hat trick?")
    thread = make_thread(dpytest.get_config().channels[0], "chat", dpytest.get_config().members[1])
    await say(thread, dpytest.get_config().members[1], "what is a hat trick?")
    assert sent() == [] and exchanges(store) == []


async def test_the_askers_thumbs_up_on_the_answer_tags_the_post_solved(dpy, store, forum):
    asker, other = dpytest.get_config().members[0], dpytest.get_config().members[1]
    post = await post_in_forum(forum, asker, "Hat trick", "what is a hat trick?")
    [answer] = sent()
    await react(answer, other, "👍")  # not the asker: a vote, no tag
    assert post.applied_tags == []
    await react(answer, asker, "👍")
    assert [t.id for t in post.applied_tags] == [SOLVED_TAG_ID]
    assert ("edit_channel", {"channel_id": post.id, "applied_tags": [str(SOLVED_TAG_ID)]}) in dpy.thread_calls


async def test_the_askers_thumbs_up_on_did_you_mean_does_not_tag_the_post_solved(dpy, store, forum):
    """A 👍 on "did you mean" (or "not sure") accepts no answer: the post stays open."""
    asker = dpytest.get_config().members[0]
    post = await post_in_forum(forum, asker, "football", "football")
    [offer] = sent()
    assert offer.content == SUGGEST_TEXT
    await react(offer, asker, "👍")
    assert post.applied_tags == []


async def test_a_forum_without_a_solved_tag_is_left_as_it_is(dpy, store, forum):
    bare = make_forum(dpytest.get_config().guilds[0], "bare", solved_tag=False)
    dpy.settings.forum_channel_ids = [bare.id]
    asker = dpytest.get_config().members[0]
    await post_in_forum(bare, asker, "Hat trick", "what is a hat trick?")
    [answer] = sent()
    await react(answer, asker, "👍")
    assert not [call for call in dpy.thread_calls if call[0] == "edit_channel"]


# -- threads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_reply_in_thread_answers_in_a_thread_started_from_the_question(dpy, store, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    question = await dpytest.message("hat trick?", channel=channel)
    [answer] = sent()
    [(route, call)] = dpy.thread_calls
    assert route == "start_thread_with_message" and call["channel_id"] == channel.id
    assert call["name"] == "hat trick?"
    assert answer.channel.id == question.id  # the thread started from the question has its id
    assert answer.content.startswith("Three goals")
    assert dpy.conversations.previous(question.id).question == "hat trick?"


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_in_the_bots_thread_people_ask_on_without_a_mention_and_chatter_gets_nothing(
    dpy, store, admins, monkeypatch
):
    install_thread_routes(dpy, monkeypatch)
    asker = dpytest.get_config().members[0]
    await dpytest.message(f"<@{dpy.user.id}> hat trick?")
    [answer] = sent()
    thread = answer.channel
    for text in CHATTER + BANTER:
        await say(thread, asker, text)
    assert sent() == [] and len(exchanges(store)) == 1  # no reply, no log, no escalation
    await say(thread, asker, "and how many players are on a football team?")
    [second] = sent()
    assert second.channel.id == thread.id and second.content.startswith("Eleven.")
    assert dpy.conversations.previous(thread.id).question == "and how many players are on a football team?"
    await say(thread, asker, "what colour is the referee's dog?")  # not sure: silence, and escalated
    [escalation] = sent()
    assert escalation.channel.id == admins.id


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_thanks_in_reply_to_the_bots_answer_gets_nothing(dpy, store, admins, monkeypatch):
    # A Discord reply pings the bot by default: "thanks!" got "I'm not sure about that yet." and went to
    # the admins as an unanswered question (in the channel, in a new thread named "thanks!").
    install_thread_routes(dpy, monkeypatch)
    asker = dpytest.get_config().members[0]
    await dpytest.message(f"<@{dpy.user.id}> hat trick?")
    [answer] = sent()
    for where in (answer.channel, dpytest.get_config().channels[0]):
        for text in ("thanks!", "ty 🙏", "lol", "wait what?", "really?"):
            await say(where, asker, text, reply_to=answer, ping=True)
    assert sent() == [] and len(exchanges(store)) == 1
    await say(
        answer.channel, asker, "and how many players are on a football team?", reply_to=answer, ping=True
    )
    assert sent()[0].content.startswith("Eleven.")  # a question in a reply is still one


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_when_no_thread_can_be_started_the_answer_goes_in_the_channel(dpy, store, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    refused = discord.Forbidden(MagicMock(status=403, reason="Forbidden"), "Missing Permissions")
    dpy.http.start_thread_with_message = AsyncMock(side_effect=refused)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    question = await dpytest.message("hat trick?", channel=channel)
    [answer] = sent()
    assert answer.channel.id == channel.id and answer.content.startswith("Three goals")
    assert dpy.sent_payloads[-1]["message_reference"]["message_id"] == question.id


@pytest.mark.parametrize("dpy", [{"reply_in_thread": True}], indirect=True)
async def test_when_the_new_thread_refuses_the_answer_it_goes_in_the_channel(dpy, store, monkeypatch):
    # Create Public Threads but not Send Messages in Threads (or the thread deleted at once): the answer
    # was lost, the exchange never logged.
    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    send_message = dpy.http.send_message

    async def only_in_channels(channel_id, *args, **kwargs):
        if channel_id != channel.id:
            raise discord.Forbidden(MagicMock(status=403, reason="Forbidden"), "Missing Permissions")
        return await send_message(channel_id, *args, **kwargs)

    dpy.http.send_message = only_in_channels
    question = await dpytest.message("hat trick?", channel=channel)
    [answer] = sent()
    assert answer.channel.id == channel.id and answer.content.startswith("Three goals")
    assert dpy.sent_payloads[-1]["message_reference"]["message_id"] == question.id
    assert [row.reply_message_id for row in exchanges(store)] == [str(answer.id)]


async def test_without_reply_in_thread_answers_stay_in_the_channel(dpy, store, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message("hat trick?", channel=channel)
    [answer] = sent()
    assert answer.channel.id == channel.id and dpy.thread_calls == []


async def test_open_channel_remarks_the_bot_is_not_sure_of_are_not_escalated(dpy, store, admins):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    for text in CHATTER:
        await dpytest.message(text, channel=channel)
    assert sent() == []  # silence, as before, and now no escalation either
    for text in BANTER:  # the zones decide a reply here, as before; nothing reaches the admins
        await dpytest.message(text, channel=channel)
    assert [m for m in sent() if m.channel.id == admins.id] == []
    await dpytest.message(DOG, channel=channel)
    [escalation] = sent()
    assert escalation.channel.id == admins.id


async def test_open_channel_remarks_get_no_did_you_mean_but_questions_do(dpy, store):
    """Nobody asked the bot: a remark near a known question ("football football") is offered nothing;
    the same words asked as a question are."""
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message("football football", channel=channel)
    await dpytest.message("football football?", channel=channel)
    [offer] = sent()  # one reply, to the question (a reply to the remark would have started the cooldown)
    assert offer.content == SUGGEST_TEXT
    assert [e.question for e in exchanges(store)] == ["football football?"]


# -- the pure parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CHATTER + BANTER)
def test_chatter_is_not_a_question(text):
    assert not looks_like_question(text)


@pytest.mark.parametrize(
    "text",
    ["what is offside", "hey guys, how long is a match", "anyone know who won in 2014", "and in 2018?",
     "what about uefa", "offside rule?", "can a keeper score"],
)  # fmt: skip
def test_questions_look_like_questions(text):
    assert looks_like_question(text)


@pytest.mark.parametrize(
    "text",
    ["offside rule", "whats var", "wat is var", "hw does var wrk", "step over skill whats that",
     "wc 2002 who won", "pk hits the post and comes back, can the taker score it",
     "six pointer meaning", "qué es una rabona",
     "my dad keeps saying germany got 7 vs brazil, is that true"],
)  # fmt: skip
def test_questions_typed_without_a_question_mark_look_like_questions(text):
    """An open channel drops "did you mean" for what does not look like a question (cogs/ask.py)."""
    assert looks_like_question(text)


def test_chat_is_only_social_words():
    assert is_chat("thanks so much!! 🙏") and is_chat("+1") and is_chat("")
    assert not is_chat("thanks, what about the offside rule")


def test_a_forum_question_is_its_title_and_text():
    assert forum_question("Offside", "when is it given?") == "Offside: when is it given?"
    assert forum_question("Offside?", "Offside? I never get it") == "Offside? I never get it"
    assert forum_question("What is VAR?", "") == "What is VAR?"


def test_conversations_forget_the_least_recent_thread():
    def answered(question: str) -> SimpleNamespace:
        return SimpleNamespace(question=question, zone="answer", matched_question="Q?", followup_of=None)

    conversations = Conversations(limit=2)
    for thread_id in (1, 2):
        conversations.note(thread_id, answer=answered(f"q{thread_id}"), asker_id=9, bot_spoke=True)
    conversations.get(1)
    conversations.note(3, answer=answered("q3"), asker_id=9, bot_spoke=False)
    assert conversations.get(2) is None and conversations.get(1).bot_spoke
    assert len(conversations.context) == 2 and conversations.previous(3) == Turn("q3", "Q?")
