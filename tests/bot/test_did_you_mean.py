"""Answers by zone on Discord: "did you mean" buttons, the sources line, quiet open channels, vote nudges.

The ``FakeGenerator`` here has a lexical retrieval index over ``KNOWN`` and fixed zones, so each question's
zone is decided by the real retrieval and ``training.retrieval.zones.decide``:

- "hat trick?" → answer ("What is a hat trick?", 0.86, far ahead of the rest);
- "football" → suggest (three known questions between 0.56 and 0.62);
- "how long" → suggest (the two "How long…" questions);
- "hello there" → fallback (nothing shared).
"""

from __future__ import annotations

from unittest.mock import AsyncMock

import discord
import discord.ext.test as dpytest
import pytest
from sqlalchemy import select

from bot.discord_app.replies import SUGGEST_TEXT, button_label, question_text, same_question
from bot.discord_app.views import ONLY_ASKER, SuggestionView
from storage.models import Exchange
from tests.bot.fakes import TEST_ZONES, FakeGenerator
from tests.bot.fixtures import make_interaction, react

KNOWN = [
    {"question": "How long is a football match?", "answer": "90 minutes, in two halves of 45."},
    {"question": "How long is half-time in a football match?", "answer": "15 minutes."},
    {"question": "How many players are on a football team?", "answer": "Eleven."},
    {"question": "Who won the 2014 World Cup?", "answer": "Germany."},
    {"question": "What is a hat trick?", "answer": "Three goals by one player in one match."},
]
ZONES = TEST_ZONES
FALLBACK = "I'm not sure about that yet."


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


def exchanges(store) -> list[Exchange]:
    with store() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


def mention(bot) -> str:
    return f"<@{bot.user.id}>"


async def click(bot, view: SuggestionView, label: str, user) -> object:
    """Click the button labelled ``label`` as ``user``, through the view's own dispatch (its checks too)."""
    [button] = [b for b in view.buttons if b.label == label]
    interaction = make_interaction(bot, user)
    await view._scheduled_task(button, interaction)
    return interaction


# -- did you mean ------------------------------------------------------------------------------------


async def test_an_ambiguous_question_gets_one_button_per_suggestion(dpy, store):
    question = await dpytest.message(f"{mention(dpy)} football")
    reply = dpytest.get_message()
    assert reply.content == SUGGEST_TEXT
    assert dpy.sent_payloads[-1]["message_reference"]["message_id"] == question.id
    view = dpy.sent_views[-1]
    assert isinstance(view, SuggestionView) and view.timeout == 300
    assert [b.question for b in view.buttons] == [
        "How long is a football match?",
        "How many players are on a football team?",
        "How long is half-time in a football match?",
    ]
    assert [b.label for b in view.buttons] == [b.question for b in view.buttons]
    [row] = exchanges(store)
    assert (row.zone, row.unanswered, row.reply_message_id) == ("suggest", False, str(reply.id))
    assert row.matched_question == "How long is a football match?"


async def test_the_askers_choice_is_answered_and_logged_with_its_message(dpy, store):
    await dpytest.message(f"{mention(dpy)} how long")
    dpytest.get_message()
    view = dpy.sent_views[-1]
    assert [b.question for b in view.buttons] == [
        "How long is a football match?",
        "How long is half-time in a football match?",
    ]
    asker = dpytest.get_config().members[0]  # dpytest's default author
    interaction = await click(dpy, view, "How long is half-time in a football match?", asker)

    # The buttons are disabled on the message at once, the chosen one marked…
    interaction.response.edit_message.assert_awaited_once()
    assert all(b.disabled for b in view.buttons) and view.is_finished()
    chosen = [b for b in view.buttons if b.style is discord.ButtonStyle.primary]
    assert [b.question for b in chosen] == ["How long is half-time in a football match?"]
    # …and the answer follows, under the chosen question.
    sent = interaction.followup.send.await_args
    assert sent.args[0] == "> How long is half-time in a football match?\n15 minutes."
    assert sent.kwargs["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()
    suggest_row, choice_row = exchanges(store)
    assert choice_row.question == "How long is half-time in a football match?"
    assert choice_row.matched_question == choice_row.question and choice_row.zone == "answer"
    assert choice_row.answer == "15 minutes."
    assert choice_row.reply_message_id == "777"  # the follow-up's id: votes and corrections find it
    assert choice_row.message_id == suggest_row.message_id and choice_row.user_id == str(asker.id)


async def test_the_askers_choice_teaches_their_wording_at_once(dpy, store):
    await dpytest.message(f"{mention(dpy)} how long")
    dpytest.get_message()
    asker = dpytest.get_config().members[0]
    await click(dpy, dpy.sent_views[-1], "How long is half-time in a football match?", asker)
    suggest_row, _ = exchanges(store)
    assert suggest_row.chosen_question == "How long is half-time in a football match?"

    # The next person who words it so gets the answer, not the buttons again.
    await dpytest.message(f"{mention(dpy)} how long?")
    assert dpytest.get_message().content.startswith("15 minutes.")
    assert exchanges(store)[-1].zone == "answer"
    assert exchanges(store)[-1].matched_question == "How long is half-time in a football match?"


async def test_a_thumbs_down_takes_a_learned_wording_back(dpy, store):
    await dpytest.message(f"{mention(dpy)} how long")
    dpytest.get_message()
    asker, other = dpytest.get_config().members[:2]
    await click(dpy, dpy.sent_views[-1], "How long is half-time in a football match?", asker)
    await dpytest.message(f"{mention(dpy)} how long?")
    answer = dpytest.get_message()
    assert answer.content.startswith("15 minutes.")  # the learned wording at work

    await react(answer, other, "👎")  # someone says it was the wrong question
    assert exchanges(store)[0].chosen_question is None  # unlearned in the store too (kept on restart)
    await dpytest.message(f"{mention(dpy)} how long?")
    assert dpytest.get_message().content == SUGGEST_TEXT  # asked back again


async def test_a_wording_picked_again_is_taken_back_again_by_the_same_member(dpy, store):
    """The second 👎 of a member on the same known question changes no vote (it is -1 already), but the
    wording it answered with was picked again: it must be unlearned again, or re-picking beats any 👎."""
    asker, other = dpytest.get_config().members[:2]
    for _ in range(2):
        await dpytest.message(f"{mention(dpy)} how long", member=asker)
        assert dpytest.get_message().content == SUGGEST_TEXT
        await click(dpy, dpy.sent_views[-1], "How long is half-time in a football match?", asker)
        await dpytest.message(f"{mention(dpy)} how long?", member=other)
        answer = dpytest.get_message()
        assert answer.content.startswith("15 minutes.")  # the wording learned (again)
        await react(answer, other, "👎")
        await dpytest.message(f"{mention(dpy)} how long?", member=other)
        assert dpytest.get_message().content == SUGGEST_TEXT  # and taken back
    assert [e.chosen_question for e in exchanges(store) if e.chosen_question] == []


async def test_a_vote_on_a_did_you_mean_moves_no_ranking(dpy, store):
    await dpytest.message(f"{mention(dpy)} football")
    reply = dpytest.get_message()
    assert reply.content == SUGGEST_TEXT
    await react(reply, dpytest.get_config().members[1], "👎")
    assert dpy.answerer.knowledge._nudges == {}  # it offered three questions and answered none


async def test_choices_teach_nothing_when_learning_is_off(dpy, store):
    dpy.answerer.learn_wordings = False
    await dpytest.message(f"{mention(dpy)} how long")
    dpytest.get_message()
    await click(dpy, dpy.sent_views[-1], "How long is a football match?", dpytest.get_config().members[0])
    assert exchanges(store)[0].chosen_question == "How long is a football match?"  # still recorded
    await dpytest.message(f"{mention(dpy)} how long?")
    assert dpytest.get_message().content == SUGGEST_TEXT


async def test_only_the_asker_may_choose(dpy, store):
    await dpytest.message(f"{mention(dpy)} football")
    dpytest.get_message()
    view = dpy.sent_views[-1]
    someone_else = dpytest.get_config().members[1]
    interaction = await click(dpy, view, "How long is a football match?", someone_else)
    interaction.response.send_message.assert_awaited_once()
    assert interaction.response.send_message.await_args.args[0] == ONLY_ASKER
    assert interaction.response.send_message.await_args.kwargs["ephemeral"] is True
    interaction.followup.send.assert_not_awaited()
    assert not any(b.disabled for b in view.buttons) and not view.is_finished()
    assert len(exchanges(store)) == 1  # no choice was logged


async def test_unchosen_buttons_are_disabled_on_the_message_when_they_time_out(dpy):
    await dpytest.message(f"{mention(dpy)} football")
    reply = dpytest.get_message()
    view = dpy.sent_views[-1]
    assert view.message is not None and view.message.id == reply.id
    await view.on_timeout()
    edited = dpy.sent_payloads[-1]["components"]
    assert [c["disabled"] for row in edited for c in row["components"]] == [True, True, True]


async def test_slash_ask_offers_the_buttons_too(dpy, store):
    from tests.bot.fixtures import invoke, make_member

    interaction = make_interaction(dpy, make_member(555))
    await invoke(dpy, "ask", interaction, question="how long")
    sent = interaction.followup.send.await_args
    assert sent.args[0] == f"> how long\n{SUGGEST_TEXT}"
    view = sent.kwargs["view"]
    assert isinstance(view, SuggestionView) and view.asker_id == 555 and len(view.buttons) == 2
    assert view.message is interaction.followup.send.return_value


def test_button_labels_fit_discords_limit():
    long_question = "How many " + "very " * 30 + "long questions?"
    label = button_label(long_question)
    assert len(label) <= 80 and label.endswith("…") and label.startswith("How many very")
    assert button_label("Short?") == "Short?"


# -- sources -----------------------------------------------------------------------------------------


async def test_an_answer_names_the_known_question_it_came_from(dpy):
    await dpytest.message(f"{mention(dpy)} hat trick?")
    assert dpytest.get_message().content == (
        "Three goals by one player in one match.\n-# closest known question: What is a hat trick?"
    )


async def test_no_sources_line_when_the_question_was_asked_as_known(dpy):
    await dpytest.message(f"{mention(dpy)} what is a HAT TRICK")  # case and punctuation differ only
    assert dpytest.get_message().content == "Three goals by one player in one match."


@pytest.mark.parametrize("dpy", [{"show_sources": False}], indirect=True)
async def test_sources_can_be_turned_off(dpy, store):
    await dpytest.message(f"{mention(dpy)} hat trick?")
    assert dpytest.get_message().content == "Three goals by one player in one match."
    [row] = exchanges(store)
    assert row.matched_question == "What is a hat trick?"  # still logged


def test_same_question_ignores_case_punctuation_and_spacing():
    assert same_question("What is a hat-trick?", "what is a hat trick")
    assert not same_question("What is a hat trick?", "What is a hat?")


# -- quiet in open channels ---------------------------------------------------------------------------


async def test_open_channel_chit_chat_gets_no_reply_but_is_logged(dpy, store):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    message = await dpytest.message("hello there", channel=channel)
    assert dpytest.verify().message().nothing()
    [row] = exchanges(store)
    # Logged, but as chat: no question for the admins' queue (``chatter.not_asked``).
    assert (row.question, row.unanswered, row.zone) == ("hello there", False, "chat")
    assert row.reply_message_id is None and row.message_id == str(message.id)


@pytest.mark.parametrize("dpy", [{"user_cooldown_s": 30}], indirect=True)
async def test_chat_the_bot_stays_silent_on_starts_no_cooldown(dpy):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message("hello there", channel=channel)
    assert dpytest.verify().message().nothing()
    await dpytest.message("hat trick?", channel=channel)  # the user's real question is answered
    assert dpytest.get_message().content.startswith("Three goals")
    await dpytest.message(f"{mention(dpy)} hat trick?", channel=channel)  # and a reply starts the window
    assert "again in" in dpytest.get_message().content


@pytest.mark.parametrize("dpy", [{"user_cooldown_s": 30}], indirect=True)
async def test_remarks_nobody_addressed_to_the_bot_are_read_within_a_budget(dpy, store):
    """They start no cooldown, but one member's flood must not keep the model busy for everyone: a few
    are read at once, then one per cooldown; chat costs nothing; a wall of text is not read; a mention is
    answered still."""
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    flooder, other = dpytest.get_config().members[:2]
    for _ in range(3):
        await dpytest.message("lol", channel=channel, member=flooder)  # chat: not counted
    await dpytest.message("lol " * 300, channel=channel, member=flooder)  # but no wall of it either
    for i in range(10):
        await dpytest.message(f"that match was mad part {i}", channel=channel, member=flooder)
    assert dpytest.verify().message().nothing()
    remarks = [e.question for e in exchanges(store) if e.question != "lol"]
    assert remarks == [f"that match was mad part {i}" for i in range(5)]
    wall = "the referee had a shocker in the second half again " * 30  # 1,560 characters
    await dpytest.message(wall, channel=channel, member=other)
    assert not any(e.question.startswith("the referee") for e in exchanges(store))
    await dpytest.message("hat trick?", channel=channel, member=other)  # another member's budget
    assert dpytest.get_message().content.startswith("Three goals")
    await dpytest.message(f"{mention(dpy)} hat trick?", channel=channel, member=flooder)
    assert dpytest.get_message().content.startswith("Three goals")


async def test_open_channel_questions_the_bot_knows_are_answered(dpy):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message("hat trick?", channel=channel)
    assert dpytest.get_message().content.startswith("Three goals")
    await dpytest.message("football", channel=channel)  # a remark nobody addressed to the bot: nothing
    await dpytest.message("football?", channel=channel)  # asked: "did you mean"
    assert dpytest.get_message().content == SUGGEST_TEXT
    assert dpytest.verify().message().nothing()


async def test_a_mention_in_an_open_channel_still_gets_the_fallback(dpy, store):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message(f"{mention(dpy)} hello there", channel=channel)
    assert dpytest.get_message().content == FALLBACK
    [row] = exchanges(store)
    assert (row.unanswered, row.zone) == (False, "chat") and row.reply_message_id is not None


async def test_a_direct_message_still_gets_the_fallback(dpy):
    member = dpytest.get_config().members[0]
    await dpytest.message("hello there", channel=await member.create_dm(), member=member)
    assert dpytest.get_message().content == FALLBACK


async def test_open_channel_messages_of_only_mentions_get_no_notice(dpy, store):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    someone = dpytest.get_config().members[1]
    await dpytest.message(f"{someone.mention} @everyone", channel=channel)
    assert dpytest.verify().message().nothing()
    assert exchanges(store) == []


async def test_mentions_are_removed_before_answering(dpy, store, monkeypatch):
    seen = AsyncMock(side_effect=dpy.answerer.answer)
    monkeypatch.setattr(dpy.answerer, "answer", seen)
    someone = dpytest.get_config().members[1]
    channel = dpytest.get_config().channels[0]
    await dpytest.message(
        f"{mention(dpy)} @everyone {someone.mention} <@&123456789012345678> <#{channel.id}> @here  hat trick?"
    )
    assert seen.await_args.args == ("hat trick?",)
    assert dpytest.get_message().content.startswith("Three goals")
    assert exchanges(store)[0].question == "hat trick?"


def test_question_text_strips_every_kind_of_mention():
    text = "<@1> <@!22> <@&333> <#4444> </ask:55555> <:pog:666666> <a:dance:7> @everyone @here what is VAR?"
    assert question_text(text) == "what is VAR?"
    assert question_text("mail me at someone@everyone.example") == "mail me at someone@everyone.example"


# -- votes nudge the known question -------------------------------------------------------------------


async def test_votes_nudge_the_matched_known_question_by_the_net_change(dpy, monkeypatch):
    nudge = AsyncMock(side_effect=dpy.answerer.nudge)
    monkeypatch.setattr(dpy.answerer, "nudge", nudge)
    await dpytest.message(f"{mention(dpy)} hat trick?")
    answer = dpytest.get_message()
    voter = dpytest.get_config().members[1]
    await react(answer, voter, "👍")
    await react(answer, voter, "👎")  # a switch: -1 - (+1)
    await react(answer, voter, "👍", add=False)  # the 👍 is gone already: no change
    await react(answer, voter, "👎", add=False)
    known = "What is a hat trick?"
    assert [c.args for c in nudge.await_args_list] == [(known, 1), (known, -2), (known, 1)]


async def test_votes_on_an_answer_without_a_known_question_nudge_nothing(dpy, monkeypatch):
    nudge = AsyncMock()
    monkeypatch.setattr(dpy.answerer, "nudge", nudge)
    await dpytest.message(f"{mention(dpy)} hello there")  # matches no known question at all
    fallback = dpytest.get_message()
    await react(fallback, dpytest.get_config().members[1], "👍")
    nudge.assert_not_awaited()
