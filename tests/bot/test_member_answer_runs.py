"""What a member's answer is made of: a mark (✅, "Mark as answer") takes the message marked and nothing its
author sends next; a trusted member's reply joins their next few messages, never one with a link."""

from __future__ import annotations

import discord.ext.test as dpytest
import pytest

from bot.desk.harvest import MAX_JOINED
from tests.bot.fixtures import ADMIN_ID, make_member, react
from tests.bot.member_answers_support import ANSWER, candidates_in, sent, taught, unsure_question
from tests.bot.review_support import interaction_for
from tests.bot.test_escalation import DOG, fake_generator  # noqa: F401
from tests.bot.threads_support import say


@pytest.mark.parametrize("how", ["✅ by an admin", "Mark as answer by the asker"])
async def test_a_mark_takes_only_the_marked_message_not_what_its_author_sends_next(
    dpy,
    store,
    admins,
    channel,
    how,
):
    # An admin's ✅ (served at once) on a good reply learned the phishing line its author sent right after.
    question, _ = await unsure_question(channel, admins)
    asker, member, admin = dpytest.get_config().members
    reply = await say(channel, member, ANSWER[0], reply_to=question)
    await say(channel, member, "claim your free tickets: https://evil.example/claim")
    await say(channel, member, ANSWER[1])
    if how.startswith("✅"):
        dpy.settings.admin_user_ids = [ADMIN_ID, admin.id]
        await react(reply, admin, "✅")
        assert taught(store) == [(DOG, ANSWER[0], "member")]
    else:
        await dpy.get_cog("Community").mark_as_answer(interaction_for(dpy, make_member(asker.id)), reply)
    [c] = candidates_in(store)
    assert c.answer == ANSWER[0]


async def test_a_trusted_members_answer_joins_no_link_and_at_most_a_few_messages(
    dpy,
    store,
    admins,
    helper,
    channel,
):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await say(channel, helper, ANSWER[1])
    await say(channel, helper, "more here: [fifa.com](https://evil.example/claim)")  # ends the answer
    await say(channel, helper, "Assistant referees neither.")
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store)[0].answer == "\n".join(ANSWER)
    # One member typing on and on: the answer is their first MAX_JOINED messages.
    sent()
    again = await dpytest.message("Can a referee bring a cat?", channel=channel)
    assert sent()[0].channel.id == admins.id  # not sure either: escalated
    lines = [f"Rule {i}: no dogs on the pitch." for i in range(MAX_JOINED + 2)]
    await say(channel, helper, lines[0], reply_to=again)
    for line in lines[1:]:
        await say(channel, helper, line)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store)[-1].answer == "\n".join(lines[:MAX_JOINED])
