"""Learning from members' answers: a trusted member's reply, a ✅ or "Mark as answer" on a question the bot
was not sure about becomes a candidate pair with its provenance; an admin's Accept / Edit / Reject (pressed
as discord.py dispatches a registered dynamic item after a restart) decides it, and an accepted one is
served at once and told to the asker, pinging only them."""

from __future__ import annotations

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend, factories
from sqlalchemy import select

from bot.discord_app.cogs.community import MARK_COMMAND, OUTCOMES
from bot.discord_app.review import REVIEW_REFUSAL, CandidateModal
from storage.models import Candidate, TaughtPair
from tests.bot.fixtures import ADMIN_ID, make_interaction, make_member, react
from tests.bot.review_support import interaction_for, press
from tests.bot.test_escalation import DOG, KNOWN, fake_generator, press_teach, submit  # noqa: F401
from tests.bot.threads_support import install_thread_routes, make_forum, post_in_forum, say

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
    question = await dpytest.message(DOG, channel=channel)
    [escalation] = sent()
    assert escalation.channel.id == admins.id
    return question, escalation


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
    assert "token-shaped secret" in interaction.response.send_message.await_args.args[0]
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


def test_the_review_post_of_the_longest_candidate_fits_one_message_with_its_note():
    from bot.discord_app.review import review_text

    big, url = 10**18 + 7, "https://discord.com/channels/" + "/".join([str(10**18 + 7)] * 3)
    c = dict(id=99999, source="reaction", question="*" * 1000, answer="_" * 4000, question_url=url,
             answer_url=url, author_id=big, asker_id=big, marked_by=big)  # fmt: skip
    text = review_text(c)
    assert len(text) <= 2000 and text.endswith("(Accept is off).")
