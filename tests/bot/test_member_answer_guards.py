"""What a trusted member's message must not teach: a reply to a question the bot answered is no answer to
another member's open one (nor is a ✅ or "Mark as answer" on it), a question back without a "?" is no
answer, and their chat, questions or words to the bot after an answer are not part of it."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest

from tests.bot.fixtures import make_member, react
from tests.bot.member_answers_support import ANSWER, candidates_in, sent, taught, unsure_question
from tests.bot.review_support import interaction_for
from tests.bot.test_escalation import DOG, fake_generator  # noqa: F401
from tests.bot.threads_support import install_thread_routes, make_forum, post_in_forum, say

MATCH = "How long is a football match?"  # the bot knows it (test_escalation's KNOWN): "90 minutes."


@pytest.fixture
def answered_post(dpy, store, admins, helper, monkeypatch):
    """A forum post the bot answered, then another member's question in it the bot is not sure of."""
    install_thread_routes(dpy, monkeypatch)
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]

    async def make():
        post = await post_in_forum(forum, dpytest.get_config().members[0], "Match", MATCH)
        [bots_answer] = sent()
        assert bots_answer.channel.id == post.id and bots_answer.content.startswith("90 minutes")
        await say(post, dpytest.get_config().members[2], DOG)
        [escalation] = sent()  # silence in the post, the admins told
        assert escalation.channel.id == admins.id
        return post, bots_answer

    return make


@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_a_reply_to_an_answered_question_is_no_answer_to_another_open_one(
    dpy, store, helper, answered_post
):
    # It became the answer to the open DOG question, served to everyone.
    post, bots_answer = await answered_post()
    addition = "Right, and stoppage time is added on top of that."
    await say(post, helper, addition, reply_to=bots_answer)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == [] and taught(store) == []
    assert (await dpy.answerer.answer(DOG)).unanswered


async def test_a_tick_or_mark_on_a_reply_to_an_answered_question_marks_nothing(
    dpy, store, helper, answered_post
):
    post, bots_answer = await answered_post()
    asker, member, other_asker = dpytest.get_config().members
    reply = await say(post, member, "Plus stoppage time, usually a few minutes.", reply_to=bots_answer)
    await react(reply, helper, "✅")
    await dpy.get_cog("Community").mark_as_answer(interaction_for(dpy, make_member(other_asker.id)), reply)
    assert candidates_in(store) == []
    await say(post, helper, ANSWER[0])  # not a reply: the thread's open question is still answered
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert (c.question, c.answer) == (DOG, ANSWER[0])


@pytest.mark.parametrize(
    "back", ["can you share a screenshot of the referee please", "which league are you asking about"]
)
async def test_a_trusted_members_question_back_without_a_question_mark_is_no_answer(
    dpy, store, admins, helper, channel, back
):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, back, reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == []


@pytest.mark.parametrize(
    "after",
    [
        ["lol", "btw what is a hat trick?", "brb dinner"],  # chat stops it
        ["what is a hat trick btw", "brb dinner"],  # a question
        ["@bot remember this one", "brb dinner"],  # words to the bot
        ["the last one", "brb dinner"],  # a reply to someone else
    ],
)
@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_an_answer_joins_none_of_its_authors_chat_questions_or_words_to_others(
    dpy, store, admins, helper, channel, after
):
    question, _ = await unsure_question(channel, admins)
    other = await say(channel, dpytest.get_config().members[2], "I scored twice yesterday.")
    await say(channel, helper, ANSWER[0], reply_to=question)
    await say(channel, helper, ANSWER[1])  # their answer goes on
    for text in after:
        if text.startswith("@bot"):
            await say(channel, helper, text.replace("@bot", f"<@{dpy.user.id}>"))
        else:
            await say(channel, helper, text, reply_to=other if text == "the last one" else None)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert c.answer == "\n".join(ANSWER)
    assert taught(store) == [(DOG, "\n".join(ANSWER), "member")]


def test_questions_back_read_as_questions_and_the_examples_answers_do_not():
    # looks_like_question alone takes 94 of these 444 answer lines for questions ("It is a sign of…",
    # "A player who can…"): a trusted member's answer like them would never be learned.
    import json
    from pathlib import Path

    from bot.desk.harvest import is_question, joins_answer

    backs = ["can you share a screenshot of the referee please", "which league are you asking about",
             "hmm, do you mean futsal", "btw what is a hat trick", "really?", "and in 2018？"]  # fmt: skip
    assert all(is_question(text) and not joins_answer(text) for text in backs)
    assert joins_answer("Also: no cats.") and joins_answer("It is a sign of respect.")
    root = Path(__file__).parents[2] / "examples"
    script = json.loads((root / "community.json").read_text(encoding="utf-8"))
    lines = [line for item in script["unknown"] for line in item["answer"].split(". ")]
    assert len(lines) > 50 and [line for line in lines if is_question(line)] == []


@pytest.mark.parametrize(
    "answer",
    [
        "When a dog runs onto the pitch the referee stops play and restarts with a dropped ball.",
        "What happens is the referee stops play and restarts with a dropped ball.",
        "How it works: the referee stops play, then a dropped ball.",
    ],
)
async def test_an_answer_opening_with_when_what_or_how_is_still_an_answer(
    dpy, store, admins, helper, channel, answer
):
    """The first guard against questions back took these for questions and learned nothing."""
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, answer, reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert (c.question, c.answer) == (DOG, answer)


async def test_a_reply_to_the_askers_aside_in_their_post_answers_its_open_question(
    dpy, store, admins, helper, monkeypatch
):
    """Only a reply to an exchange that is answered is no answer; the asker's own aside is none."""
    install_thread_routes(dpy, monkeypatch)
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    asker = dpytest.get_config().members[0]
    post = await post_in_forum(forum, asker, "Dog on the pitch", DOG)
    sent()  # silence in the post, the admins told
    aside = await say(post, asker, "it was a big dog, second half, our u12 game")
    await say(post, helper, ANSWER[0], reply_to=aside)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert c.answer == ANSWER[0]


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("who won the league", True), ("who scored", True), ("which team won", True),
        ("whats the score", True),
        ("what happens if the ball hits the ref", True), ("which players are injured", True),
        ("what time do the gates open btw", True), ("btw who won yesterday", True), ("how long was it", True),
        ("Who touches it last decides the throw-in.", False), ("Which means the goal stands.", False),
        ("When one runs on, play stops and restarts with a dropped ball.", False),
        ("What happens is the referee stops play.", False), ("How it works: a dropped ball.", False),
        ("Do it from the spot, 11 metres out.", False),
    ],
)  # fmt: skip
def test_a_question_reads_by_its_shape(text, question):
    """The stricter rule missed questions without a "?" ("who won the league", "whats the score"), which
    then joined an answer or were proposed as one."""
    from bot.desk.harvest import is_question

    assert is_question(text) is question


async def test_a_reply_to_another_members_message_answers_no_open_question(
    dpy, store, admins, helper, monkeypatch
):
    """Only the asker's own aside leads to their open question: a reply to someone else's message (another
    member's, or a later part of the bot's answer) became the answer to the thread's open question."""
    install_thread_routes(dpy, monkeypatch)
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    asker, _, other = dpytest.get_config().members
    post = await post_in_forum(forum, asker, "Dog on the pitch", DOG)
    sent()
    remark = await say(post, other, "our keeper once saved a shot with his face")
    await say(post, helper, ANSWER[0], reply_to=remark)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == []
