"""Answering on Discord through dpytest: mentions, DMs, channels, cooldown, splitting, no pings."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend
from sqlalchemy import select

from bot.answering.answer_path import SECRET_WARNING
from bot.discord_app.cogs.ask import BUSY_TEXT, ERROR_TEXT
from bot.discord_app.rate_limits import RemarkBudget
from storage import repo
from storage.models import Exchange, Feedback
from tests.bot.fixtures import make_interaction, react
from training.data.limits import MAX_ANSWER_CHARS


def exchanges_in(store) -> list[Exchange]:
    with store() as session:
        return list(session.scalars(select(Exchange).order_by(Exchange.id)))


def mention(bot) -> str:
    return f"<@{bot.user.id}>"


async def test_mention_is_answered_in_a_reply_and_logged(dpy, store):
    question = await dpytest.message(f"{mention(dpy)} Who won the 2014 World Cup?")
    reply = dpytest.get_message()
    assert reply.content == "echo: Who won the 2014 World Cup?"
    assert dpy.sent_payloads[-1]["message_reference"]["message_id"] == question.id  # a reply
    # …that still goes out (and is logged) if the question is deleted meanwhile
    assert dpy.sent_payloads[-1]["message_reference"]["fail_if_not_exists"] is False
    [row] = exchanges_in(store)
    assert row.question == "Who won the 2014 World Cup?"  # the mention is not part of the question
    assert row.answer == reply.content
    assert row.source == "discord"
    assert row.model_version == "fake-v1"
    assert row.confidence == pytest.approx(0.9)
    assert row.unanswered is False
    assert row.latency_ms is not None and row.latency_ms >= 0
    assert row.reply_message_id == str(reply.id)
    assert row.message_id == str(question.id)
    assert row.user_id == str(question.author.id)
    assert row.guild_id == str(question.guild.id)


async def test_direct_message_is_answered(dpy, store):
    member = dpytest.get_config().members[0]
    dm = await member.create_dm()
    await dpytest.message("How many players are on a team?", channel=dm, member=member)
    assert dpytest.get_message().content == "echo: How many players are on a team?"
    [row] = exchanges_in(store)
    assert row.guild_id is None


async def test_plain_message_outside_allowed_channels_is_ignored(dpy, store):
    await dpytest.message("just chatting")
    assert dpytest.verify().message().nothing()
    assert exchanges_in(store) == []


async def test_every_message_in_an_allowed_channel_is_answered(dpy):
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    await dpytest.message("What is offside?", channel=channel)
    assert dpytest.get_message().content == "echo: What is offside?"


async def test_a_secret_pasted_in_a_channel_is_warned_about_once_even_in_a_remark(dpy, store):
    """Everyone in the channel can read a pasted key: its owner is told to delete it and reset it, even
    where the bot says nothing to a remark; the store keeps it masked."""
    channel = dpytest.get_config().channels[0]
    dpy.settings.allowed_channel_ids = [channel.id]
    key = "ghp_" + "a1B2c3D4" * 5
    await dpytest.message(f"ok here is the repo key {key} lol", channel=channel)
    assert dpytest.get_message().content == SECRET_WARNING
    replies = []
    while not dpytest.sent_queue.empty():
        replies.append(dpytest.get_message().content)
    assert SECRET_WARNING not in replies  # said once (the fake model echoes the rest)
    assert [key in r.question for r in exchanges_in(store)] == [False]
    await dpytest.message(f"again {key}", channel=channel)  # within a minute: no flood of warnings
    assert dpytest.get_message().content != SECRET_WARNING


@pytest.mark.parametrize(
    "text",
    [
        "key ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3h who",  # warned and masked
        "key ghp_aB3d\x01E5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3h who",  # a control character inside: read as a space
        "tok MTA4NzY1NDMyMTA5_ODc2NTQzMg.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456",  # no bot id: neither
    ],
)
async def test_a_secret_is_warned_about_exactly_when_it_is_stored_masked(dpy, store, text):
    """The warning and the store read secrets with one rule: never "delete it" about what is then kept."""
    await dpytest.message(f"{mention(dpy)} {text}")
    replies = []
    while not dpytest.sent_queue.empty():
        replies.append(dpytest.get_message().content)
    [row] = exchanges_in(store)
    assert (SECRET_WARNING in replies) == ("[secret]" in row.question)
    assert ("[secret]" in row.question) == text.startswith("key ghp_aB3dE5")


async def test_a_warning_that_cannot_be_sent_loses_no_answer(dpy, store, monkeypatch):
    """The member (or a moderation bot) deleted the message first: the answer still goes out and is logged;
    another channel gets a warning of its own within the minute."""
    send = discord.abc.Messageable.send

    async def refused(self, content=None, **kwargs):
        if content == SECRET_WARNING:
            raise discord.HTTPException(SimpleNamespace(status=404, reason="Not Found"), "Unknown Message")
        return await send(self, content, **kwargs)

    monkeypatch.setattr(discord.abc.Messageable, "send", refused)
    key = "ghp_" + "a1B2c3D4" * 5
    await dpytest.message(f"{mention(dpy)} why does {key} fail")
    assert dpytest.get_message().content.startswith("echo: why does")
    assert len(exchanges_in(store)) == 1
    monkeypatch.setattr(discord.abc.Messageable, "send", send)
    other = backend.make_text_channel("other", dpytest.get_config().guilds[0])
    await dpytest.message(f"{mention(dpy)} and {key}", channel=other)
    assert dpytest.get_message().content == SECRET_WARNING


@pytest.mark.parametrize("dpy", [{"user_cooldown_s": 60}], indirect=True)
async def test_cooldown_is_answered_with_a_short_notice(dpy, store):
    await dpytest.message(f"{mention(dpy)} first question")
    assert dpytest.get_message().content == "echo: first question"
    await dpytest.message(f"{mention(dpy)} second question")
    notice = dpytest.get_message().content
    assert "again in" in notice and len(notice) < 100
    # another user is not slowed down by the first one
    await dpytest.message(f"{mention(dpy)} other user", member=1)
    assert dpytest.get_message().content == "echo: other user"
    assert [r.question for r in exchanges_in(store)] == ["first question", "other user"]


def test_the_remark_budget_allows_a_burst_then_one_per_cooldown():
    now = [0.0]
    budget = RemarkBudget(per_s=5, burst=3, clock=lambda: now[0])
    assert [budget.take(1) for _ in range(4)] == [True, True, True, False]
    assert budget.take(2)  # per user
    now[0] = 4.9
    assert not budget.take(1)
    now[0] = 5.0
    assert budget.take(1) and not budget.take(1)
    now[0] = 1000.0  # refilled to the burst, no more
    assert [budget.take(1) for _ in range(4)] == [True, True, True, False]
    assert all(RemarkBudget(per_s=0).take(1) for _ in range(100))  # no cooldown set: no budget


def test_the_remark_budget_forgets_idle_members_without_a_quadratic_cost():
    now = [0.0]
    budget = RemarkBudget(per_s=5, burst=3, clock=lambda: now[0])
    for user in range(20_000):  # a raid: every take past 10,000 members used to rebuild the table
        now[0] += 0.0005
        budget.take(user)
    assert len(budget._left) == 20_000  # all active within one refill: none forgotten yet
    now[0] += 15.0
    budget.take(-1)
    assert len(budget._left) == 1  # a full refill later, the idle ones go at once


async def test_long_answer_is_split_into_messages_under_2000_characters(dpy, store, fake_generator):
    long_answer = "Football is played by two teams of eleven players. " * 75  # ~3800 characters
    fake_generator.answers["tell me everything"] = long_answer.strip()
    await dpytest.message(f"{mention(dpy)} tell me everything")
    pieces = [dpytest.get_message() for _ in range(2)]
    assert dpytest.verify().message().nothing()
    assert all(len(p.content) <= 2000 for p in pieces)
    assert all(p.content.endswith("players.") for p in pieces)  # cut at sentence ends
    assert " ".join(p.content for p in pieces) == long_answer.strip()
    assert "message_reference" in dpy.sent_payloads[0]  # the first piece replies to the question
    assert all("message_reference" not in p for p in dpy.sent_payloads[1:])
    [row] = exchanges_in(store)
    assert row.reply_message_id == str(pieces[0].id)
    # A 👎 on the second message counts for the answer (it was lost: only the first is logged).
    await react(pieces[1], dpytest.get_config().members[1], "👎")
    with store() as session:
        assert [f.vote for f in session.scalars(select(Feedback))] == [-1]


async def test_a_huge_stored_answer_is_cut_to_two_or_three_messages(dpy, store, fake_generator):
    """An answer taught or imported before answers had a limit (104 KB was 53 messages per ask)."""
    fake_generator.answers["tell me everything"] = "Football is played by two teams of eleven. " * 2500
    await dpytest.message(f"{mention(dpy)} tell me everything")
    pieces = []
    while not dpytest.verify().message().nothing():
        pieces.append(dpytest.get_message().content)
    assert 2 <= len(pieces) <= 3 and pieces[-1].endswith("…")
    assert sum(map(len, pieces)) <= MAX_ANSWER_CHARS + 2


async def test_mentions_are_not_part_of_the_question_and_nothing_sent_pings(dpy, store, fake_generator):
    someone = dpytest.get_config().members[1]
    channel = dpytest.get_config().channels[0]
    # The answer itself holds @everyone, a role and a user: sent as text, it must still ping nobody.
    fake_generator.answers["hello"] = f"@everyone @here <@&123456789012345678> {someone.mention} hi"
    text = f"@everyone @here <@&123456789012345678> {someone.mention} <#{channel.id}> hello"
    await dpytest.message(f"{mention(dpy)} {text}")
    reply = dpytest.get_message()
    assert fake_generator.batches == [["hello"]]  # what the model saw: no mention of any kind
    [row] = exchanges_in(store)
    assert row.question == "hello"
    assert "@everyone" in reply.content  # the answer is sent as it is…
    assert dpy.sent_payloads, "no message was sent"
    for payload in dpy.sent_payloads:  # …but nothing in it may ping
        allowed = payload["allowed_mentions"]
        assert allowed["parse"] == []
        assert not allowed.get("users") and not allowed.get("roles")
        assert allowed.get("replied_user", False) is False


async def test_client_default_allows_no_mentions(answerer, store):
    from bot.discord_app.client import QABot
    from tests.bot.fixtures import make_settings

    bot = QABot(settings=make_settings(), answerer=answerer, session_factory=store, retrain_job=None)
    assert bot.allowed_mentions.to_dict() == discord.AllowedMentions.none().to_dict()
    assert bot.intents.message_content


async def test_bots_and_itself_are_ignored(dpy, store):
    config = dpytest.get_config()
    await dpytest.message(f"{mention(dpy)} from myself", member=config.guilds[0].me)
    other_bot = config.members[2]
    other_bot._user.bot = True
    await dpytest.message(f"{mention(dpy)} from a bot", member=other_bot)
    assert dpytest.verify().message().nothing()
    assert exchanges_in(store) == []


async def test_low_confidence_gets_the_fallback_and_is_queued(dpy, store, fake_generator):
    fake_generator.confidence = 0.1  # below the generator's threshold of 0.5
    await dpytest.message(f"{mention(dpy)} What colour is the referee's dog?")
    reply = dpytest.get_message()
    assert reply.content == "I'm not sure about that yet."
    [row] = exchanges_in(store)
    assert row.unanswered is True
    with store() as session:
        assert [e.id for e in repo.unanswered_queue(session)] == [row.id]


async def test_a_database_failure_never_costs_the_answer(dpy, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(repo, "log_exchange", broken)
    await dpytest.message(f"{mention(dpy)} still there?")
    assert dpytest.get_message().content == "echo: still there?"


async def test_a_failing_model_gets_an_apology_not_a_crash(dpy, fake_generator, monkeypatch):
    def broken(questions, config=None):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(fake_generator, "generate", broken)
    await dpytest.message(f"{mention(dpy)} anything")
    assert dpytest.get_message().content == ERROR_TEXT

    def refuses(questions, config=None):  # a ValueError is a failure too, not "ask me a question"
        raise ValueError("input ids too long for position embeddings")

    monkeypatch.setattr(fake_generator, "generate", refuses)
    await dpytest.message(f"{mention(dpy)} anything else")
    assert dpytest.get_message().content == ERROR_TEXT
    monkeypatch.undo()  # the model recovers
    await dpytest.message(f"{mention(dpy)} and now?")
    assert dpytest.get_message().content == "echo: and now?"


async def test_slash_ask_defers_then_answers_and_logs(dpy, store):
    from tests.bot.fixtures import invoke, make_member

    interaction = make_interaction(dpy, make_member(555))
    await invoke(dpy, "ask", interaction, question="What is a hat trick?")
    interaction.response.defer.assert_awaited_once()
    sent = interaction.followup.send.await_args
    assert "echo: What is a hat trick?" in sent.args[0]
    assert sent.kwargs["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()
    [row] = exchanges_in(store)
    assert row.reply_message_id == "777" and row.user_id == "555"


async def test_slash_ask_with_a_secret_masks_its_quote_and_tells_the_asker_alone(dpy, store):
    from bot.discord_app.cogs.ask import ASK_SECRET_WARNING
    from tests.bot.fixtures import invoke, make_member

    key = "ghp_" + "a1B2c3D4" * 5
    interaction = make_interaction(dpy, make_member(555))
    await invoke(dpy, "ask", interaction, question=f"why does {key} fail")
    answer, warning = interaction.followup.send.await_args_list
    assert answer.args[0].startswith("> why does [secret] fail") and not answer.kwargs.get("ephemeral")
    assert warning.args == (ASK_SECRET_WARNING,) and warning.kwargs["ephemeral"] is True


async def test_a_slash_ask_that_fails_still_tells_the_asker_of_their_secret(dpy, monkeypatch):
    from bot.answering.answerer import AnswererBusy
    from bot.discord_app.cogs.ask import ASK_SECRET_WARNING
    from tests.bot.fixtures import invoke, make_member

    async def full(question, **kwargs):
        raise AnswererBusy("1 questions are waiting already")

    monkeypatch.setattr(dpy.answerer, "answer", full)
    interaction = make_interaction(dpy, make_member(555))
    await invoke(dpy, "ask", interaction, question="why does " + "ghp_" + "a1B2c3D4" * 5 + " fail")
    busy, warning = interaction.followup.send.await_args_list
    assert busy.args == (BUSY_TEXT,) and warning.args == (ASK_SECRET_WARNING,)
    assert warning.kwargs["ephemeral"] is True


async def test_a_failed_slash_ask_ends_with_an_apology_not_thinking_forever(dpy, monkeypatch):
    from tests.bot.fixtures import invoke, make_member

    interaction = make_interaction(dpy, make_member(555))
    interaction.response.is_done.return_value = True  # deferred: what follows is a follow-up
    interaction.followup.send.side_effect = [RuntimeError("400 Bad Request"), None]  # the answer refused
    await invoke(dpy, "ask", interaction, question="What is a hat trick?")
    assert interaction.followup.send.await_args.args[0] == ERROR_TEXT


async def test_a_full_queue_gets_busy_not_an_apology(dpy, monkeypatch):
    from bot.answering.answerer import AnswererBusy

    async def full(question, **kwargs):  # what the answerer says past MAX_QUEUE (test_answer_path)
        raise AnswererBusy("1 questions are waiting already")

    monkeypatch.setattr(dpy.answerer, "answer", full)
    await dpytest.message(f"{mention(dpy)} anything")
    assert dpytest.get_message().content == BUSY_TEXT


async def test_a_failed_answer_logs_its_question_with_secrets_masked_before_the_cut(
    dpy, fake_generator, monkeypatch, caplog
):
    """The log quotes the question's first 200 characters: a key cut there would leak its start."""

    def broken(questions, config=None):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(fake_generator, "generate", broken)
    key = "ghp_abcdefghijklmnop" + "qrstuvwxyz0123456789"
    await dpytest.message(f"{mention(dpy)} {'why ' * 45}{key}")  # the key straddles character 200
    assert dpytest.get_message().content == SECRET_WARNING  # said first: the key is out in the channel
    assert dpytest.get_message().content == ERROR_TEXT
    assert "answerer failed on" in caplog.text and "ghp_" not in caplog.text
