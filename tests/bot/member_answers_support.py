"""Shared by the tests of members' answers (``test_member_answers.py``, ``test_member_answer_review.py``,
``test_member_answer_runs.py``, ``test_review_paths.py``): an escalation channel, a trusted member and the
open help channel (fixtures, in ``tests/bot/conftest.py``), a question the bot is not sure of, and what the
store and the bot hold after."""

from __future__ import annotations

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend
from sqlalchemy import select

from storage.models import Candidate, TaughtPair

ANSWER = ["Referees do not bring dogs.", "Only the teams and officials are on the pitch."]


@pytest.fixture
def admins(dpy):
    channel = backend.make_text_channel("qabot-admins", dpytest.get_config().guilds[0])
    dpy.settings.escalation_channel_id = channel.id
    return channel


@pytest.fixture
def helper(dpy):
    """members[1], with the trusted "Helper" role."""
    guild = dpytest.get_config().guilds[0]
    role = backend.make_role("Helper", guild)
    member = dpytest.get_config().members[1]
    backend.update_member(member, roles=[role])
    dpy.settings.trusted_role_ids = [role.id]
    return guild.get_member(member.id)


@pytest.fixture
def channel(dpy):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    return channel


def candidates_in(store) -> list[Candidate]:
    with store() as session:
        return list(session.scalars(select(Candidate).order_by(Candidate.id)))


def taught(store) -> list[tuple[str, str, str]]:
    with store() as session:
        return [(p.question, p.answer, p.source) for p in session.scalars(select(TaughtPair))]


def sent() -> list[discord.Message]:
    out = []
    while not dpytest.verify().message().nothing():
        out.append(dpytest.get_message())
    return out


async def unsure_question(channel, admins) -> tuple[discord.Message, discord.Message]:
    """The asker (members[0]) asks what the bot is not sure of: silence, and an escalation post."""
    from tests.bot.test_escalation import DOG  # not at the top: conftest.py imports this module

    question = await dpytest.message(DOG, channel=channel)
    [escalation] = sent()
    assert escalation.channel.id == admins.id
    return question, escalation
