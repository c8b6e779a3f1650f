"""Escalation: "not sure" questions go to the admins' channel once, with a **Teach** button.

With ``ESCALATION_CHANNEL_ID`` set, each unanswered exchange is posted there once (``async_store.
mark_escalated``, even across processes), within limits (``flood``: a few posts per user, and a repeat
of a posted question counted on that post). The post shows the question (escaped; nothing pings), who
asked and where, and a Teach button for admins only (``permissions.is_admin``, checked on the click and
again on submit). The modal's answer is stored and taught at once, replies to the asker, and the post
says who answered. An admin may edit the question into a cleaner wording: the asker's own wording is
then learned as another way to ask it, as the admin's decision (no member's 👎 takes it back). A
follow-up's form shows it as read with the question before it ("who won in 2014 and 2018?"); the admin
writes the one question it asks (as read, the taught pair would take the earlier question's askers), and
no wording is learned from it.

The button is a ``discord.ui.DynamicItem``: its custom id carries the exchange id and the message to
reply to, so it keeps working after a restart (``cogs/escalation.py`` registers it when it loads).
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot import async_store
from bot.admin_actions import pair_problem
from bot.answering.answer_path import Answer
from bot.discord_app import senders
from bot.discord_app.chunking import split_message
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.flood import Posted, repeat_line
from bot.discord_app.permissions import FAILED, describe, in_community, is_admin, respond
from bot.discord_app.replies import Asked, quoted, shorten, user_text
from training.data import comparison_key

log = logging.getLogger(__name__)

TEACH_REFUSAL = "Sorry, only the bot's admins can teach it."
GONE = "That question is no longer in the store, so there is nothing to teach here."
EMPTY = "The answer is empty; nothing was taught."
# A follow-up's reading ("who won the world cup in 2014 and 2018?") taught as it is would take the earlier
# question's askers: the form shows it, and the admin writes the question the follow-up asks.
FOLLOWUP_LABEL = "Follow-up: write the one question it asks"
FOLLOWUP_AS_READ = (
    "“{words}” was a follow-up, read with the question before it; taught as that reading, it would answer "
    "the earlier question's askers too. Teach again and write the one question it asks. Nothing was taught."
)
MODAL_TITLE_LIMIT = 45  # Discord's limit on a modal's title
QUESTION_LIMIT = 1000  # the modal's question field
ANSWER_LIMIT = 1800  # one Discord message with the line that introduces it
# The late answer replies to the asker's message and notifies them (and only them): it may come hours
# later. Nothing in its text can ping: users, roles and @everyone stay off.
NOTIFY_ASKER = discord.AllowedMentions(everyone=False, users=False, roles=False, replied_user=True)


def escalation_text(
    exchange_id: int, question: str, asked: Asked, reply_to: int | None, replied: bool
) -> str:
    where = "in a DM" if asked.guild_id is None else f"in <#{asked.channel_id}>"
    if asked.guild_id is not None and reply_to:
        where += f" · [jump](https://discord.com/channels/{asked.guild_id}/{asked.channel_id}/{reply_to})"
    status = "they were told I'm not sure" if replied else "no reply was posted (open channel)"
    return (
        f"❓ Unanswered question #{exchange_id}\n{quoted(question, 1500)}\n"
        f"-# asked by <@{asked.user_id}> {where} · {status}"
    )


def teach_view(exchange_id: int, reply_to: int | None, *, answered: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(TeachButton(exchange_id, reply_to, answered=answered))
    return view


async def escalate(
    bot: QABot, exchange_id: int, question: str, asked: Asked, reply_to: int | None, *, replied: bool
) -> discord.Message | None:
    """Post an unanswered exchange to ``ESCALATION_CHANNEL_ID`` (once per exchange); the message or None.

    ``reply_to``: the message the taught answer will reply to. Never raises: the asker is not affected.
    """
    channel_id = bot.settings.escalation_channel_id
    if not channel_id:
        return None
    key = comparison_key(question)
    try:
        if not await in_community(bot, asked.guild_id, asked.user_id):
            return None  # another guild's questions are not the home admins' work (nor a way to flood them)
        verdict, earlier = bot.escalations.admit(asked.user_id, key)
        if verdict == "repeat":
            await _count_repeat(bot, earlier)
        if verdict in ("repeat", "counted"):
            return None
        if verdict == "limited":
            log.info(
                "not escalating exchange %s: user %s had their share of posts", exchange_id, asked.user_id
            )
            return None
        if not await async_store.mark_escalated(bot.session_factory, exchange_id):
            return None  # posted already
        channel = bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)
        text = escalation_text(exchange_id, question, asked, reply_to, replied)
        message = await channel.send(text, view=teach_view(exchange_id, reply_to), allowed_mentions=NO_PING)
        bot.escalations.posted(asked.user_id, key, exchange_id, text, message)
        return message
    except Exception:
        log.exception("could not post exchange %s to the escalation channel %s", exchange_id, channel_id)
        return None


async def admin_or_refuse(interaction: discord.Interaction, exchange_id: int) -> bool:
    """True for an admin (``permissions.is_admin``); anyone else is told and the attempt is logged."""
    if await is_admin(interaction.client, interaction.user, interaction.guild):
        return True
    log.warning("refused Teach on exchange %s for non-admin %s", exchange_id, describe(interaction.user))
    await respond(interaction, TEACH_REFUSAL)
    return False


async def _count_repeat(bot: QABot, post: Posted) -> None:
    """Say on the earlier post how often its question was asked (unless an admin answered it already)."""
    if post.exchange_id in bot.taught_exchanges:
        return
    try:
        await post.message.edit(content=f"{post.text}\n{repeat_line(post)}"[:2000], allowed_mentions=NO_PING)
    except discord.HTTPException:
        log.debug("could not count a repeat on escalation of exchange %s", post.exchange_id)


class TeachButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qabot:teach:(?P<id>\d+):(?P<to>\d+)"):
    """Teach for one exchange; ``reply_to`` 0 in the custom id means "no message to reply to"."""

    def __init__(self, exchange_id: int, reply_to: int | None, *, answered: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="Answered" if answered else "Teach",
                emoji="✅" if answered else "✏️",
                style=discord.ButtonStyle.success if answered else discord.ButtonStyle.primary,
                custom_id=f"qabot:teach:{exchange_id}:{reply_to or 0}",
                disabled=answered,
            )
        )
        self.exchange_id = exchange_id
        self.reply_to = reply_to

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> TeachButton:
        return cls(int(match["id"]), int(match["to"]) or None)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await admin_or_refuse(interaction, self.exchange_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            row = await async_store.exchange(interaction.client.session_factory, self.exchange_id)
            if row is None:
                await respond(interaction, GONE)
                return
            await interaction.response.send_modal(TeachModal(row, self.reply_to))
        except Exception:
            log.exception("Teach on exchange %s failed", self.exchange_id)
            await _tell(interaction, FAILED)


class TeachModal(discord.ui.Modal):
    """The answer to one unanswered exchange (its question pre-filled, editable into a cleaner wording)."""

    def __init__(self, row: dict[str, Any], reply_to: int | None) -> None:
        super().__init__(title=shorten(f"Teach: {row['question']}", MODAL_TITLE_LIMIT), timeout=30 * 60)
        self.row = row
        self.reply_to = reply_to
        self.question = discord.ui.TextInput(
            label=FOLLOWUP_LABEL if row.get("followup_words") else "Question (taught as written here)",
            default=shorten(row["question"], QUESTION_LIMIT),
            max_length=QUESTION_LIMIT,
        )
        self.answer = discord.ui.TextInput(
            label="Answer", style=discord.TextStyle.paragraph, max_length=ANSWER_LIMIT
        )
        self.add_item(self.question)
        self.add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        # Checked again on submit: rights can be taken away while the form is open.
        if not await admin_or_refuse(interaction, self.row["id"]):
            return
        question = self.question.value.strip() or self.row["question"]
        answer = self.answer.value.strip()
        if not answer:
            await respond(interaction, EMPTY)
            return
        words = self.row.get("followup_words")
        if words and comparison_key(question) == comparison_key(self.row["question"]):
            await respond(interaction, FOLLOWUP_AS_READ.format(words=user_text(words, 200)))
            return
        if problem := pair_problem(question, answer):  # as /teach: a pasted token, an oversized answer
            await respond(interaction, problem)
            return
        bot: QABot = interaction.client
        by = bot.taught_exchanges.get(self.row["id"])
        if by is not None:
            await respond(interaction, f"<@{by}> has answered this question already; nothing was taught.")
            return
        bot.taught_exchanges[self.row["id"]] = interaction.user.id  # claimed before the first await
        try:
            await self._teach(interaction, bot, question, answer)
        except BaseException:
            del bot.taught_exchanges[self.row["id"]]  # not answered after all: another admin may
            raise

    async def _teach(self, interaction: discord.Interaction, bot: QABot, question: str, answer: str) -> None:
        await interaction.response.defer()  # acknowledges; the escalation message is edited below
        pair_id = await async_store.teach(bot.session_factory, question, answer, interaction.user.id)
        await bot.answerer.teach(question, answer)
        reworded = comparison_key(question) != comparison_key(self.row["question"])
        if reworded and not self.row.get("followup_words"):  # taught in cleaner words: the asker's own
            # wording is answered as it too, and leaves the unanswered queue. A follow-up's is no wording.
            await async_store.record_choice(bot.session_factory, self.row["id"], question, by_admin=True)
            await bot.answerer.learn_wording(self.row["question"], question, by_admin=True)
        delivered = await deliver_answer(bot, self.row, self.reply_to, question, answer)
        log.info("%s taught exchange %s as pair #%s", describe(interaction.user), self.row["id"], pair_id)
        outcome = "sent to the asker" if delivered else "could not be sent to the asker"
        await _mark_answered(interaction, self.row["id"], self.reply_to, f"<@{interaction.user.id}>", outcome)
        text = f"Learned pair #{pair_id}: answered from now on, for everyone; the answer {outcome}."
        if not delivered:
            text += " (Their channel or message is gone, or I may not post there.)"
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PING)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        log.error("teaching exchange %s failed", self.row.get("id"), exc_info=error)
        await _tell(interaction, FAILED)


async def deliver_answer(
    bot: QABot, row: dict[str, Any], reply_to: int | None, question: str, answer: str
) -> discord.Message | None:
    """Reply to the asker with what an admin taught, and log it as an answer (votes and corrections work
    on it). The reply, or None when the channel cannot be reached or written to."""
    if not row.get("channel_id"):
        return None
    channel_id = int(row["channel_id"])
    try:
        channel = bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)
        pieces = split_message(f"An admin answered your question:\n{answer}")
        reference = None
        if reply_to:  # a deleted message: the answer is posted without the reply
            reference = discord.MessageReference(
                message_id=reply_to, channel_id=channel_id, fail_if_not_exists=False
            )
        first = await channel.send(pieces[0], reference=reference, allowed_mentions=NOTIFY_ASKER)
        later = [await channel.send(piece, allowed_mentions=NO_PING) for piece in pieces[1:]]
        senders.note_parts(bot, first, later)  # votes on a later message count for the answer
    except (discord.HTTPException, discord.InvalidData, AttributeError, ValueError):
        log.warning("could not deliver the taught answer for exchange %s", row.get("id"), exc_info=True)
        return None
    taught = Answer(
        text=answer, confidence=1.0, unanswered=False, tokens=0, latency_s=0.0,
        model_version=bot.answerer.model_version, question=row["question"], zone="answer",
        matched_question=question, match_score=1.0, answered_by="taught",
    )  # fmt: skip
    await async_store.log_exchange(
        bot.session_factory, taught, source="discord", guild_id=row.get("guild_id"), channel_id=channel_id,
        message_id=row.get("message_id"), user_id=row.get("user_id"), reply_message_id=first.id,
        followup_words=row.get("followup_words"),  # still a follow-up: exported as the question taught
    )  # fmt: skip
    return first


async def _mark_answered(
    interaction: discord.Interaction, exchange_id: int, reply_to: int | None, admin: str, outcome: str
) -> None:
    """Edit the escalation message: who answered, and the button disabled."""
    message = interaction.message
    content = message.content if message is not None else f"❓ Unanswered question #{exchange_id}"
    try:
        await interaction.edit_original_response(
            content=f"{content}\n✅ Answered by {admin}; {outcome}."[:2000],
            view=teach_view(exchange_id, reply_to, answered=True),
            allowed_mentions=NO_PING,
        )
    except discord.HTTPException:
        log.warning("could not mark escalation of exchange %s as answered", exchange_id, exc_info=True)


async def _tell(interaction: discord.Interaction, text: str) -> None:
    try:
        await respond(interaction, text)
    except discord.HTTPException:
        log.warning("could not tell %s: %s", describe(interaction.user), text)
