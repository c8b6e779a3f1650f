"""Learning from members' answers: a trusted member's reply, a ✅ or "Mark as answer" on a question the bot
was not sure about becomes a candidate pair with its provenance, or goes live at once where trusted
answers do; chatter, questions back, follow-ups, edited, deleted or already taught answers teach nothing.
The admins' review of a candidate: ``test_member_answer_review.py``."""

from __future__ import annotations

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend, factories

from bot.discord_app.cogs.community import MARK_COMMAND, OUTCOMES
from tests.bot.fixtures import ADMIN_ID, make_member, react
from tests.bot.member_answers_support import ANSWER, candidates_in, sent, taught, unsure_question
from tests.bot.review_support import interaction_for
from tests.bot.test_escalation import DOG, fake_generator, press_teach, submit  # noqa: F401
from tests.bot.threads_support import install_thread_routes, make_forum, post_in_forum, say


async def test_a_trusted_members_reply_is_proposed_with_its_provenance_and_waits(
    dpy, store, admins, helper, channel
):
    question, _ = await unsure_question(channel, admins)
    first = await say(channel, helper, ANSWER[0], reply_to=question)
    await say(channel, helper, ANSWER[1])  # the same member goes on: one answer
    assert candidates_in(store) == []
    await say(channel, dpytest.get_config().members[2], "thanks both")  # someone else speaks: complete
    [c] = candidates_in(store)
    assert (c.status, c.source, c.question, c.answer) == ("pending", "reply", DOG, "\n".join(ANSWER))
    assert (c.asker_id, c.author_id, c.marked_by) == (str(question.author.id), str(helper.id), None)
    assert c.question_url == question.jump_url and c.answer_url == first.jump_url
    [review] = sent()
    assert review.channel.id == admins.id and f"#{c.id}" in review.content and ANSWER[0] in review.content
    assert dpy.sent_payloads[-1]["allowed_mentions"]["parse"] == []
    assert [b.action for b in dpy.sent_views[-1].children] == ["accept", "edit", "reject"]
    assert (await dpy.answerer.answer(DOG)).unanswered  # waits for an admin


@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_trusted_answers_go_live_at_once(dpy, store, admins, helper, channel):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert (c.status, c.decided_by) == ("accepted", str(helper.id))
    assert (await dpy.answerer.answer(DOG)).text == ANSWER[0]
    told, note = sent()
    assert ANSWER[0] in told.content and told.channel.id == channel.id
    assert note.channel.id == admins.id and "Learned at once" in note.content
    assert all(b.item.disabled for b in dpy.sent_views[-1].children)


async def test_an_untrusted_reply_needs_a_tick_from_the_asker(dpy, store, admins, channel):
    question, _ = await unsure_question(channel, admins)
    asker, member, stranger = dpytest.get_config().members
    reply = await say(channel, member, ANSWER[0], reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == []  # not trusted: a reply alone proposes nothing
    await react(reply, stranger, "✅")  # neither the asker nor trusted
    await react(question, asker, "✅")  # the question itself, marked solved: no answer in it
    assert candidates_in(store) == []
    await react(reply, asker, "✅")
    [c] = candidates_in(store)
    assert (c.source, c.marked_by, c.author_id, c.status) == (
        "reaction",
        str(asker.id),
        str(member.id),
        "pending",
    )
    await react(reply, asker, "✅")  # again: proposed once
    assert len(candidates_in(store)) == 1


async def test_mark_as_answer_command(dpy, store, admins, channel):
    question, _ = await unsure_question(channel, admins)
    asker, member, stranger = dpytest.get_config().members
    reply = await say(channel, member, ANSWER[0], reply_to=question)
    menu = dpy.tree.get_command(MARK_COMMAND, type=discord.AppCommandType.message)
    assert menu.to_dict(dpy.tree)["contexts"] == [0]  # offered in servers only
    cog = dpy.get_cog("Community")
    refused = interaction_for(dpy, make_member(stranger.id))
    await cog.mark_as_answer(refused, reply)
    assert refused.followup.send.await_args.args[0] == OUTCOMES["refused"]
    by_asker = interaction_for(dpy, make_member(asker.id))
    await cog.mark_as_answer(by_asker, reply)
    assert by_asker.followup.send.await_args.args[0] == OUTCOMES["pending"]
    assert by_asker.followup.send.await_args.kwargs["ephemeral"] is True
    [c] = candidates_in(store)
    assert (c.source, c.marked_by) == ("command", str(asker.id))
    bot_reply = interaction_for(dpy, make_member(asker.id))
    await cog.mark_as_answer(bot_reply, (await unsure_question(channel, admins))[1])  # the bot's own post
    assert bot_reply.followup.send.await_args.args[0] == OUTCOMES["invalid"]


async def test_an_admins_tick_is_the_admins_decision(dpy, store, admins, channel):
    question, _ = await unsure_question(channel, admins)
    reply = await say(channel, dpytest.get_config().members[1], ANSWER[0], reply_to=question)
    dpy.settings.admin_user_ids = [ADMIN_ID, dpytest.get_config().members[2].id]
    await react(reply, dpytest.get_config().members[2], "✅")
    [c] = candidates_in(store)
    assert c.status == "accepted" and (await dpy.answerer.answer(DOG)).text == ANSWER[0]


async def test_a_silent_forum_post_learns_a_trusted_members_answer_in_its_thread(
    dpy, store, admins, helper, monkeypatch
):
    install_thread_routes(dpy, monkeypatch)
    forum = make_forum(dpytest.get_config().guilds[0])
    dpy.settings.forum_channel_ids = [forum.id]
    post = await post_in_forum(forum, dpytest.get_config().members[0], "Dogs", DOG)
    sent()  # the escalation
    await say(post, helper, ANSWER[0])  # in the thread, not a reply
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert (c.question, c.answer, c.question_message_id) == (f"Dogs: {DOG}", ANSWER[0], str(post.id))


async def test_a_reply_to_the_bots_not_sure_answers_the_question(dpy, store, admins, helper):
    question = await dpytest.message(f"<@{dpy.user.id}> {DOG}")
    not_sure, _ = sent()  # "not sure", then the escalation
    await say(question.channel, helper, ANSWER[0], reply_to=not_sure)
    await dpy.get_cog("Community").answers.flush()
    [c] = candidates_in(store)
    assert (c.question, c.answer, c.question_message_id) == (DOG, ANSWER[0], str(question.id))


async def test_a_trusted_members_question_back_or_thanks_is_no_answer(dpy, store, admins, helper, channel):
    question, _ = await unsure_question(channel, admins)
    await say(channel, helper, "do you mean in futsal or 11-a-side?", reply_to=question)
    await say(channel, dpytest.get_config().members[0], "11 a side")
    await say(channel, helper, "thanks!", reply_to=question)
    await say(channel, dpytest.get_config().members[0], "hm")
    await say(channel, helper, "idk", reply_to=question)  # a filler: it went live as the answer
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == []


@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_a_trusted_reply_to_chatter_or_a_remark_teaches_nothing(dpy, store, admins, helper, channel):
    # Logged as "not sure" in the open channel (silently), but neither is a question: a trusted member's
    # friendly reply must not become the bot's answer to every "gm everyone".
    for said, reply in (("gm everyone", "gm! kick-off is at 8 tonight"), ("that match was mad", "Messi!!")):
        remark = await dpytest.message(said, channel=channel)
        await say(channel, helper, reply, reply_to=remark)
        await react(remark, helper, "✅")
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == [] and taught(store) == []
    assert (await dpy.answerer.answer("gm everyone")).unanswered


async def test_an_answer_is_learned_as_it_reads_when_marked_not_as_first_posted(dpy, store, admins, channel):
    # A phishing reply edited into a good answer: an admin's ✅ (served at once) on what they see must not
    # teach what was first posted; and a mark is of the one message marked, not the author's next ones.
    question, _ = await unsure_question(channel, admins)
    member, admin = dpytest.get_config().members[1:]
    reply = await say(channel, member, "Free nitro: https://evil.example/claim", reply_to=question)
    more = await say(channel, member, "and more at https://evil.example/more")
    for message, now in ((reply, ANSWER[0]), (more, ANSWER[1])):
        data = factories.make_message_dict(channel, member, id_num=message.id, content=now)
        del data["member"]
        backend.get_state().parse_message_update({**data, "guild_id": channel.guild.id})
    await dpytest.run_all_events()
    dpy.settings.admin_user_ids = [ADMIN_ID, admin.id]
    await react(reply, admin, "✅")
    assert taught(store) == [(DOG, ANSWER[0], "member")]


@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_an_answer_deleted_while_it_settles_is_not_learned(dpy, store, admins, helper, channel):
    # A trusted member takes back a wrong answer within the minute: it went live all the same.
    question, _ = await unsure_question(channel, admins)
    wrong = await say(channel, helper, "Yellow, like the cards.", reply_to=question)
    state, where = backend.get_state(), {"channel_id": channel.id, "guild_id": channel.guild.id}
    state.parse_message_delete({"id": wrong.id, **where})
    await dpytest.run_all_events()
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == []
    await say(channel, helper, ANSWER[0], reply_to=question)
    gone = await say(channel, helper, "(and a second thought, deleted)")
    state.parse_message_delete_bulk({"ids": [gone.id], **where})
    await dpytest.run_all_events()
    await dpy.get_cog("Community").answers.flush()
    assert taught(store) == [(DOG, ANSWER[0], "member")]  # its deleted second message left out


@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_a_question_an_admin_taught_takes_no_members_answer(dpy, store, admins, helper, channel):
    # A trusted member's later reply replaced the admin's taught answer for everyone (and told the asker
    # again): members must not undo an admin's decision.
    question, escalation = await unsure_question(channel, admins)
    admin = make_member(ADMIN_ID)
    modal = (await press_teach(dpy, escalation, admin)).response.send_modal.await_args.args[0]
    await submit(dpy, modal, admin, escalation, answer=ANSWER[0])
    sent()
    await say(channel, helper, "A brown one, I think.", reply_to=question)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == [] and sent() == []
    assert (await dpy.answerer.answer(DOG)).text == ANSWER[0]


@pytest.mark.parametrize("dpy", [{"trust_member_answers": True}], indirect=True)
async def test_an_answer_to_a_follow_up_is_not_learned_alone(dpy, store, admins, helper, channel):
    # "and in 1990?" → "West Germany." taught as a pair of its own is the answer to "and in 1990?" after
    # any question (the Euro, the Olympics...).
    follow_up = await dpytest.message("and in 1990?", channel=channel)
    [escalation] = sent()
    assert escalation.channel.id == admins.id  # the admins still see it, and may Teach it reworded
    await say(channel, helper, "West Germany.", reply_to=follow_up)
    await dpy.get_cog("Community").answers.flush()
    assert candidates_in(store) == [] and taught(store) == []
