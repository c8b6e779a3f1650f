"""Who may run admin commands: Discord's "Manage Server", or ``ADMIN_USER_IDS``, or ``ADMIN_ROLE``.

One predicate (``is_admin``) behind one base class: an ``AdminCog`` checks it once for the whole cog, for
slash commands (``interaction_check``) and prefix commands (``cog_check``) alike, so the two can never
disagree and no command can forget it. Anyone else gets a refusal (ephemeral for slash commands) and the
attempt is logged.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.client import NO_PING
from bot.settings import Settings

log = logging.getLogger(__name__)

REFUSAL = "Sorry, only the bot's admins can use this command."
FAILED = "Sorry, that command failed; the details are in the bot's log."


class NotAdmin(app_commands.CheckFailure, commands.CheckFailure):
    """Raised by the admin checks; ``AdminCog``'s error handlers turn it into a polite, logged refusal."""


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


def require_admin(user: discord.abc.User, settings: Settings) -> bool:
    """True for an admin; ``NotAdmin`` for anyone else."""
    if is_admin(user, settings):
        return True
    raise NotAdmin(f"{describe(user)} is not an admin")


async def respond(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, as the first response or, once the interaction was answered, as a follow-up."""
    send = interaction.followup.send if interaction.response.is_done() else interaction.response.send_message
    await send(text, ephemeral=True, allowed_mentions=NO_PING)


class AdminCog(commands.Cog):
    """A cog whose every command is for admins (listeners, such as reactions, are not commands)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return require_admin(interaction.user, interaction.client.settings)

    async def cog_check(self, ctx: commands.Context) -> bool:
        return require_admin(ctx.author, ctx.bot.settings)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        name = interaction.command.qualified_name if interaction.command else "?"
        if isinstance(error, NotAdmin):
            log.warning("refused /%s for non-admin %s: %s", name, describe(interaction.user), error)
            await respond(interaction, REFUSAL)
            return
        log.error("/%s failed", name, exc_info=error)
        await respond(interaction, FAILED)

    async def cog_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        if isinstance(error, NotAdmin):
            log.warning("refused !%s for non-admin %s", ctx.command, describe(ctx.author))
            await ctx.reply(REFUSAL, allowed_mentions=NO_PING)
        else:
            log.error("!%s failed", ctx.command, exc_info=error)
