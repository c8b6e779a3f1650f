"""The weekly digest (``bot.desk.digest``, posted by the desk cog with ``DIGEST_WEEKLY``): the week's gaps,
the review queue's length, answer shares and the most 👎'd answers, in the escalation channel."""

from __future__ import annotations

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
