"""The weekly digest (``bot.desk.digest``, posted by the desk cog with ``DIGEST_WEEKLY``): the week's gaps,
the review queue's length, answer shares and the most 👎'd answers, in the escalation channel."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend

from bot.desk.digest import due
from tests.bot.test_desk_cog import fake_generator, log_unanswered  # noqa: F401 (the fixture)
from tests.bot.test_gaps import WIFI
from tests.bot.test_review import fill_queue

DIGEST = {"digest_weekly": True, "digest_day": "mon", "digest_hour": 9}


@pytest.mark.parametrize("dpy", [DIGEST], indirect=True)
async def test_the_weekly_digest_posts_gaps_queue_shares_and_downvoted_answers(dpy, store):
    channel = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = channel.id
    log_unanswered(store, WIFI)
    fill_queue(store)  # a phrasing, a 👎'd answer, a member's answer
    cog = dpy.get_cog("Desk")
    assert cog.digest_loop is not None and cog.digest_loop.time[0].hour == 9

    posted = await cog.post_digest()
    assert posted is not None and posted.channel.id == channel.id
    text = dpytest.get_message().content
    assert text.startswith("📬 **Weekly digest**")
    assert "6 questions: answered 17% · did you mean 17% · not sure 67%" in text
    assert "• 4× “" in text  # the wifi gap: four askers
    assert "**Review queue**: 3 item(s) — 1 phrasing(s), 1 👎'd answer(s), 1 member answer(s)" in text
    assert "• 1👎 “who won in 2014” → “France.”" in text
    assert dpy.sent_payloads[-1]["allowed_mentions"]["parse"] == []
    cog.digest_loop.cancel()


async def test_the_digest_is_off_unless_asked_for(dpy):
    cog = dpy.get_cog("Desk")
    assert cog.digest_loop is None
    assert await cog.post_digest() is None  # no escalation channel either


def test_the_digest_is_due_on_its_day_and_hour_only():
    monday_9 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert due(monday_9, "mon", 9)
    assert not due(monday_9, "tue", 9) and not due(monday_9, "mon", 10)


class OtherProcess:
    """The same bot as a second process serving the store sees it: its own engine and sessions on the
    store's file, the rest (settings, channels, answerer) alike."""

    def __init__(self, bot, session_factory) -> None:
        self._bot, self.session_factory = bot, session_factory

    def __getattr__(self, name: str):
        return getattr(self._bot, name)


@pytest.mark.parametrize("dpy", [DIGEST], indirect=True)
async def test_two_processes_on_one_store_post_each_weeks_digest_once(dpy, store):
    """Unsharded, both serve the escalation channel and both loops fire at DIGEST_HOUR: the week's claim
    in the store (``storage.digests``) lets one of them post."""
    from bot.discord_app.cogs.desk import Desk
    from storage.db import dispose, engine_of, open_store

    channel = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = channel.id
    log_unanswered(store, WIFI)
    elsewhere = open_store(engine_of(store).url)
    here, there = dpy.get_cog("Desk"), Desk(OtherProcess(dpy, elsewhere))
    try:
        for monday in (datetime(2026, 12, 7, 9, tzinfo=UTC), datetime(2026, 12, 14, 9, tzinfo=UTC)):
            posted = await asyncio.gather(here.post_digest(monday), there.post_digest(monday))
            assert sum(message is not None for message in posted) == 1
            assert dpytest.get_message().content.startswith("📬 **Weekly digest**")
            assert dpytest.verify().message().nothing()  # one digest a week, not one a process
    finally:
        here.digest_loop.cancel()
        dispose(elsewhere)


@pytest.mark.parametrize("dpy", [DIGEST], indirect=True)
async def test_a_digest_that_could_not_be_posted_gives_its_week_back(dpy, store, monkeypatch):
    channel = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = channel.id
    cog, monday = dpy.get_cog("Desk"), datetime(2026, 12, 7, 9, tzinfo=UTC)
    cog_module = sys.modules[type(cog).__module__]  # the extension as loaded (discord.py imports it anew)
    build = cog_module.build_digest

    async def unreachable(*args, **kwargs):
        raise RuntimeError("the store is unreachable")

    monkeypatch.setattr(cog_module, "build_digest", unreachable)
    with pytest.raises(RuntimeError):
        await cog.post_digest(monday)
    monkeypatch.setattr(cog_module, "build_digest", build)
    assert await cog.post_digest(monday) is not None  # the week was given back: posted now
    assert await cog.post_digest(monday) is None  # and once only
    cog.digest_loop.cancel()
