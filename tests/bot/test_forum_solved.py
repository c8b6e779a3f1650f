"""A forum post's "solved" tag when its asker 👍s the bot's answer: any part of an answer split over several
messages counts, and a 👍 that cannot solve a post (someone else's, outside a forum, on a post solved
already) costs no message fetch and no store query."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest

from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import react
from tests.bot.threads_support import SOLVED_TAG_ID, install_thread_routes, make_forum, post_in_forum

# An answer longer than one Discord message (2,000 characters): the bot sends it in two.
LONG = {
    "question": "What is the offside rule?",
    "answer": " ".join(f"Offside point {i}: a player is judged when the ball is played." for i in range(60)),
}


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing([LONG, {"question": "What is a hat trick?", "answer": "Three goals."}])


@pytest.fixture
def forum(dpy, monkeypatch):
    install_thread_routes(dpy, monkeypatch)
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    return forum


@pytest.fixture
def lookups(dpy, monkeypatch) -> list[int]:
    """The ids of the messages whose answer the Community cog looked up in the store."""
    seen: list[int] = []
    cog = dpy.get_cog("Community")  # its class: the extension's module is loaded anew for each bot
    real = cog._is_answer

    async def counted(thread, message):
        seen.append(message.id)
        return await real(thread, message)

    monkeypatch.setattr(cog, "_is_answer", counted)
    return seen


def sent() -> list:
    out = []
    while not dpytest.verify().message().nothing():
        out.append(dpytest.get_message())
    return out


async def test_the_askers_thumbs_up_on_a_later_part_of_a_split_answer_tags_the_post_solved(dpy, store, forum):
    asker = dpytest.get_config().members[0]
    post = await post_in_forum(forum, asker, "Offside", LONG["question"])
    first, second = sent()
    assert first.channel.id == second.channel.id == post.id
    await react(second, asker, "👍")
    assert [t.id for t in post.applied_tags] == [SOLVED_TAG_ID]


async def test_a_thumbs_up_that_cannot_solve_a_post_costs_no_lookup(dpy, store, forum, lookups):
    asker, other = dpytest.get_config().members[:2]
    post = await post_in_forum(forum, asker, "Hat trick", "what is a hat trick?")
    [answer] = sent()
    await react(answer, other, "👍")  # not the post's author: a vote, nothing to solve
    assert lookups == [] and post.applied_tags == []
    await react(answer, asker, "👍")
    assert lookups == [answer.id] and [t.id for t in post.applied_tags] == [SOLVED_TAG_ID]
    await react(answer, asker, "👍", add=False)
    await react(answer, asker, "👍")  # solved already: nothing to look up
    channel = dpytest.get_config().channels[0]  # and an answer outside any forum
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message("what is a hat trick?", channel=channel)
    [elsewhere] = sent()
    await react(elsewhere, asker, "👍")
    assert lookups == [answer.id]
