"""The review queue's buttons and Edit form on Discord: Accept / Edit / Reject under each item of
``/review`` (``bot.desk.review`` decides; this module only talks to Discord, and accepts a member's answer
through ``bot.discord_app.review.accept``, as that answer's own post in the escalation channel does).

Each button is a ``discord.ui.DynamicItem`` whose custom id carries the action and the item
(``qabot:review:accept:phrasing:12``), so buttons keep working after a restart (the desk cog registers the
class). Only admins may press them (``permissions.is_admin``, checked on the click and again on the form's
submit); the message then says who decided what, and its buttons go. A member's answer accepted here is
served as its own buttons serve it: its asker told, its escalation closed.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.desk import review
from bot.discord_app.client import NO_PING
from bot.discord_app.permissions import FAILED, describe, is_admin, respond
from bot.discord_app.replies import shorten, user_text
from training.data.limits import MAX_ANSWER_CHARS

log = logging.getLogger(__name__)

REFUSAL = "Sorry, only the bot's admins can review."
CUT_NOTE = "⚠️ The answer is longer than shown: read it whole with **Edit** (Accept is off)."
QUESTION_LIMIT = 1000
ANSWER_LIMIT = MAX_ANSWER_CHARS  # the whole answer (Discord's limit too): an edit must not cut it
# Each kind's three buttons: (action, label, emoji, style).
LABELS = {
    "phrasing": (("accept", "Accept"), ("edit", "Edit"), ("reject", "Reject")),
    "downvote": (("accept", "Answer is right"), ("edit", "Correct"), ("reject", "Dismiss")),
    "candidate": (("accept", "Accept"), ("edit", "Edit"), ("reject", "Reject")),
}
STYLES = {
    "accept": discord.ButtonStyle.success,
    "edit": discord.ButtonStyle.primary,
    "reject": discord.ButtonStyle.secondary,
}


def review_view(item_id: str, *, accept: bool = True) -> discord.ui.View:
    """Accept / Edit / Reject for one item; Accept off (``accept``) when its text is not shown whole."""
    kind, _ = review.parse_item(item_id)
    view = discord.ui.View(timeout=None)
    for action, label in LABELS[kind]:
        button = ReviewButton(action, item_id, label)
        button.item.disabled = action == "accept" and not accept
        view.add_item(button)
    return view


async def _decide(
    bot: Any,
    item_id: str,
    action: str,
    admin_id: int,
    *,
    question: str | None = None,
    answer: str | None = None,
) -> review.Decision:
    """``review.decide``, but a member's answer is accepted the way its escalation-channel post accepts it
    (``bot.discord_app.review.accept``: the asker's own wording learned too, the asker told, the
    question's escalation post closed): one way to accept it on Discord, whichever button was pressed."""
    kind, number = review.parse_item(item_id)
    if kind != "candidate" or action == "reject":
        return await review.decide(
            bot.session_factory, bot.answerer, item_id, action, admin_id, question=question, answer=answer
        )
    from bot.discord_app import review as members

    review.check_edit(action, question, answer)
    accepted = await members.accept(bot, number, admin_id, question=question, answer=answer)
    if accepted is None:
        return review.Decision(False, f"{item_id} is no longer waiting.")
    return review.Decision(
        True, f"Learned “{accepted['question']}”: answered from now on, and part of the next `/retrain`."
    )


def shown_whole(item: dict[str, Any], text: str) -> bool:
    """Whether ``text`` (an item as ``/review`` shows it) shows a member's answer whole: a tail an admin
    never saw could hide a link (``CUT_NOTE`` then; Edit shows it all)."""
    return item["kind"] != "candidate" or user_text(item["answer"], 2 * len(item["answer"]) + 2) in text


async def _admin(interaction: discord.Interaction, item_id: str) -> bool:
    if await is_admin(interaction.client, interaction.user, interaction.guild):
        return True
    log.warning("refused review of %s for non-admin %s", item_id, describe(interaction.user))
    await respond(interaction, REFUSAL)
    return False


async def _decided(interaction: discord.Interaction, decision: review.Decision, action: str) -> None:
    """Say on the item's message who decided what (its buttons go), and tell the admin."""
    message = interaction.message
    if decision.done and message is not None:
        verb = {"accept": "Accepted", "edit": "Edited", "reject": "Closed"}[action]
        content = f"{message.content}\n✅ {verb} by <@{interaction.user.id}>: {decision.text}"
        try:
            await interaction.edit_original_response(
                content=content[:2000], view=None, allowed_mentions=NO_PING
            )
        except discord.HTTPException:
            log.warning("could not mark review message %s as decided", message.id, exc_info=True)
    await interaction.followup.send(decision.text[:2000], ephemeral=True, allowed_mentions=NO_PING)


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"qabot:review:(?P<action>accept|edit|reject):(?P<kind>phrasing|downvote|candidate):(?P<id>\d+)",
):
    def __init__(self, action: str, item_id: str, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or action.capitalize(),
                style=STYLES[action],
                custom_id=f"qabot:review:{action}:{item_id}",
            )
        )
        self.action, self.item_id = action, item_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> ReviewButton:
        return cls(match["action"], f"{match['kind']}:{match['id']}", item.label)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await _admin(interaction, self.item_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        try:
            if self.action == "edit":
                current = await review.prefill(bot.session_factory, bot.answerer, self.item_id)
                if current is None:
                    await respond(interaction, f"{self.item_id} is no longer waiting.")
                    return
                await interaction.response.send_modal(ReviewEditModal(self.item_id, current))
                return
            await interaction.response.defer()
            decision = await _decide(bot, self.item_id, self.action, interaction.user.id)
            log.info("%s: %s %s", describe(interaction.user), self.action, self.item_id)
            await _decided(interaction, decision, self.action)
        except review.ReviewError as exc:  # the admin's to fix (e.g. Edit a phrasing of a gone question)
            await respond(interaction, str(exc))
        except Exception:
            log.exception("review %s of %s failed", self.action, self.item_id)
            await respond(interaction, FAILED)


class ReviewEditModal(discord.ui.Modal):
    """An admin's edit of one item: the question (not for a 👎'd answer) and the answer."""

    def __init__(self, item_id: str, current: dict[str, str]) -> None:
        super().__init__(title=shorten(f"Edit {item_id}", 45), timeout=30 * 60)
        self.item_id = item_id
        self.kind, _ = review.parse_item(item_id)
        label = "Known question it means" if self.kind == "phrasing" else "Question"
        self.question = discord.ui.TextInput(
            label=label, default=shorten(current["question"], QUESTION_LIMIT), max_length=QUESTION_LIMIT
        )
        self.answer = discord.ui.TextInput(
            label="Answer",
            style=discord.TextStyle.paragraph,
            default=shorten(current["answer"], ANSWER_LIMIT) or None,
            max_length=ANSWER_LIMIT,
            required=self.kind != "phrasing",
        )
        if self.kind != "downvote":  # a 👎'd answer's question is what was asked: only the answer changes
            self.add_item(self.question)
        self.add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        if not await _admin(interaction, self.item_id):  # rights can go while the form is open
            return
        await interaction.response.defer()
        bot = interaction.client
        question = self.question.value.strip() if self.kind != "downvote" else None
        try:
            decision = await _decide(
                bot, self.item_id, "edit", interaction.user.id,
                question=question or None, answer=self.answer.value.strip() or None,
            )  # fmt: skip
        except review.ReviewError as exc:
            await respond(interaction, str(exc))
            return
        log.info("%s: edit %s", describe(interaction.user), self.item_id)
        await _decided(interaction, decision, "edit")

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        log.error("editing %s failed", self.item_id, exc_info=error)
        await respond(interaction, FAILED)
