"""👍/👎 reactions become votes; admins correct answers with `!correct` (a reply) and `/correct`."""

from __future__ import annotations

import logging

import discord.ext.test as dpytest
from discord.ext.test import backend, factories
from sqlalchemy import select

from bot.discord_app.cogs.feedback import NOT_AN_ANSWER, SAVED
from bot.discord_app.permissions import REFUSAL
from storage.models import Correction, Feedback
from tests.bot.fixtures import invoke, make_interaction, make_member, react


async def ask(bot, question: str = "Who won the 2014 World Cup?"):
    await dpytest.message(f"<@{bot.user.id}> {question}")
    return dpytest.get_message()


def votes(store) -> list[tuple[str, int]]:
    with store() as session:
        return [(f.user_id, f.vote) for f in session.scalars(select(Feedback).order_by(Feedback.id))]


def corrections(store) -> list[tuple[str, str | None]]:
    with store() as session:
        return [(c.answer, c.admin_id) for c in session.scalars(select(Correction))]


async def reply_to(message, content: str, member) -> None:
    """Send ``content`` as a reply to ``message`` (dpytest's message() cannot set a reference)."""
    data = factories.make_message_dict(message.channel, member, content=content)
    data["message_reference"] = {
        "message_id": message.id,
        "channel_id": message.channel.id,
        "guild_id": message.guild.id,
    }
    data["type"] = 19  # MessageType.reply
    backend.get_state().parse_message_create(data)
    await dpytest.run_all_events()


async def test_reactions_become_votes_and_removing_them_removes_the_vote(dpy, store):
    answer = await ask(dpy)
    voter = dpytest.get_config().members[1]
    await react(answer, voter, "👍")
    assert votes(store) == [(str(voter.id), 1)]
    await react(answer, voter, "👎")  # changing one's mind: still one vote per user
    assert votes(store) == [(str(voter.id), -1)]
    await react(answer, voter, "👍", add=False)  # taking back the old 👍 keeps the 👎
    assert votes(store) == [(str(voter.id), -1)]
    await react(answer, voter, "👎", add=False)
    assert votes(store) == []


async def test_other_emoji_the_bots_own_reactions_and_other_messages_are_not_votes(dpy, store):
    answer = await ask(dpy)
    member = dpytest.get_config().members[1]
    await react(answer, member, "🎉")
    await react(answer, dpy.user, "👍")
    plain = await dpytest.message("not a question")
    await react(plain, member, "👍")
    assert votes(store) == []


async def test_admin_reply_with_correct_stores_a_correction(dpy, store):
    answer = await ask(dpy)
    admin = dpytest.get_config().members[0]
    dpy.settings.admin_user_ids = [admin.id]
    await reply_to(answer, "!correct Germany, beating Argentina 1-0 in the final.", admin)
    assert dpytest.get_message().content == SAVED
    assert corrections(store) == [("Germany, beating Argentina 1-0 in the final.", str(admin.id))]


async def test_a_correction_holding_a_token_is_refused(dpy, store):
    """A correction is served to anyone who asks: a token-shaped secret in it is never saved."""
    answer = await ask(dpy)
    admin = dpytest.get_config().members[0]
    dpy.settings.admin_user_ids = [admin.id]
    token = "M" + "q" * 23 + "." + "r" * 6 + "." + "s" * 27  # built here: no token-shaped literal in the repo
    await reply_to(answer, f"!correct it is {token}", admin)
    reply = dpytest.get_message().content
    assert "holds a secret" in reply and token not in reply and corrections(store) == []


async def test_a_correction_holding_an_api_key_is_refused(dpy, store):
    answer = await ask(dpy)
    admin = dpytest.get_config().members[0]
    dpy.settings.admin_user_ids = [admin.id]
    key = "ghp_" + "a1B2" * 9  # built here: no key-shaped literal in the repo
    await reply_to(answer, f"!correct the key is {key}", admin)
    reply = dpytest.get_message().content
    assert "secret" in reply and key not in reply and corrections(store) == []


async def test_correct_from_a_non_admin_is_refused_and_logged(dpy, store, caplog):
    answer = await ask(dpy)
    someone = dpytest.get_config().members[1]
    with caplog.at_level(logging.WARNING):
        await reply_to(answer, "!correct it was Brazil", someone)
    assert "only the bot's admins" in dpytest.get_message().content
    assert corrections(store) == []
    assert any("refused" in r.message and str(someone.id) in r.message for r in caplog.records)


async def test_correct_must_reply_to_a_logged_answer(dpy, store):
    admin = dpytest.get_config().members[0]
    dpy.settings.admin_user_ids = [admin.id]
    plain = await dpytest.message("hello", member=1)
    await reply_to(plain, "!correct something", admin)
    assert dpytest.get_message().content == NOT_AN_ANSWER
    assert corrections(store) == []


async def test_slash_correct_by_message_id(dpy, store):
    answer = await ask(dpy)
    admin = make_member(4242)  # ADMIN_USER_IDS in the test settings
    interaction = make_interaction(dpy, admin)
    await invoke(dpy, "correct", interaction, message_id=str(answer.id), answer="Germany.")
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)  # before the model
    assert interaction.followup.send.await_args.args[0] == SAVED
    assert interaction.followup.send.await_args.kwargs["ephemeral"] is True
    assert corrections(store) == [("Germany.", "4242")]


async def test_slash_correct_names_a_bad_message_id(dpy, store):
    interaction = make_interaction(dpy, make_member(4242))
    await invoke(dpy, "correct", interaction, message_id="²", answer="Germany.")  # a digit to isdigit()
    assert "must be a message ID" in interaction.response.send_message.await_args.args[0]


async def test_slash_correct_refuses_non_admins(dpy, store):
    answer = await ask(dpy)
    interaction = make_interaction(dpy, make_member(1))
    await invoke(dpy, "correct", interaction, message_id=str(answer.id), answer="Brazil.")
    interaction.response.send_message.assert_awaited_once()
    assert interaction.response.send_message.await_args.args[0] == REFUSAL
    assert interaction.response.send_message.await_args.kwargs["ephemeral"] is True
    assert corrections(store) == []


async def test_a_correction_is_answered_at_once(dpy, store):
    answer = await ask(dpy, "Who won the 2014 World Cup?")
    assert answer.content == "echo: Who won the 2014 World Cup?"  # the model's (wrong) answer
    admin = dpytest.get_config().members[0]
    dpy.settings.admin_user_ids = [admin.id]
    await reply_to(answer, "!correct Germany, beating Argentina 1-0 in the final.", admin)
    assert dpytest.get_message().content == SAVED
    # Before any retrain, the question (reworded too) gets the correction, not the model's old answer.
    again = await ask(dpy, "who won the world cup in 2014")
    assert again.content == (
        "Germany, beating Argentina 1-0 in the final.\n-# closest known question: Who won the 2014 World Cup?"
    )
    reply = await dpy.answerer.answer("Who won the 2014 World Cup?")
    assert reply.answered_by == "correction"


async def test_slash_correct_is_answered_at_once(dpy, store):
    answer = await ask(dpy, "What is offside?")
    interaction = make_interaction(dpy, make_member(4242))
    await invoke(dpy, "correct", interaction, message_id=str(answer.id), answer="A position rule.")
    assert (await dpy.answerer.answer("What is offside?")).text == "A position rule."
