"""The bot belongs to its home community: Manage Server in another guild is no admin right here, and
another guild's members rank nothing. Each admin command, the Teach button and form, !correct, votes and
"did you mean" choices are tried from another guild and from home."""

from __future__ import annotations

from unittest.mock import AsyncMock, MagicMock

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext import commands
from discord.ext.test import backend
from sqlalchemy import select

from bot.discord_app.escalation import TEACH_REFUSAL, TeachModal
from bot.discord_app.permissions import REFUSAL, NotAdmin, in_community, is_admin
from bot.retrain import RetrainJob
from storage.models import Exchange, TaughtPair
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import (
    ADMIN_ID,
    DM,
    HOME_GUILD_ID,
    command_named,
    invoke,
    make_guild,
    make_interaction,
    make_member,
    react,
)
from tests.bot.test_admin import ADMIN_COMMANDS
from tests.bot.test_did_you_mean import KNOWN, click, mention
from tests.bot.test_escalation import DOG, DOG_ANSWER, press_teach, submit

OTHER_GUILD_ID = 9999
# The knowledge desk (cogs/desk.py).
DESK_COMMANDS = [("gaps", {}), ("review", {}), ("harvest", {"channel": None})]
ALL_ADMIN_COMMANDS = [*ADMIN_COMMANDS, *DESK_COMMANDS, ("correct", {"message_id": "1", "answer": "a."})]


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


def taught(store) -> list[tuple[str, str]]:
    with store() as session:
        return [(p.question, p.answer) for p in session.scalars(select(TaughtPair))]


def other_guild_owner() -> MagicMock:
    """Someone who made their own server, invited the bot, and has every right there."""
    return make_member(666, manage_guild=True, roles=("Coach",))


@pytest.mark.parametrize(("name", "kwargs"), ALL_ADMIN_COMMANDS, ids=[c for c, _ in ALL_ADMIN_COMMANDS])
async def test_manage_server_in_another_guild_is_refused_every_admin_command(dpy, store, name, kwargs):
    dpy.settings.admin_role = "Coach"
    dpy.retrain_job = MagicMock(spec=RetrainJob)
    interaction = make_interaction(dpy, other_guild_owner(), guild=make_guild(OTHER_GUILD_ID))
    await invoke(dpy, name, interaction, **kwargs)
    assert interaction.response.send_message.await_args.args[0] == REFUSAL
    assert interaction.response.send_message.await_args.kwargs["ephemeral"] is True
    interaction.response.defer.assert_not_awaited()
    dpy.retrain_job.start.assert_not_called()
    assert taught(store) == []


@pytest.mark.parametrize(("name", "kwargs"), ALL_ADMIN_COMMANDS, ids=[c for c, _ in ALL_ADMIN_COMMANDS])
@pytest.mark.parametrize(
    "user", [make_member(7, manage_guild=True), make_member(8, roles=("Coach",))], ids=["manage", "role"]
)
async def test_a_home_guild_admin_passes_every_admin_commands_check(dpy, name, kwargs, user):
    dpy.settings.admin_role = "Coach"
    interaction = make_interaction(dpy, user)  # in the home guild
    assert await command_named(dpy, name)._check_can_run(interaction)


async def test_a_home_guild_admin_teaches_and_another_guilds_owner_does_not(dpy, store):
    home = make_interaction(dpy, make_member(7, manage_guild=True))
    await invoke(dpy, "teach", home, question="What is VAR?", answer="The video assistant referee.")
    other = make_interaction(dpy, other_guild_owner(), guild=make_guild(OTHER_GUILD_ID))
    await invoke(dpy, "teach", other, question="Who won the 2014 World Cup?", answer="Claim your prize: x.y")
    assert taught(store) == [("What is VAR?", "The video assistant referee.")]
    assert (await dpy.answerer.answer("Who won the 2014 World Cup?")).text == "Germany."


async def test_admin_user_ids_count_in_any_guild_and_in_dms(dpy):
    for guild in (make_guild(OTHER_GUILD_ID), None):
        assert await is_admin(dpy, make_member(ADMIN_ID), guild)


def home_guild_of(dpy, members: tuple[int, ...] = (7, 8)) -> MagicMock:
    """The home guild as the bot sees it with no members intent: nobody cached, ``members`` found by one
    API call each (7 with Manage Server), anyone else NotFound."""
    home = make_guild()
    home.get_member = MagicMock(return_value=None)  # not cached: one API call
    home.fetch_member = AsyncMock(
        side_effect=lambda uid: (
            make_member(uid, manage_guild=uid == 7)
            if uid in members
            else (_ for _ in ()).throw(discord.NotFound(MagicMock(status=404), "unknown member"))
        )
    )
    dpy.get_guild = MagicMock(side_effect=lambda gid: home if gid == HOME_GUILD_ID else None)
    dpy.settings.home_guild_ids = [HOME_GUILD_ID]  # the one home guild
    return home


async def test_in_a_dm_rights_come_from_the_users_home_guild_membership(dpy):
    home_guild_of(dpy)
    assert await is_admin(dpy, make_member(7), None)  # Manage Server at home
    assert not await is_admin(dpy, make_member(8), None)  # a member at home, no rights
    assert not await is_admin(dpy, other_guild_owner(), None)  # not a member at home
    assert await in_community(dpy, None, 8) and not await in_community(dpy, None, 666)
    interaction = make_interaction(dpy, make_member(7), guild=DM)
    assert await dpy.tree.get_command("stats")._check_can_run(interaction)


async def test_no_home_guild_means_only_admin_user_ids(dpy):
    dpy.settings.home_guild_ids = []
    dpy.settings.dev_guild_id = None
    owner = make_member(7, manage_guild=True)
    assert not await is_admin(dpy, owner, make_guild(HOME_GUILD_ID))
    assert await is_admin(dpy, make_member(ADMIN_ID), make_guild(HOME_GUILD_ID))
    dpy.settings.dev_guild_id = HOME_GUILD_ID  # DEV_GUILD_ID is the home guild when none is named
    assert await is_admin(dpy, owner, make_guild(HOME_GUILD_ID))


async def test_prefix_correct_from_another_guilds_owner_is_refused(dpy):
    cog = dpy.get_cog("Feedback")
    ctx = MagicMock(spec=commands.Context)
    ctx.bot, ctx.author, ctx.guild = dpy, other_guild_owner(), make_guild(OTHER_GUILD_ID)
    with pytest.raises(NotAdmin):
        await cog.cog_check(ctx)
    ctx.author, ctx.guild = make_member(7, manage_guild=True), make_guild()
    assert await cog.cog_check(ctx)


async def test_teach_button_from_another_guilds_owner_is_refused(dpy, store):
    guild = dpytest.get_config().guilds[0]
    dpy.settings.escalation_channel_id = backend.make_text_channel("qabot-admins", guild).id
    await dpytest.message(f"{mention(dpy)} {DOG}")
    dpytest.get_message()
    escalation = dpytest.get_message()

    # An escalation channel can be seen in another guild (a mistaken ESCALATION_CHANNEL_ID, a followed
    # announcement channel): a press there carries that guild's rights, which count for nothing here.
    pressed = await press_teach(dpy, escalation, other_guild_owner(), guild=make_guild(OTHER_GUILD_ID))
    pressed.response.send_modal.assert_not_awaited()
    assert pressed.response.send_message.await_args.args[0] == TEACH_REFUSAL
    home_admin = await press_teach(dpy, escalation, make_member(7, manage_guild=True))
    assert isinstance(home_admin.response.send_modal.await_args.args[0], TeachModal)


async def test_the_teach_form_checks_again_on_submit(dpy, store):
    dpy.settings.escalation_channel_id = backend.make_text_channel(
        "qabot-admins", dpytest.get_config().guilds[0]
    ).id
    await dpytest.message(f"{mention(dpy)} {DOG}")
    dpytest.get_message()
    escalation = dpytest.get_message()
    coach = make_member(8, roles=("Coach",))
    dpy.settings.admin_role = "Coach"
    modal = (await press_teach(dpy, escalation, coach)).response.send_modal.await_args.args[0]
    assert isinstance(modal, TeachModal)
    coach.roles = []  # the role is taken away while the form is open
    submitted = await submit(dpy, modal, coach, escalation, answer=DOG_ANSWER)
    assert submitted.response.send_message.await_args.args[0] == TEACH_REFUSAL
    assert taught(store) == []


async def test_another_guilds_votes_and_choices_change_no_ranking(dpy, store):
    dpy.settings.home_guild_ids = [HOME_GUILD_ID]  # dpytest's guild is now someone else's server
    nudge = AsyncMock(side_effect=dpy.answerer.nudge)
    dpy.answerer.nudge = nudge
    await dpytest.message(f"{mention(dpy)} hat trick?")
    answer = dpytest.get_message()
    await react(answer, dpytest.get_config().members[1], "👎")
    nudge.assert_not_awaited()

    await dpytest.message(f"{mention(dpy)} how long")
    dpytest.get_message()
    asker = dpytest.get_config().members[0]
    await click(dpy, dpy.sent_views[-1], "How long is half-time in a football match?", asker)
    with store() as session:
        assert [e.chosen_question for e in session.scalars(select(Exchange))] == [None] * 3
    assert (await dpy.answerer.answer("how long")).zone == "suggest"  # their wording taught nothing


async def test_leave_other_guilds_leaves_only_foreign_guilds(dpy):
    dpy.settings.leave_other_guilds = True
    foreign, home = make_guild(OTHER_GUILD_ID), make_guild()
    foreign.leave, home.leave = AsyncMock(), AsyncMock()
    await dpy.on_guild_join(foreign)
    await dpy.on_guild_join(home)
    foreign.leave.assert_awaited_once()
    home.leave.assert_not_awaited()
    dpy.settings.leave_other_guilds = False
    await dpy.on_guild_join(foreign)
    foreign.leave.assert_awaited_once()


async def test_another_guilds_unanswered_questions_are_not_escalated(dpy, store):
    guild = dpytest.get_config().guilds[0]
    dpy.settings.escalation_channel_id = backend.make_text_channel("qabot-admins", guild).id
    dpy.settings.home_guild_ids = [HOME_GUILD_ID]  # dpytest's guild is someone else's server
    await dpytest.message(f"{mention(dpy)} {DOG}")
    assert dpytest.get_message().content == "I'm not sure about that yet."  # the asker is still answered
    assert dpytest.verify().message().nothing()  # but the home admins' channel gets nothing


async def test_member_answer_buttons_from_another_guilds_owner_are_refused(dpy, store):
    from bot.discord_app.review import REVIEW_REFUSAL
    from storage import candidates
    from tests.bot.review_support import press

    with store.begin() as session:
        row, _ = candidates.propose(session, question=DOG, answer=DOG_ANSWER, source="reply")
        candidate_id = row.id
    for action in ("accept", "edit", "reject"):
        pressed = await press(
            dpy, action, candidate_id, other_guild_owner(), guild=make_guild(OTHER_GUILD_ID)
        )
        assert pressed.response.send_message.await_args.args[0] == REVIEW_REFUSAL
        pressed.response.send_modal.assert_not_awaited()
    assert taught(store) == []
    home_admin = await press(dpy, "accept", candidate_id, make_member(7, manage_guild=True))
    assert "Accepted by <@7>" in home_admin.edit_original_response.await_args.kwargs["content"]
    assert taught(store) == [(DOG, DOG_ANSWER)]


async def test_another_guilds_answers_and_marks_teach_nothing(dpy, store):
    from discord.ext.test import backend

    from bot.discord_app.cogs.community import OUTCOMES
    from tests.bot.review_support import interaction_for
    from tests.bot.threads_support import say

    guild = dpytest.get_config().guilds[0]
    dpy.settings.home_guild_ids = [HOME_GUILD_ID]  # dpytest's guild is someone else's server
    role = backend.make_role("Helper", guild)
    helper = dpytest.get_config().members[1]
    backend.update_member(helper, roles=[role])
    dpy.settings.trusted_role_ids = [role.id]
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    question = await dpytest.message(DOG, channel=channel)
    reply = await say(channel, guild.get_member(helper.id), DOG_ANSWER, reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    await react(reply, question.author, "✅")
    asker = interaction_for(dpy, make_member(question.author.id), guild=make_guild(guild.id))
    await dpy.get_cog("Community").mark_as_answer(asker, reply)
    assert asker.followup.send.await_args.args[0] == OUTCOMES["refused"]
    with store() as session:
        assert session.scalars(select(Exchange)).first() is not None
        from storage.models import Candidate

        assert list(session.scalars(select(Candidate))) == []


async def test_other_guild_messages_are_not_remembered_for_members_answers(dpy):
    # A public bot reads every server's messages: only the home community's are kept to join an answer
    # written in several messages (others' would be held in memory and push the home channels' out).
    answers = dpy.get_cog("Community").answers
    dpy.settings.home_guild_ids = [HOME_GUILD_ID]  # dpytest's guild is someone else's server
    await dpytest.message("the whole server's chat, kept in the bot's memory")
    assert answers.recent._by_channel == {}


async def test_other_guild_ticks_fetch_nothing(dpy, monkeypatch):
    # Every ✅ in any server the bot is in fetched its message (an API call each) to refuse it afterwards.
    dpy.settings.home_guild_ids = [HOME_GUILD_ID]  # dpytest's guild is someone else's server
    message = await dpytest.message("an answer in someone else's server")
    dpy._connection._messages.clear()  # not in the cache: a ✅ on it would need a fetch
    fetch = AsyncMock(return_value=message)
    monkeypatch.setattr(discord.TextChannel, "fetch_message", fetch)
    await react(message, dpytest.get_config().members[1], "✅")
    fetch.assert_not_awaited()
    dpy.settings.home_guild_ids = [message.guild.id]  # at home, the same ✅ is looked at
    await react(message, dpytest.get_config().members[1], "✅")
    fetch.assert_awaited_once()


async def test_admin_role_given_as_an_id_is_that_role_alone(dpy):
    """ADMIN_ROLE as an id is the README's advice because names can be copied; a role *named* like the id
    (anyone with Manage Roles makes one) counted too. The guild's own id is @everyone's: nobody's right."""
    guild = make_guild()
    mallory = make_member(
        31337, roles=("111122223333444455",)
    )  # role id 1000, named like the admin role's id
    coach = make_member(8, roles=("Coach",))  # role id 1000: the admin role
    for member in (mallory, coach):
        member.guild = guild
    dpy.settings.admin_role = "111122223333444455"
    assert not await is_admin(dpy, mallory, guild)
    dpy.settings.admin_role = "1000"
    assert await is_admin(dpy, coach, guild)
    everyone = MagicMock(spec=discord.Role, id=HOME_GUILD_ID)
    coach.roles = [everyone]
    dpy.settings.admin_role = str(HOME_GUILD_ID)  # the @everyone role every member has
    assert not await is_admin(dpy, coach, guild)


async def test_in_a_dm_an_admin_demoted_since_is_no_admin(dpy):
    """The bot has no members intent: a cached member (say, in a voice channel) keeps the roles of their
    last message. A DM's admin check asks Discord for the member as they are now."""
    home = make_guild()
    home.get_member = MagicMock(return_value=make_member(8, roles=("Coach",)))  # stale: still the Coach
    home.fetch_member = AsyncMock(return_value=make_member(8))  # demoted
    dpy.get_guild = MagicMock(side_effect=lambda gid: home if gid == HOME_GUILD_ID else None)
    dpy.settings.admin_role = "Coach"
    assert not await is_admin(dpy, make_member(8), None)
    home.fetch_member.assert_awaited_once()


async def test_another_guilds_questions_never_reach_unanswered_nor_the_top_questions(dpy, store):
    """A stranger's server (or a flood from it) filled /unanswered's oldest rows for good, and its members'
    words showed in the admins' /stats."""
    from bot import async_store
    from tests.bot.test_admin import admin_interaction, sent_text, unanswered

    for _ in range(3):
        await async_store.log_exchange(
            store, unanswered("stranger topic"), source="discord", guild_id=OTHER_GUILD_ID
        )
    await async_store.log_exchange(store, unanswered("home topic"), source="discord", guild_id=HOME_GUILD_ID)
    await async_store.log_exchange(store, unanswered("dm topic"), source="discord")
    interaction = admin_interaction(dpy)
    await invoke(dpy, "unanswered", interaction)
    text = sent_text(interaction)
    assert "home topic" in text and "dm topic" in text and "stranger" not in text
    interaction = admin_interaction(dpy)
    await invoke(dpy, "stats", interaction)
    description = interaction.followup.send.await_args.kwargs["embed"].description
    assert "home topic" in description and "stranger" not in description
