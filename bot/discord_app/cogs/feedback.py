"""Feedback: 👍/👎 on the bot's answers become votes; admins correct answers with ``!correct`` / ``/correct``.

Reactions arrive as *raw* events so that votes on answers older than the message cache still count. The
answer is found by the id of the bot's reply, which ``bot.async_store.log_exchange`` stored. Votes count
from the home community only (``permissions.in_community``), one per user per known question. A vote
nudges the ranking of the known question the answer came from (``Answerer.nudge``, by the change in that
user's vote on it), a 👎 takes back the wording a member's choice taught, if that brought the answer (an
admin's is kept), and a correction is taught to the answerer: all act at once, not only at the next retrain.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import async_store
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.permissions import AdminCog, describe, in_community
from bot.discord_app.replies import user_text
from storage.repo import NothingToCorrect
from training.data.filters import has_secret
from training.data.limits import MAX_ANSWER_CHARS

log = logging.getLogger(__name__)

VOTES = {"👍": 1, "👎": -1}
NOT_AN_ANSWER = "That message is not one of my logged answers, so there is nothing to correct."
NEEDS_REPLY = "Reply to one of my answers with `!correct <the right answer>`."
SAVED = "Thanks — correction saved and answered from now on; the next `/retrain` will learn it too."
# A follow-up ("and 2018?" after "who won in 2014") is corrected as the known question it was answered with.
SAVED_FOLLOWUP = (
    "Thanks — “{words}” was a follow-up, answered as the known question “{question}”: that question's "
    "answer is corrected, answered from now on, and the next `/retrain` will learn it too."
)
NO_KNOWN_QUESTION = (
    "“{words}” was a follow-up I offered “did you mean” for, so there is no known question to correct. "
    "Teach it as a question of its own with `/teach`. Nothing was saved."
)


class Feedback(AdminCog):
    """Votes (anyone, by reaction) and corrections (the cog's commands: admins only)."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot

    # -- reactions -----------------------------------------------------------------------------------
    def _vote_of(self, payload: discord.RawReactionActionEvent) -> int | None:
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return None
        if payload.member is not None and payload.member.bot:
            return None
        return VOTES.get(str(payload.emoji))

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        vote = self._vote_of(payload)
        if vote is not None and await self._counts(payload):
            await self._vote(payload, vote)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        vote = self._vote_of(payload)
        if vote is not None and await self._counts(payload):
            # Removing 👎 after switching to 👍 must not delete the 👍: remove only the vote this emoji cast.
            await self._vote(payload, None, only_if=vote)

    async def _counts(self, payload: discord.RawReactionActionEvent) -> bool:
        """Votes count from the home community only: another guild's members rank nothing here."""
        try:
            if await in_community(self.bot, payload.guild_id, payload.user_id):
                return True
        except Exception:
            log.exception("could not tell whether user %s is in the community", payload.user_id)
            return False
        log.debug("ignored a vote by %s in guild %s (not a home guild)", payload.user_id, payload.guild_id)
        return False

    async def _vote(
        self, payload: discord.RawReactionActionEvent, vote: int | None, *, only_if: int | None = None
    ) -> None:
        try:
            answer_id = self.bot.answer_parts.first(payload.message_id)  # a long answer's later message
            result = await async_store.apply_vote(
                self.bot.session_factory, answer_id, payload.user_id, vote, only_if=only_if
            )
        except Exception:
            log.exception("could not record the vote on message %s", payload.message_id)
            return
        if result is None or not result.matched_question:
            return
        try:
            if result.delta:
                await self.bot.answerer.nudge(result.matched_question, result.delta)
            # A 👎 also takes back a learned wording that brought this answer, even when it does not change
            # this member's vote on the known question (a 👎 on it before): a wording picked again is undone
            # again.
            if vote == -1:
                wording = await self.bot.answerer.forget_wording(result.question, result.matched_question)
                if wording is not None:
                    await async_store.forget_wording(
                        self.bot.session_factory, wording, result.matched_question
                    )
        except Exception:
            log.exception("could not apply the vote (%d) to %r", result.delta, result.matched_question[:100])

    # -- corrections ---------------------------------------------------------------------------------
    async def _correct(self, message_id: int, answer: str, admin: discord.abc.User) -> str:
        answer = answer.strip()
        if not answer:
            return "The correction is empty."
        if len(answer) > MAX_ANSWER_CHARS:
            size = f"{len(answer):,} characters; the limit is {MAX_ANSWER_CHARS:,}"
            return f"The correction is {size}. Nothing was saved."
        if has_secret(answer):  # it would be served to anyone who asks the question
            return "The correction holds a secret (a token, a key, a password). Nothing was saved."
        try:
            corrected = await async_store.record_correction(
                self.bot.session_factory, self.bot.answer_parts.first(message_id), answer, admin.id
            )
        except NothingToCorrect as refused:
            return NO_KNOWN_QUESTION.format(words=user_text(refused.words, 200))
        except Exception:
            log.exception("could not store correction for message %s", message_id)
            return "Sorry, the correction could not be saved (database error; see the log)."
        if corrected is None:
            return NOT_AN_ANSWER
        log.info("correction by %s for exchange %s", describe(admin), corrected.exchange_id)
        try:
            await self.bot.answerer.teach(corrected.question, answer, origin="correction")
        except Exception:
            log.exception("could not teach the correction for exchange %s", corrected.exchange_id)
            return (
                "Correction saved; the next `/retrain` will learn it (answering it now failed; see the log)."
            )
        if corrected.followup_words is None:
            return SAVED
        words, question = user_text(corrected.followup_words, 200), user_text(corrected.question, 300)
        return SAVED_FOLLOWUP.format(words=words, question=question)

    @commands.command(name="correct")
    async def correct_prefix(self, ctx: commands.Context, *, answer: str = "") -> None:
        """Reply to a bot answer with `!correct <right answer>`."""
        reference = ctx.message.reference
        if reference is None or reference.message_id is None:
            await ctx.reply(NEEDS_REPLY, allowed_mentions=NO_PING)
            return
        await ctx.reply(
            await self._correct(reference.message_id, answer, ctx.author), allowed_mentions=NO_PING
        )

    @app_commands.command(name="correct")
    @app_commands.describe(
        message_id="ID of my answer (right-click → Copy Message ID)", answer="The right answer"
    )
    async def correct_slash(self, interaction: discord.Interaction, message_id: str, answer: str) -> None:
        """Correct one of the bot's answers (admins)."""
        if not message_id.strip().isdecimal():
            await interaction.response.send_message(
                "`message_id` must be a message ID (digits).", ephemeral=True, allowed_mentions=NO_PING
            )
            return
        # Teaching the correction waits for the model's thread: Discord wants a first response within 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self._correct(int(message_id), answer, interaction.user)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PING)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Feedback(bot))
