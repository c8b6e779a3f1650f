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
from bot.discord_app.cogs.ask import MAX_REPLY_MESSAGES
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
        # Only a forum post's author solves it, once: anyone else's 👍 (a vote, which ``Feedback`` stores)
        # costs no fetch and no store query here.
        solves = forums.may_solve(channel, self.bot.settings.forum_channel_ids, payload.user_id)
        # Another guild's ✅ teaches nothing: not even a fetch for it (every ✅ anywhere would cost one).
        tick = emoji == TICK and await in_community(self.bot, payload.guild_id, payload.user_id)
        if channel is None or not (tick or solves):
            return
        message = discord.utils.get(self.bot.cached_messages, id=payload.message_id)
        if message is None:
            message = await channel.fetch_message(payload.message_id)
        if tick:
            await self.answers.mark(message, payload.member, "reaction")
        if not solves:
            return
        by_bot = self.bot.user is not None and message.author.id == self.bot.user.id
        # ✅ accepts anyone's message; 👍 the bot's answer: "did you mean" or "not sure" solves nothing.
        if emoji == TICK or (by_bot and await self._is_answer(channel, message)):
            await forums.mark_solved(channel)

    async def _is_answer(self, thread: discord.Thread, message: discord.Message) -> bool:
        """Whether the bot's ``message`` in ``thread`` is an answer (the answer zone), or a later part of one
        split over several messages: only the first part is logged, so the bot's messages right before
        it are looked up too."""
        from storage.repo import exchange_by_reply

        def zone(session: Session, reply_ids: list[int]) -> str | None:
            for reply_id in reply_ids:  # nearest first: the first part logged is this answer's
                row = exchange_by_reply(session, reply_id)
                if row is not None:
                    return row.zone
            return None

        found = await async_store.run_in_session(self.bot.session_factory, zone, [message.id])
        if found is not None:
            return found == "answer"
        try:
            earlier = [m async for m in thread.history(limit=MAX_REPLY_MESSAGES - 1, before=message)]
        except discord.HTTPException:  # no Read Message History here: a later part is not told apart
            log.warning("could not read the messages before %s in post %s", message.id, thread.id)
            return False
        parts = []
        for said in sorted(earlier, key=lambda m: m.id, reverse=True):
            if said.author.id != message.author.id:
                break  # someone else spoke: the answer's first part is not before them
            parts.append(said.id)
        return (
            bool(parts)
            and await async_store.run_in_session(self.bot.session_factory, zone, parts) == "answer"
        )

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
