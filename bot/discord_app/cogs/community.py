"""The community's own answers: members' replies and ✅ marks become candidate pairs
(``member_answers``), admins review them (``review``: its buttons are registered here), and a forum
post's asker accepting an answer tags the post solved (``forums``).

"Mark as answer" is a message command (right-click a message → Apps): for the asker of the question it
answers, and for trusted members; in a home guild only. Every listener swallows its own failures: a
member's message or reaction never takes the bot down.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.orm import Session

from bot import async_store
from bot.discord_app import forums
from bot.discord_app.client import QABot
from bot.discord_app.member_answers import TICK, MemberAnswers
from bot.discord_app.permissions import in_community, respond
from bot.discord_app.review import CandidateButton

log = logging.getLogger(__name__)

MARK_COMMAND = "Mark as answer"
OUTCOMES = {
    "accepted": "Thanks! That answer is learned: I'll answer the question with it from now on.",
    "pending": "Thanks! The admins will review that answer; once accepted I'll answer the question with it.",
    "known": "That answer was proposed already.",
    "refused": "Only the person who asked, or a trusted member, can mark the answer.",
    "no question": "That message answers no question I was unsure about, so there is nothing to learn.",
    "invalid": "That message cannot be learned as an answer (a bot's message, empty, or too long).",
}


class Community(commands.Cog):
    """Members' answers, their review, and forum posts' solved tags."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot
        self.answers = MemberAnswers(bot)
        # Questions are asked in servers: the command is offered there only (not in DMs).
        in_servers = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)
        self.mark_menu = app_commands.ContextMenu(
            name=MARK_COMMAND, callback=self.mark_as_answer, allowed_contexts=in_servers
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.mark_menu)
        self.bot.add_dynamic_items(CandidateButton)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.mark_menu.name, type=self.mark_menu.type)
        self.bot.remove_dynamic_items(CandidateButton)
        await self.answers.close()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        try:
            await self.answers.on_message(message)
        except Exception:
            log.exception("could not look at message %s for a member's answer", message.id)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        # An answer is learned as it reads when marked: not as first posted (then edited into a good one).
        self.answers.recent.edited(payload.channel_id, payload.message_id, payload.message.content)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.answers.deleted(payload.channel_id, {payload.message_id})

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        self.answers.deleted(payload.channel_id, set(payload.message_ids))

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        emoji = str(payload.emoji)
        if emoji not in forums.ACCEPTS or payload.member is None or payload.member.bot:
            return
        try:
            await self._accepted(payload, emoji)
        except Exception:
            log.exception("could not handle %s on message %s", emoji, payload.message_id)

    async def _accepted(self, payload: discord.RawReactionActionEvent, emoji: str) -> None:
        channel = self.bot.get_channel(payload.channel_id)
        forums_ids = self.bot.settings.forum_channel_ids
        in_forum = isinstance(channel, discord.Thread) and channel.parent_id in forums_ids
        # Another guild's ✅ teaches nothing: not even a fetch for it (every ✅ anywhere would cost one).
        tick = emoji == TICK and await in_community(self.bot, payload.guild_id, payload.user_id)
        if channel is None or not (tick or in_forum):
            return
        message = discord.utils.get(self.bot.cached_messages, id=payload.message_id)
        if message is None:
            message = await channel.fetch_message(payload.message_id)
        if tick:
            await self.answers.mark(message, payload.member, "reaction")
        by_bot = self.bot.user is not None and message.author.id == self.bot.user.id
        # The bot's 👍'd message must be an answer: "did you mean" or "not sure" solves nothing.
        answered = by_bot and emoji == "👍" and await self._answer_zone(message.id)
        if in_forum and forums.accepts_answer(channel, payload.user_id, emoji, answered):
            await forums.mark_solved(channel)

    async def _answer_zone(self, reply_message_id: int) -> bool:
        """Whether the bot's message ``reply_message_id`` answered a question (the answer zone)."""
        from storage.repo import exchange_by_reply

        def zone(session: Session) -> str | None:
            row = exchange_by_reply(session, reply_message_id)
            return row.zone if row is not None else None

        return await async_store.run_in_session(self.bot.session_factory, zone) == "answer"

    async def mark_as_answer(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Mark this message as the answer to the question it answers."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            outcome = await self.answers.mark(message, interaction.user, "command")
        except Exception:
            log.exception("Mark as answer failed on message %s", message.id)
            outcome = None
        await respond(interaction, OUTCOMES.get(outcome, "Sorry, that failed; the details are in the log."))


async def setup(bot: QABot) -> None:
    await bot.add_cog(Community(bot))
