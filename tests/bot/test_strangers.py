"""A stranger's DMs (someone in none of the home guilds, who shares another server with the bot): answered
and logged, then marked (``exchanges.outsider``) and kept out of what the admins review; never escalated.
Not known (Discord cannot say) is no stranger. Discord's verdict is remembered a while."""

from __future__ import annotations

from unittest.mock import AsyncMock, MagicMock

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend
from sqlalchemy import select

from storage.models import Exchange
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import ADMIN_ID, DM, invoke, make_interaction, make_member
from tests.bot.test_did_you_mean import KNOWN
from tests.bot.test_other_guild import home_guild_of


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


async def test_a_strangers_dms_are_answered_but_never_reach_unanswered_nor_the_escalation_channel(dpy, store):
    """A public bot is DMed by people who share any server with it. A stranger's "not sure" questions (in
    none of the home guilds) filled the admins' /unanswered and top questions like a member's DMs."""
    from tests.bot.test_admin import sent_text

    home_guild_of(dpy)
    escalation = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = escalation.id
    stranger = make_interaction(dpy, make_member(666), guild=DM)
    member = make_interaction(dpy, make_member(8), guild=DM)
    await invoke(dpy, "ask", stranger, question="stranger topic?")
    await invoke(dpy, "ask", member, question="member topic?")
    assert "not sure" in sent_text(stranger).lower()  # answered all the same
    with store() as session:
        rows = {e.question: e.outsider for e in session.scalars(select(Exchange))}
    assert rows == {"stranger topic?": True, "member topic?": False}
    assert "member topic" in dpytest.get_message().content  # the one escalation posted
    assert dpytest.verify().message().nothing()
    listing = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "unanswered", listing)
    assert "member topic" in sent_text(listing) and "stranger" not in sent_text(listing)
    listing = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "stats", listing)
    description = listing.followup.send.await_args.kwargs["embed"].description
    assert "member topic" in description and "stranger" not in description


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        OSError(104, "Connection reset by peer"),
        discord.DiscordServerError(MagicMock(status=503), "unavailable"),
        discord.Forbidden(MagicMock(status=403), "missing access"),
    ],
    ids=["timeout", "reset", "5xx", "forbidden"],
)
async def test_when_discord_cannot_say_who_is_a_member_a_dm_is_logged_as_a_members(dpy, store, error):
    """The membership lookup failing (a timeout, a reset connection, a 5xx) lost the exchange: replied to,
    never logged, not votable, and /ask apologised after answering. Not known is no stranger either: a 5xx
    hid a member's question from the admins for good."""
    from tests.bot.test_admin import sent_text

    home = home_guild_of(dpy)
    home.fetch_member = AsyncMock(side_effect=error)
    interaction = make_interaction(dpy, make_member(8), guild=DM)
    await invoke(dpy, "ask", interaction, question="member topic?")
    assert interaction.followup.send.await_count == 1 and "not sure" in sent_text(interaction).lower()
    with store() as session:
        rows = [(e.question, e.outsider) for e in session.scalars(select(Exchange))]
    assert rows == [("member topic?", False)]
    listing = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "unanswered", listing)
    assert "member topic" in sent_text(listing)


async def test_a_strangers_dm_is_left_out_where_no_guild_is_asked_for_too(store):
    """The terminal's /unanswered, /gaps and /stats ask for every exchange (no guilds): a stranger's DMs
    showed there."""
    from bot import async_store
    from tests.bot.test_admin import unanswered

    stranger = await async_store.log_exchange(store, unanswered("stranger topic"), source="discord")
    await async_store.mark_outsider(store, stranger)
    await async_store.log_exchange(store, unanswered("member topic"), source="discord")
    assert [row["question"] for row in await async_store.unanswered(store)] == ["member topic"]
    top = (await async_store.stats(store))["top_questions"]
    assert [q for q, _ in top] == ["member topic"]


async def test_a_strangers_flood_of_dms_costs_one_lookup_not_one_per_message(dpy, store):
    """Each stranger DM asked Discord again whether its author was a member: a flood of DMs from many
    accounts spent the home guild's member lookups. Discord's answer is remembered for a while, and an
    error is not."""
    home = home_guild_of(dpy)
    admins = backend.make_text_channel("admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = admins.id
    for n in range(3):
        await invoke(dpy, "ask", make_interaction(dpy, make_member(666), guild=DM), question=f"spam {n}?")
    assert home.fetch_member.await_count == 1  # the escalation's check; the mark and the rest remember it
    assert dpytest.verify().message().nothing()
    with store() as session:
        assert all(e.outsider for e in session.scalars(select(Exchange)))
    home.fetch_member = AsyncMock(side_effect=TimeoutError())
    for n in range(2):
        await invoke(dpy, "ask", make_interaction(dpy, make_member(8), guild=DM), question=f"member {n}?")
    assert home.fetch_member.await_count == 4  # not known: asked again each time (escalation, mark)


def test_a_verdict_is_forgotten_after_a_minute_and_a_flood_of_users_is_pruned_once_a_minute():
    """A stranger who joins is one only until the verdict expires; past 10,000 users, pruning at every
    verdict made a flood of 30,000 take 20 s of the event loop."""
    from bot.discord_app.rate_limits import Verdicts

    now = [0.0]
    verdicts = Verdicts(ttl_s=60.0, clock=lambda: now[0])
    verdicts.put(42, True)
    assert verdicts.get(42) is True and verdicts.get(7) is None
    now[0] = 60.0
    assert verdicts.get(42) is None
    for user in range(30_000):
        verdicts.put(user, True)
    assert verdicts._pruned == 60.0  # once, at the 10,001st, not 20,000 times
