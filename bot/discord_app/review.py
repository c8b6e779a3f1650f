"""Members' answers for the admins: the review post (Accept / Edit / Reject), and serving an accepted one.

A candidate pair (``storage.candidates``) that waits is posted to ``ESCALATION_CHANNEL_ID`` with three
buttons for admins only (``permissions.is_admin``, checked on the click and again on the Edit form's
submit; Accept is off when the post cannot show the whole answer: Edit shows it). The buttons are
``discord.ui.DynamicItem``s whose custom id carries the candidate's id, so they keep working after a
restart (``cogs/community.py`` registers them). Accepting (as is, or edited) makes a
taught pair: served at once here (``Answerer.teach``) and, through ``storage.changes``, by every process;
the next retrain learns it. The asker is told with a reply that pings only them. Without an escalation
channel candidates wait in the store for the review queue.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from sqlalchemy.orm import Session

from bot import async_store
from bot.admin_actions import pair_problem
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.escalation import NOTIFY_ASKER, QUESTION_LIMIT, teach_view
from bot.discord_app.permissions import FAILED, describe, is_admin, respond
from bot.discord_app.replies import quoted, shorten, user_text
from storage import candidates
from training.data import comparison_key
from training.data.limits import MAX_ANSWER_CHARS

log = logging.getLogger(__name__)

REVIEW_REFUSAL = "Sorry, only the bot's admins can accept or reject members' answers."
DECIDED = "That answer was decided already (or is no longer in the store)."
ANSWER_LIMIT = MAX_ANSWER_CHARS  # the Edit form's answer field (Discord's limit too): the whole answer
TOLD_LIMIT = 1800  # of the answer quoted to the asker: one Discord message with its introduction
ANSWER_PREVIEW = 1200  # of the answer in the review post
CUT_NOTE = (
    "⚠️ The answer is longer than shown here ({n:,} characters): read it whole with **Edit** before "
    "accepting (Accept is off)."
)
ACTIONS = {
    "accept": ("Accept", "✅", discord.ButtonStyle.success),
    "edit": ("Edit", "✏️", discord.ButtonStyle.primary),
    "reject": ("Reject", "🗑️", discord.ButtonStyle.danger),
}


def as_dict(row: Any) -> dict[str, Any]:
    """A candidate row as plain values (ORM rows expire when their session closes)."""
    names = ("id", "status", "source", "question", "answer", "question_url", "answer_url", "asker_id")
    names += ("author_id", "marked_by", "exchange_id", "channel_id", "question_message_id", "decided_by")
    return {name: getattr(row, name) for name in names}


def _decide(
    session: Session, candidate_id: int, admin_id: int | None, question: str | None, answer: str | None
) -> dict[str, Any] | None:
    row = candidates.candidate(session, candidate_id)
    original = row.question if row is not None else None
    if candidates.accept(session, candidate_id, admin_id, question=question, answer=answer) is None:
        return None
    return {**as_dict(row), "original_question": original}


async def accept(
    bot: QABot,
    candidate_id: int,
    admin_id: int | None,
    *,
    question: str | None = None,
    answer: str | None = None,
) -> dict[str, Any] | None:
    """Accept a pending candidate (with an admin's edits) and serve it; the candidate, or None (decided)."""
    accepted = await async_store.run_in_session(
        bot.session_factory, _decide, candidate_id, admin_id, question, answer
    )
    if accepted is not None:
        await serve(bot, accepted)
    return accepted


async def serve(bot: QABot, accepted: dict[str, Any]) -> None:
    """An accepted candidate, from now on: answered (a cleaner wording also answers the asker's own, as
    the Teach form does), its escalation closed to a second Teach, and the asker told."""
    question, answer = accepted["question"], accepted["answer"]
    await bot.answerer.teach(question, answer)
    original = accepted.get("original_question") or question
    exchange_id = accepted.get("exchange_id")
    if comparison_key(original) != comparison_key(question):  # the store has it (storage.candidates.accept)
        await bot.answerer.learn_wording(original, question, by_admin=True)
    if exchange_id is not None:
        bot.taught_exchanges.setdefault(exchange_id, int(accepted.get("decided_by") or 0))
        await _close_escalation(bot, exchange_id, accepted)
    if accepted.get("marked_by") is None or accepted.get("marked_by") != accepted.get("asker_id"):
        await tell_asker(bot, accepted)  # an asker who marked the answer themselves knows it already


async def _close_escalation(bot: QABot, exchange_id: int, accepted: dict[str, Any]) -> None:
    """The question's escalation post, if this process made it: answered, its Teach button disabled."""
    post = bot.escalations.post_of(exchange_id)
    if post is None or post.message is None:
        return
    by = accepted.get("decided_by")
    line = f"✅ Answered by a member's answer (#{accepted['id']}), accepted by <@{by}>."
    try:
        await post.message.edit(
            content=f"{post.text}\n{line}"[:2000],
            view=teach_view(exchange_id, None, answered=True),
            allowed_mentions=NO_PING,
        )
    except discord.HTTPException:
        log.debug("could not mark the escalation of exchange %s answered", exchange_id)


async def tell_asker(bot: QABot, accepted: dict[str, Any]) -> bool:
    """Reply to the asker's question saying it is answered now (pinging only them); whether it was sent."""
    channel_id, message_id = accepted.get("channel_id"), accepted.get("question_message_id")
    if not channel_id:
        return False
    url = accepted.get("answer_url")
    where = f"[a member's answer]({url})" if url else "a member's answer"
    text = f"Your question is answered now, from {where}; I'll answer it so from now on:\n" + quoted(
        accepted["answer"], TOLD_LIMIT
    )
    try:
        channel = bot.get_channel(int(channel_id)) or await bot.fetch_channel(int(channel_id))
        reference = None
        if message_id:
            reference = discord.MessageReference(
                message_id=int(message_id), channel_id=int(channel_id), fail_if_not_exists=False
            )
        await channel.send(text[:2000], reference=reference, allowed_mentions=NOTIFY_ASKER)
        return True
    except (discord.HTTPException, discord.InvalidData, AttributeError, ValueError):
        log.warning("could not tell the asker of candidate %s", accepted.get("id"), exc_info=True)
        return False


def cut_in_review(answer: str) -> bool:
    """Whether the review post shows only part of ``answer`` (its tail could hide a link)."""
    return len(user_text(answer, len(answer) * 2 + 2)) > ANSWER_PREVIEW


def review_text(c: dict[str, Any]) -> str:
    """The review post: question, answer (escaped, linked), who wrote and who marked it."""
    question = f"[question]({c['question_url']})" if c.get("question_url") else "question"
    answer = f"[answer]({c['answer_url']})" if c.get("answer_url") else "answer"
    marked = f", marked by <@{c['marked_by']}>" if c.get("marked_by") else ""
    cut = f"\n{CUT_NOTE.format(n=len(c['answer']))}" if cut_in_review(c["answer"]) else ""
    return (
        f"💬 A member's answer #{c['id']} ({c['source']})\n{quoted(c['question'], 400)}\n"
        f"{quoted(c['answer'], ANSWER_PREVIEW - len(cut))}\n"  # room for the note in one message
        f"-# {answer} by <@{c['author_id']}> to the {question} of <@{c['asker_id']}>{marked}{cut}"
    )


def review_view(candidate_id: int, *, decided: bool = False, accept: bool = True) -> discord.ui.View:
    """The three buttons; Accept off (``accept``) when the post cannot show the whole answer."""
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        off = decided or (action == "accept" and not accept)
        view.add_item(CandidateButton(action, candidate_id, disabled=off))
    return view


async def post_review(bot: QABot, c: dict[str, Any]) -> discord.Message | None:
    """Post a candidate to the escalation channel: with the buttons while it waits, else as a note of what
    was learned. None without an escalation channel, or when posting failed (logged)."""
    channel_id = bot.settings.escalation_channel_id
    if not channel_id:
        return None
    text = review_text(c)
    if c["status"] == "accepted":
        text += "\n✅ Learned at once: a trusted member's answer."
    try:
        channel = bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)
        view = review_view(c["id"], decided=c["status"] != "pending", accept=not cut_in_review(c["answer"]))
        return await channel.send(text[:2000], view=view, allowed_mentions=NO_PING)
    except Exception:
        log.exception("could not post candidate %s for review", c.get("id"))
        return None


async def _mark_decided(interaction: discord.Interaction, candidate_id: int, line: str) -> None:
    message = interaction.message
    content = message.content if message is not None else f"💬 A member's answer #{candidate_id}"
    try:
        await interaction.edit_original_response(
            content=f"{content}\n{line}"[:2000],
            view=review_view(candidate_id, decided=True),
            allowed_mentions=NO_PING,
        )
    except discord.HTTPException:
        log.warning("could not mark candidate %s decided", candidate_id, exc_info=True)


async def admin_or_refuse(interaction: discord.Interaction, candidate_id: int) -> bool:
    if await is_admin(interaction.client, interaction.user, interaction.guild):
        return True
    log.warning("refused a review of candidate %s for non-admin %s", candidate_id, describe(interaction.user))
    await respond(interaction, REVIEW_REFUSAL)
    return False


CANDIDATE_ID = r"qabot:cand:(?P<action>accept|edit|reject):(?P<id>\d+)"


class CandidateButton(discord.ui.DynamicItem[discord.ui.Button], template=CANDIDATE_ID):
    """Accept, Edit or Reject one candidate pair."""

    def __init__(self, action: str, candidate_id: int, *, disabled: bool = False) -> None:
        label, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                custom_id=f"qabot:cand:{action}:{candidate_id}",
                disabled=disabled,
            )
        )
        self.action, self.candidate_id = action, candidate_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> CandidateButton:
        return cls(match["action"], int(match["id"]))

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await admin_or_refuse(interaction, self.candidate_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: QABot = interaction.client
        try:
            if self.action == "edit":
                row = await async_store.run_in_session(bot.session_factory, _pending, self.candidate_id)
                if row is None:
                    await respond(interaction, DECIDED)
                else:
                    await interaction.response.send_modal(CandidateModal(row))
                return
            await interaction.response.defer()
            who = f"<@{interaction.user.id}>"
            if self.action == "accept":
                done = await accept(bot, self.candidate_id, interaction.user.id) is not None
                line = f"✅ Accepted by {who}: answered from now on; the asker was told."
            else:
                done = await async_store.run_in_session(
                    bot.session_factory, candidates.reject, self.candidate_id, interaction.user.id
                )
                line = f"🗑️ Rejected by {who}."
            if not done:
                await respond(interaction, DECIDED)
                return
            log.info("%s: candidate %s %sed", describe(interaction.user), self.candidate_id, self.action)
            await _mark_decided(interaction, self.candidate_id, line)
        except Exception:
            log.exception("review of candidate %s failed", self.candidate_id)
            await respond(interaction, FAILED)


def _row(session: Session, candidate_id: int) -> dict[str, Any] | None:
    row = candidates.candidate(session, candidate_id)
    return as_dict(row) if row is not None else None


def _pending(session: Session, candidate_id: int) -> dict[str, Any] | None:
    row = candidates.candidate(session, candidate_id)
    return as_dict(row) if row is not None and row.status == "pending" else None


class CandidateModal(discord.ui.Modal):
    """A candidate's question and answer, for an admin to edit before accepting."""

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__(title=shorten(f"Edit: {row['question']}", 45), timeout=30 * 60)
        self.row = row
        self.question = discord.ui.TextInput(
            label="Question", default=shorten(row["question"], QUESTION_LIMIT), max_length=QUESTION_LIMIT
        )
        self.answer = discord.ui.TextInput(
            label="Answer",
            style=discord.TextStyle.paragraph,
            default=shorten(row["answer"], ANSWER_LIMIT),
            max_length=ANSWER_LIMIT,
        )
        self.add_item(self.question)
        self.add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        if not await admin_or_refuse(interaction, self.row["id"]):  # rights can go while the form is open
            return
        question = self.question.value.strip() or self.row["question"]
        answer = self.answer.value.strip() or self.row["answer"]
        if problem := pair_problem(question, answer):  # a pasted token would be told to anyone who asks
            await respond(interaction, problem)
            return
        await interaction.response.defer()
        bot: QABot = interaction.client
        if await accept(bot, self.row["id"], interaction.user.id, question=question, answer=answer) is None:
            await respond(interaction, DECIDED)
            return
        line = f"✅ Accepted with edits by <@{interaction.user.id}>: {user_text(question, 200)}"
        await _mark_decided(interaction, self.row["id"], line)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        log.error("editing candidate %s failed", self.row.get("id"), exc_info=error)
        await respond(interaction, FAILED)
