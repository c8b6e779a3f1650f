"""The knowledge desk on Discord (``cogs/desk.py``): /gaps with a Teach button per gap, driven through the
real cog, store and answerer on dpytest; slash commands through their callbacks with spec'd interactions."""

from __future__ import annotations

import discord
import pytest

from bot.discord_app.escalation import TeachButton, TeachModal
from storage import repo
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import ADMIN_ID, invoke, make_interaction, make_member
from tests.bot.test_gaps import PARKING, WIFI

KNOWN = [
    {"question": "How long is a football match?", "answer": "90 minutes."},
    {"question": "Who won the 2014 World Cup?", "answer": "Germany."},
]


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


def log_unanswered(store, questions: list[str], *, first_user: int = 100, guild: int = 5151) -> list[int]:
    """Log ``questions`` as Discord exchanges the bot was not sure about, one asker each."""
    ids = []
    with store.begin() as session:
        for i, question in enumerate(questions):
            row = repo.log_exchange(
                session, question=question, answer="I'm not sure about that yet.", model_version="fake-v1",
                confidence=0.1, unanswered=True, latency_ms=1.0, source="discord", guild_id=guild,
                channel_id=77, message_id=9000 + first_user + i, user_id=first_user + i, zone="fallback",
            )  # fmt: skip
            ids.append(row.id)
    return ids


async def test_gaps_lists_each_gap_with_a_teach_button_for_its_latest_question(dpy, store):
    parking = log_unanswered(store, PARKING)
    log_unanswered(store, WIFI, first_user=200)
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "gaps", interaction)

    interaction.response.defer.assert_awaited_once()
    assert interaction.response.defer.await_args.kwargs["ephemeral"] is True
    sends = interaction.followup.send.await_args_list
    summary = sends[0]
    assert summary.args[0].startswith("2 gap(s) from 10 unanswered")
    assert isinstance(summary.kwargs["file"], discord.File) and summary.kwargs["ephemeral"] is True
    first, second = sends[1], sends[2]
    assert first.args[0].startswith("1. 6 askers, 6 questions") and second.args[0].startswith("2. 4 askers")
    [button] = first.kwargs["view"].children
    assert isinstance(button, TeachButton)
    assert (button.exchange_id, button.reply_to) == (parking[-1], 9000 + 100 + len(PARKING) - 1)
    assert all(s.kwargs["ephemeral"] is True for s in sends)

    # The Teach button opens the escalation's form, pre-filled with the gap's latest question.
    press = make_interaction(dpy, make_member(7, manage_guild=True))
    await button.callback(press)
    [modal] = press.response.send_modal.await_args.args
    assert isinstance(modal, TeachModal) and modal.question.default == PARKING[-1]


async def test_gaps_with_nothing_unanswered_says_so(dpy):
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "gaps", interaction)
    [summary] = interaction.followup.send.await_args_list
    assert "Nothing waits" in summary.args[0]


async def test_another_guilds_questions_are_no_gaps_of_the_home_community(dpy, store):
    log_unanswered(store, PARKING)
    log_unanswered(store, WIFI, first_user=200, guild=9999)  # a server anybody made, flooding the desk
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "gaps", interaction)
    sends = interaction.followup.send.await_args_list
    assert sends[0].args[0].startswith("1 gap(s) from 6 unanswered") and len(sends) == 2
    from bot.desk.digest import build_digest

    digest = await build_digest(dpy.answerer, store, guilds=dpy.settings.home_guilds)
    assert (digest.gaps.considered, len(digest.gaps.gaps)) == (6, 1)  # the weekly digest's gaps too
