"""Who may change what the bot knows: the admins of its home community, and ``ADMIN_USER_IDS``.

The bot belongs to one community. ``HOME_GUILD_IDS`` (else ``DEV_GUILD_ID``) names its guild(s); an admin is
a user listed in ``ADMIN_USER_IDS`` or a member of a home guild with "Manage Server" or ``ADMIN_ROLE`` *in
that guild*. Discord's permissions are per guild: Manage Server in a server anyone can create means
nothing here. Admin commands are taken in a home guild or a DM, never in another guild (but from
``ADMIN_USER_IDS``); every admin effect (command, button, form submit) checks again when it happens. In
other guilds the bot still answers, but their members' votes and choices change nothing
(``in_community``). One base class, ``AdminCog``, applies the check to a whole cog.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.client import NO_PING

log = logging.getLogger(__name__)

REFUSAL = "Sorry, only the bot's admins can use this command."
FAILED = "Sorry, that command failed; the details are in the bot's log."


class NotAdmin(app_commands.CheckFailure, commands.CheckFailure):
    """Raised by the admin checks; ``AdminCog``'s error handlers turn it into a polite, logged refusal."""


async def home_member(
    client: discord.Client, guild_id: int, user_id: int, *, fresh: bool = False
) -> discord.Member | None:
    """``user_id`` as a member of home guild ``guild_id`` (the cache, else one API call), or None.
    ``fresh``: always the API call. The bot has no members intent, so a cached member's roles are as of
    their last message or voice-state change: an admin demoted since would still be one."""
    guild = client.get_guild(guild_id)
    if guild is None:
        return None
    member = None if fresh else guild.get_member(user_id)
    if member is not None:
        return member
    try:
        return await guild.fetch_member(user_id)
    except (discord.NotFound, discord.Forbidden):
        return None
    except discord.HTTPException:
        log.warning("could not look up user %s in home guild %s", user_id, guild_id, exc_info=True)
        return None


def _has_admin_rights(member: discord.Member, admin_role: str | None) -> bool:
    if member.guild_permissions.manage_guild:
        return True
    if not admin_role:
        return False
    if admin_role.isdigit():  # an id: that role alone (a role *named* like it is anyone's to create)
        role_id = int(admin_role)
        # The guild's own id is its @everyone role's, which every member has: never an admin role.
        return role_id != member.guild.id and any(r.id == role_id for r in member.roles)
    return any(r.name == admin_role for r in member.roles)  # a name: anyone who may create roles can copy it


async def is_admin(client: discord.Client, user: discord.abc.User, guild: discord.Guild | None) -> bool:
    """Whether ``user``, acting in ``guild`` (None: a DM), may change what the bot knows."""
    settings = client.settings
    if user.id in settings.admin_user_ids:
        return True
    home = settings.home_guilds
    if guild is not None:
        # The member object of an interaction carries that guild's permissions: they count only there.
        return (
            guild.id in home
            and isinstance(user, discord.Member)
            and _has_admin_rights(user, settings.admin_role)
        )
    for guild_id in sorted(home):  # a DM: the user's rights in the home guild(s)
        member = await home_member(client, guild_id, user.id, fresh=True)  # roles as they are now
        if member is not None and _has_admin_rights(member, settings.admin_role):
            return True
    return False


async def in_community(client: discord.Client, guild_id: int | None, user_id: int) -> bool:
    """Whether what ``user_id`` does in ``guild_id`` (None: a DM) may change rankings and learned wordings:
    in a home guild, or a DM from a home guild's member (``_membership``; not known is no member). With no
    home guild set, everywhere."""
    home = client.settings.home_guilds
    if not home:
        return True
    if guild_id is not None:
        return guild_id in home
    return await _membership(client, user_id) is True


async def outsider(client: discord.Client, user_id: int) -> bool:
    """Whether ``user_id`` is surely in none of the home guilds (``_membership``): a stranger sharing
    another server with the bot, whose DMs are not the community's questions. Not known (a home guild not
    at hand, an API error, no home guild set) is no outsider: their DMs stay in the admins' views, as a
    member's would."""
    return bool(client.settings.home_guilds) and await _membership(client, user_id) is False


async def _membership(client: discord.Client, user_id: int) -> bool | None:
    """Whether ``user_id`` is in a home guild (True), surely in none (False: Discord said so of each), or
    not known (None: a home guild not at hand, an API error). What Discord said in the last minute is
    remembered (``client.strangers``): a flood of DMs costs one lookup per user a minute."""
    known = client.strangers.get(user_id)
    if known is not None:
        return not known
    unknown = False
    for guild_id in sorted(client.settings.home_guilds):
        guild = client.get_guild(guild_id)
        if guild is None:
            unknown = True
            continue
        try:
            if guild.get_member(user_id) is None:
                await guild.fetch_member(user_id)
        except discord.NotFound:
            continue
        except Exception:  # a timeout, a reset connection, a 5xx, no access: not known (and not remembered)
            log.warning(
                "could not tell whether user %s is in home guild %s", user_id, guild_id, exc_info=True
            )
            unknown = True
            continue
        client.strangers.put(user_id, False)
        return True
    if unknown:
        return None
    client.strangers.put(user_id, True)
    return False


def describe(user: discord.abc.User) -> str:
    return f"{user} ({user.id})"


async def require_admin(client: discord.Client, user: discord.abc.User, guild: discord.Guild | None) -> bool:
    """True for an admin; ``NotAdmin`` for anyone else."""
    if await is_admin(client, user, guild):
        return True
    where = f"guild {guild.id}" if guild is not None else "a DM"
    raise NotAdmin(f"{describe(user)} is not an admin in {where}")


async def respond(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, as the first response or, once the interaction was answered, as a follow-up."""
    send = interaction.followup.send if interaction.response.is_done() else interaction.response.send_message
    await send(text, ephemeral=True, allowed_mentions=NO_PING)


class AdminCog(commands.Cog):
    """A cog whose every command is for admins (listeners, such as reactions, are not commands)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await require_admin(interaction.client, interaction.user, interaction.guild)

    async def cog_check(self, ctx: commands.Context) -> bool:
        return await require_admin(ctx.bot, ctx.author, ctx.guild)

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
