"""An admin decides a member's answer: Accept / Edit / Reject on its review post (pressed as discord.py
dispatches a registered dynamic item after a restart), for admins only and once; an accepted one is served
at once and told to the asker, pinging only them, and its escalation post is closed; an answer longer than
the post shows is read whole before it is accepted. How candidates are proposed: ``test_member_answers.py``.
"""

from __future__ import annotations

import discord.ext.test as dpytest

from bot.discord_app.review import REVIEW_REFUSAL, CandidateModal
from tests.bot.fixtures import ADMIN_ID, make_interaction, make_member, react
from tests.bot.member_answers_support import ANSWER, candidates_in, sent, taught, unsure_question
from tests.bot.review_support import interaction_for, press
from tests.bot.test_escalation import DOG, fake_generator  # noqa: F401
from tests.bot.threads_support import say


async def test_accept_serves_it_at_once_and_tells_only_the_asker(dpy, store, admins, helper, channel):
    question, escalation = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    [review] = sent()
    pressed = await press(dpy, "accept", c.id, make_member(ADMIN_ID), message=review)
    # The question's escalation post says so, and its Teach button is disabled: no admin teaches it again.
    closing = next(p for p in dpy.sent_payloads if "Answered by a member's answer" in p.get("content", ""))
    assert closing["content"].startswith(escalation.content)
    assert closing["components"][0]["components"][0]["disabled"] is True
    assert taught(store) == [(DOG, ANSWER[0], "member")]
    answer = await dpy.answerer.answer("what colour is the referees dog")
    assert (answer.text, answer.answered_by) == (ANSWER[0], "taught")
    [told] = sent()
    assert told.channel.id == channel.id and ANSWER[0] in told.content
    payload = next(
        p for p in dpy.sent_payloads if ANSWER[0] in p.get("content", "") and "answered now" in p["content"]
    )
    assert payload["message_reference"]["message_id"] == question.id
    assert payload["allowed_mentions"] == {"parse": [], "replied_user": True}
    edit = pressed.edit_original_response.await_args.kwargs
    assert f"Accepted by <@{ADMIN_ID}>" in edit["content"]
    assert all(b.item.disabled for b in edit["view"].children)
    assert candidates_in(store)[0].decided_by == str(ADMIN_ID)
    # Answered: a later reply to the same question proposes nothing, and a Teach would be refused.
    await say(channel, helper, "Also: no cats.", reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    assert len(candidates_in(store)) == 1 and c.exchange_id in dpy.taught_exchanges


async def test_edit_accepts_the_admins_wording(dpy, store, admins, helper, channel):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, "nah no dogs lol", reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    [review] = sent()
    admin = make_member(ADMIN_ID)
    modal = (await press(dpy, "edit", c.id, admin, message=review)).response.send_modal.await_args.args[0]
    assert isinstance(modal, CandidateModal) and modal.answer.default == "nah no dogs lol"
    interaction = make_interaction(dpy, admin)
    interaction.message = review
    fields = [(modal.question, "Can a referee bring a dog?"), (modal.answer, ANSWER[0])]
    data = [{"type": 1, "components": [{"type": 4, "custom_id": f.custom_id, "value": v}]} for f, v in fields]
    await modal._scheduled_task(interaction, data, {})
    assert taught(store) == [("Can a referee bring a dog?", ANSWER[0], "member")]
    # The asker's own wording is answered as the admin's too.
    assert (await dpy.answerer.answer(DOG)).text == ANSWER[0]


async def test_a_token_shaped_secret_in_the_edit_form_teaches_nothing(dpy, store, admins, helper, channel):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    [review] = sent()
    admin = make_member(ADMIN_ID)
    modal = (await press(dpy, "edit", c.id, admin, message=review)).response.send_modal.await_args.args[0]
    interaction = interaction_for(dpy, admin)
    token = "MTA4NzY1NDMyMTA5ODc2NTQz" + "." + "GhT3xQ" + "." + "k9Zb2-Lr_7vQeWx1NcPa0sYdF4uJmH8tRgE"
    data = [{"type": 1, "components": [{"type": 4, "custom_id": modal.answer.custom_id, "value": token}]}]
    await modal._scheduled_task(interaction, data, {})
    assert "holds a secret" in interaction.response.send_message.await_args.args[0]
    assert taught(store) == [] and candidates_in(store)[0].status == "pending"


async def test_reject_teaches_nothing_and_a_second_click_is_told(dpy, store, admins, helper, channel):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    sent()
    await press(dpy, "reject", c.id, make_member(ADMIN_ID))
    assert candidates_in(store)[0].status == "rejected" and taught(store) == []
    late = await press(dpy, "accept", c.id, make_member(ADMIN_ID))
    assert "decided already" in late.followup.send.await_args.args[0]


async def test_the_buttons_are_for_admins_only(dpy, store, admins, helper, channel):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    for action in ("accept", "edit", "reject"):
        pressed = await press(dpy, action, c.id, make_member(helper.id))
        assert pressed.response.send_message.await_args.args[0] == REVIEW_REFUSAL
    assert candidates_in(store)[0].status == "pending"


async def test_an_answer_longer_than_the_review_post_shows_is_read_whole_before_it_is_accepted(
    dpy, store, admins, channel
):
    # 1,300 innocent characters, then a phishing link: the post shows 1,200, so Accept as is would teach
    # what no admin saw. Accept is off; Edit shows (and keeps) the whole answer.
    question, _ = await unsure_question(channel, admins)
    asker, member, _ = dpytest.get_config().members
    long = (
        "Referees never bring dogs onto the pitch. " * 31
        + "\nDetails: [discord.gg/fifa](https://evil.example/claim)"
    )
    reply = await say(channel, member, long, reply_to=question)
    await react(reply, asker, "✅")
    [c] = candidates_in(store)
    assert c.status == "pending" and c.answer.endswith("(https://evil.example/claim)")
    [post] = sent()
    assert "longer than shown here" in post.content and "evil.example" not in post.content
    assert [b.item.disabled for b in dpy.sent_views[-1].children] == [True, False, False]
    modal = (await press(dpy, "edit", c.id, make_member(ADMIN_ID), message=post)).response
    assert modal.send_modal.await_args.args[0].answer.default == c.answer


async def test_a_members_answer_accepted_in_review_is_told_to_its_asker(dpy, store, admins, helper, channel):
    # /review's Accept taught it, but the asker was never told and the escalation kept its Teach button.
    from bot.discord_app.review_views import ReviewButton
    from tests.bot.test_review import press as press_in_review

    question, escalation = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    sent()
    await press_in_review(dpy, ReviewButton("accept", f"candidate:{c.id}"), make_member(ADMIN_ID))
    assert taught(store) == [(DOG, ANSWER[0], "member")]
    [told] = sent()
    assert told.channel.id == channel.id and "answered now" in told.content
    assert dpy.sent_payloads[-1]["allowed_mentions"] == {"parse": [], "replied_user": True}
    assert any("Answered by a member's answer" in p.get("content", "") for p in dpy.sent_payloads)


def test_the_review_post_of_the_longest_candidate_fits_one_message_with_its_note():
    from bot.discord_app.review import review_text

    big, url = 10**18 + 7, "https://discord.com/channels/" + "/".join([str(10**18 + 7)] * 3)
    c = dict(id=99999, source="reaction", question="*" * 1000, answer="_" * 4000, question_url=url,
             answer_url=url, author_id=big, asker_id=big, marked_by=big)  # fmt: skip
    text = review_text(c)
    assert len(text) <= 2000 and text.endswith("(Accept is off).")
