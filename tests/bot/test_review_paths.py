"""The two ways to decide a member's answer agree: accepting it from ``/review`` (the desk's buttons) does
what the escalation channel's review post does (``bot.discord_app.review``): served at once, the asker's
own wording answered as an admin's edit, the asker told, the question's escalation post closed; and
either way it is decided once."""

from __future__ import annotations

import discord.ext.test as dpytest

from tests.bot.fixtures import ADMIN_ID, make_interaction, make_member
from tests.bot.member_answers_support import ANSWER, candidates_in, sent, taught, unsure_question
from tests.bot.test_escalation import DOG, fake_generator  # noqa: F401
from tests.bot.test_review import press, review_buttons
from tests.bot.threads_support import say


async def test_an_edit_from_review_is_served_told_and_closed_like_the_escalation_post(
    dpy,
    store,
    admins,
    helper,
    channel,
):
    question, escalation = await unsure_question(channel, admins)
    await say(channel, helper, "nah no dogs lol", reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    sent()  # the escalation channel's own review post
    admin = make_member(ADMIN_ID)
    buttons = await review_buttons(dpy, admin)
    pressed = await press(dpy, buttons[f"candidate:{c.id}"]["edit"], admin)
    [modal] = pressed.response.send_modal.await_args.args
    submit = make_interaction(dpy, admin)
    submit.message = None
    fields = [(modal.question, "Can a referee bring a dog?"), (modal.answer, ANSWER[0])]
    data = [{"type": 1, "components": [{"type": 4, "custom_id": f.custom_id, "value": v}]} for f, v in fields]
    await modal._scheduled_task(submit, data, {})
    assert taught(store) == [("Can a referee bring a dog?", ANSWER[0], "member")]
    assert (await dpy.answerer.answer(DOG)).text == ANSWER[0]  # the asker's own wording too
    [told] = sent()
    assert told.channel.id == channel.id and "answered now" in told.content
    assert any("Answered by a member's answer" in p.get("content", "") for p in dpy.sent_payloads)
    assert c.exchange_id in dpy.taught_exchanges
    # The escalation channel's Accept on the same candidate is told it was decided: no second pair.
    again = await press(dpy, buttons[f"candidate:{c.id}"]["accept"], admin)
    assert "no longer waiting" in again.followup.send.await_args.args[0]
    assert len(taught(store)) == 1 and dpytest.verify().message().nothing()
