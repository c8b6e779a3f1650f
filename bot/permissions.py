"""Who may run admin commands: Discord's "Manage Server", or ``ADMIN_USER_IDS``, or ``ADMIN_ROLE``.

One predicate, used by the slash-command check (``is_admin_check``) and the prefix-command check
(``admin_only``), so the two can never disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

REFUSAL = "Sorry, only the bot's admins can use this command."


class NotAdmin(app_commands.CheckFailure, commands.CheckFailure):
    """Raised by the admin checks; the cogs' error handlers turn it into a polite, logged refusal."""


def is_admin(user: discord.abc.User, settings: Settings) -> bool:
    """True for ADMIN_USER_IDS, for members with Manage Server, and for members holding ADMIN_ROLE."""
    if user.id in settings.admin_user_ids:
        return True
    if isinstance(user, discord.Member):
        if user.guild_permissions.manage_guild:
            return True
        role = settings.admin_role
        # ADMIN_ROLE may be a role's name or its id (names can be renamed; ids cannot).
        if role and any(r.name == role or str(r.id) == role for r in user.roles):
            return True
    return False


def describe(user: discord.abc.User) -> str:
    return f"{user} ({user.id})"


def is_admin_check() -> Callable[[T], T]:
    """An ``app_commands`` check: admins pass; anyone else gets ``NotAdmin`` (logged by the error handler)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if is_admin(interaction.user, interaction.client.settings):
            return True
        raise NotAdmin(f"{describe(interaction.user)} is not an admin")

    return app_commands.check(predicate)


def admin_only() -> Callable[[T], T]:
    """The same rule for prefix commands (``!correct``)."""

    async def predicate(ctx: commands.Context) -> bool:
        if is_admin(ctx.author, ctx.bot.settings):
            return True
        raise NotAdmin(f"{describe(ctx.author)} is not an admin")

    return commands.check(predicate)


async def refuse(interaction: discord.Interaction, error: Exception) -> None:
    """Answer a refused admin command ephemerally and log the attempt."""
    command = interaction.command.qualified_name if interaction.command else "?"
    log.warning("refused /%s for non-admin %s: %s", command, describe(interaction.user), error)
    send = interaction.followup.send if interaction.response.is_done() else interaction.response.send_message
    await send(REFUSAL, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
