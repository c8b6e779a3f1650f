"""Answering: mentions, DMs, messages in ``ALLOWED_CHANNEL_IDS``, and ``/ask``.

Each question goes through the shared ``Answerer`` (batched with everyone else's), the answer replies to
the question (split at sentence/word boundaries past 2000 characters), and the exchange is logged with
the id of the reply, which is how 👍/👎 reactions and corrections find it later.
"""

from __future__ import annotations

import logging
import re
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import async_store
from bot.discord_app.chunking import split_message
from bot.discord_app.client import NO_PING, QABot

log = logging.getLogger(__name__)

NO_QUESTION = "Ask me a question — mention me with it, or use `/ask`."
TIMEOUT_TEXT = "Sorry, that took too long. Please try again in a moment."
ERROR_TEXT = "Sorry, something went wrong while answering. The admins can see the details in the log."


class UserCooldown:
    """At most one question per user every ``per_s`` seconds (a repeat gets a notice, not silence)."""

    def __init__(self, per_s: float, clock=time.monotonic) -> None:
        self.per_s = per_s
        self._clock = clock
        self._last: dict[int, float] = {}

    def retry_after(self, user_id: int) -> float:
        """0 when the user may ask now (and starts a new window); else seconds left."""
        if self.per_s <= 0:
            return 0.0
        now = self._clock()
        left = self._last.get(user_id, -float("inf")) + self.per_s - now
        if left > 0:
            return left
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget long-idle users so the dict cannot grow forever
            self._last = {u: t for u, t in self._last.items() if now - t < self.per_s}
        return 0.0


def cooldown_notice(seconds: float) -> str:
    return f"Slow down a little — you can ask again in {max(1, round(seconds))} s."


class Ask(commands.Cog):
    """Answers questions."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot
        self.cooldown = UserCooldown(bot.settings.user_cooldown_s)

    # -- deciding whether a message is a question for us -------------------------------------------
    def _addressed_to_us(self, message: discord.Message) -> bool:
        if message.guild is None:
            return True  # a DM
        if self.bot.user is not None and self.bot.user in message.mentions:
            return True
        channel_ids = {message.channel.id, getattr(message.channel, "parent_id", None)}
        return bool(channel_ids & set(self.bot.settings.allowed_channel_ids))

    def _question_text(self, message: discord.Message) -> str:
        text = message.content
        if self.bot.user is not None:
            text = re.sub(rf"<@!?{self.bot.user.id}>", " ", text)
        return " ".join(text.split())

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not self._addressed_to_us(message):
            return  # other bots (and ourselves) never get answers: two bots could loop forever
        if message.content.startswith(self.bot.command_prefix):
            ctx = await self.bot.get_context(message)
            if ctx.valid:
                return  # `!correct …` and friends are handled as commands
        try:
            await self._answer_message(message)
        except Exception:
            # Whatever happened, one user's message must not take the listener down.
            log.exception("failed to answer message %s", message.id)

    async def _answer_message(self, message: discord.Message) -> None:
        question = self._question_text(message)
        if not question:
            await message.reply(NO_QUESTION, allowed_mentions=NO_PING)
            return
        wait = self.cooldown.retry_after(message.author.id)
        if wait > 0:
            await message.reply(cooldown_notice(wait), allowed_mentions=NO_PING)
            return
        async with message.channel.typing():
            answer, failure = await self._ask(question)
        if answer is None:
            await message.reply(failure, allowed_mentions=NO_PING)
            return
        pieces = split_message(answer.text) or [self.bot.settings.fallback_answer]
        first = await message.reply(pieces[0], allowed_mentions=NO_PING)
        for piece in pieces[1:]:
            await message.channel.send(piece, allowed_mentions=NO_PING)
        await async_store.log_exchange(
            self.bot.session_factory,
            answer,
            source="discord",
            guild_id=message.guild.id if message.guild else None,
            channel_id=message.channel.id,
            message_id=message.id,
            user_id=message.author.id,
            reply_message_id=first.id,
        )

    async def _ask(self, question: str):
        """(answer, None) or (None, text to show instead)."""
        try:
            return await self.bot.answerer.answer(question), None
        except ValueError:
            return None, NO_QUESTION
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError since 3.11
            return None, TIMEOUT_TEXT
        except Exception:
            log.exception("answerer failed on %r", question[:200])
            return None, ERROR_TEXT

    # -- /ask --------------------------------------------------------------------------------------
    @app_commands.command(name="ask")
    @app_commands.describe(question="What you want to know")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        """Ask the bot a question."""
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait > 0:
            await interaction.response.send_message(
                cooldown_notice(wait), ephemeral=True, allowed_mentions=NO_PING
            )
            return
        # Generation can exceed Discord's 3 s deadline for a first response: defer ("thinking…") first.
        await interaction.response.defer(thinking=True)
        answer, failure = await self._ask(question)
        if answer is None:
            await interaction.followup.send(failure, allowed_mentions=NO_PING)
            return
        pieces = split_message(f"> {discord.utils.escape_markdown(question)[:300]}\n{answer.text}")
        first = await interaction.followup.send(pieces[0], allowed_mentions=NO_PING, wait=True)
        for piece in pieces[1:]:
            await interaction.followup.send(piece, allowed_mentions=NO_PING)
        await async_store.log_exchange(
            self.bot.session_factory,
            answer,
            source="discord",
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            message_id=interaction.id,
            user_id=interaction.user.id,
            reply_message_id=first.id,
        )


async def setup(bot: QABot) -> None:
    await bot.add_cog(Ask(bot))
