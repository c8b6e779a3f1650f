"""Feedback: 👍/👎 on the bot's answers become votes; admins correct answers with ``!correct`` / ``/correct``.

Reactions arrive as *raw* events so that votes on answers older than the message cache still count. The
answer is found by the id of the bot's reply, which ``bot.async_store.log_exchange`` stored.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import async_store
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.permissions import AdminCog, describe

log = logging.getLogger(__name__)

VOTES = {"👍": 1, "👎": -1}
NOT_AN_ANSWER = "That message is not one of my logged answers, so there is nothing to correct."
NEEDS_REPLY = "Reply to one of my answers with `!correct <the right answer>`."
SAVED = "Thanks — correction saved; the next `/retrain` will learn it."


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
        if vote is None:
            return
        try:
            await async_store.record_vote(self.bot.session_factory, payload.message_id, payload.user_id, vote)
        except Exception:
            log.exception("could not record vote on message %s", payload.message_id)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        vote = self._vote_of(payload)
        if vote is None:
            return
        try:
            # Removing 👎 after switching to 👍 must not delete the 👍: remove only the vote this emoji cast.
            await async_store.record_vote(
                self.bot.session_factory, payload.message_id, payload.user_id, None, only_if=vote
            )
        except Exception:
            log.exception("could not remove vote on message %s", payload.message_id)

    # -- corrections ---------------------------------------------------------------------------------
    async def _correct(self, message_id: int, answer: str, admin: discord.abc.User) -> str:
        answer = answer.strip()
        if not answer:
            return "The correction is empty."
        try:
            exchange_id = await async_store.record_correction(
                self.bot.session_factory, message_id, answer, admin.id
            )
        except Exception:
            log.exception("could not store correction for message %s", message_id)
            return "Sorry, the correction could not be saved (database error; see the log)."
        if exchange_id is None:
            return NOT_AN_ANSWER
        log.info("correction by %s for exchange %s", describe(admin), exchange_id)
        return SAVED

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
        if not message_id.strip().isdigit():
            text = "`message_id` must be a message ID (digits)."
        else:
            text = await self._correct(int(message_id), answer, interaction.user)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PING)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Feedback(bot))
