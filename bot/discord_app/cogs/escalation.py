"""Registers the escalation channel's Teach button (``bot.discord_app.escalation``) with the client.

A dynamic item: Teach buttons posted before a restart keep working, because the button is rebuilt from
its custom id alone.
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord_app.client import QABot
from bot.discord_app.escalation import TeachButton


class Escalation(commands.Cog):
    """Teach buttons in the escalation channel (posted by the Ask cog through ``escalation.escalate``)."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(TeachButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(TeachButton)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Escalation(bot))
