"""The Discord client: a ``commands.Bot`` that receives everything it needs through its constructor.

Modelled on discord.py's ``examples/advanced_startup.py``: the ``Answerer``, the store's session factory
and the ``RetrainJob`` are built by the entry point (``qabot run``) and injected here; cogs read them from
the bot. Slash commands are synced in ``setup_hook`` to ``DEV_GUILD_ID`` only (instant, and once per
process), or on demand with ``qabot sync``; never in ``on_ready``, which fires again on every reconnect and
would soon hit Discord's rate limit on command syncs.

Past 2,500 guilds Discord requires gateway sharding: with ``SHARD_COUNT`` set, ``make_bot`` builds a
``ShardedQABot`` (a ``QABot`` on ``commands.AutoShardedBot``) serving ``SHARD_IDS`` (or every shard), so
several ``qabot run`` processes share one store. Without it the bot is a plain ``commands.Bot``, unchanged:
an ``AutoShardedBot`` with no ``shard_count`` would ask Discord for its recommended count instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.discord_app.flood import EscalationLimiter
from bot.discord_app.rate_limits import Verdicts
from bot.discord_app.threads import AnswerParts, Conversations
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from bot.async_store import SessionFactory
    from bot.retrain import RetrainJob

log = logging.getLogger(__name__)

COMMAND_PREFIX = "!"  # only for `!correct`; questions never need a prefix
# Nothing the bot sends may ping: questions and answers can contain @everyone, roles or users. The client's
# default and every send in the cogs use it, so no code path depends on one of them alone.
NO_PING = discord.AllowedMentions.none()
EXTENSIONS = (
    "bot.discord_app.cogs.ask",
    "bot.discord_app.cogs.escalation",
    "bot.discord_app.cogs.feedback",
    "bot.discord_app.cogs.admin",
    "bot.discord_app.cogs.desk",
    "bot.discord_app.cogs.community",
)
# What the bot needs in a channel: read, reply (replies need Read Message History), embeds for /stats,
# files for /export and the chart, threads (REPLY_IN_THREAD starts them; a forum post's "solved" tag needs
# Manage Threads). Nothing administrative.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    create_public_threads=True,  # REPLY_IN_THREAD
    manage_threads=True,  # a forum post's "solved" tag
)


def make_intents() -> discord.Intents:
    intents = discord.Intents.default()  # guilds, guild/DM messages and reactions
    # Privileged: without it, messages in allowed channels arrive with empty content.
    # Enable it under Bot → Privileged Gateway Intents in the Developer Portal.
    intents.message_content = True
    return intents


class QABot(commands.Bot):
    """qabot on Discord. ``answerer`` may be None only for ``qabot sync``, which never answers."""

    def __init__(
        self,
        *,
        settings: Settings,
        answerer: Answerer | None,
        session_factory: SessionFactory | None,
        retrain_job: RetrainJob | None,
        sync_dev_guild: bool = True,
        intents: discord.Intents | None = None,
        **options: Any,
    ) -> None:
        # A text-only bot: discord.py's "PyNaCl/davey is not installed" voice warnings are noise here.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=COMMAND_PREFIX,
            intents=intents or make_intents(),
            allowed_mentions=NO_PING,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.answerer = answerer
        self.session_factory = session_factory
        self.retrain_job = retrain_job
        self._sync_dev_guild = sync_dev_guild
        # Escalated exchanges an admin's Teach has answered, and by whom: a second admin whose Teach form
        # was opened before the first submitted must not send the asker another answer.
        self.taught_exchanges: dict[int, int] = {}
        self.escalations = EscalationLimiter()
        self.conversations = Conversations()  # per thread: the previous question, for follow-ups
        self.answer_parts = AnswerParts()  # a long answer's later messages → its first (the logged one)
        self.strangers = Verdicts()  # who DMs from outside the home guilds (``permissions.outsider``)

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._sync_dev_guild and self.settings.dev_guild_id:
            await self.sync_commands(self.settings.dev_guild_id)

    async def sync_commands(self, guild_id: int | None = None) -> list[discord.app_commands.AppCommand]:
        """Push the slash commands to one guild (instant) or globally (``guild_id`` None; up to an hour)."""
        if guild_id is None:
            synced = await self.tree.sync()
        else:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        log.info(
            "synced %d slash commands to %s", len(synced), f"guild {guild_id}" if guild_id else "all guilds"
        )
        return synced

    def invite_url(self) -> str | None:
        """The OAuth2 URL that adds this bot to a server, with slash commands and the permissions it needs."""
        if self.application_id is None:
            return None
        return discord.utils.oauth_url(
            self.application_id, permissions=INVITE_PERMISSIONS, scopes=("bot", "applications.commands")
        )

    def shards_served(self) -> str:
        """Which gateway shards this process serves, for the logs."""
        return "unsharded"

    async def on_ready(self) -> None:
        log.info(
            "logged in as %s (%s) in %d guilds, %s",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
            self.shards_served(),
        )
        if not self.guilds:
            log.info("not in any server yet; invite the bot with %s", self.invite_url())
        if not self.settings.home_guilds:
            log.warning(
                "HOME_GUILD_IDS is not set: only ADMIN_USER_IDS can administer the bot, and votes from every "
                "server count; set it to your server's id"
            )
        for guild in list(self.guilds):
            await self._leave_if_foreign(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        home = guild.id in self.settings.home_guilds
        log.info("joined guild %s (%s)%s", guild.name, guild.id, " (home)" if home else "")
        await self._leave_if_foreign(guild)

    async def _leave_if_foreign(self, guild: discord.Guild) -> None:
        """With ``LEAVE_OTHER_GUILDS`` (and a home guild set), leave any guild that is not a home guild."""
        home = self.settings.home_guilds
        if not (self.settings.leave_other_guilds and home) or guild.id in home:
            return
        try:
            await guild.leave()
            log.info("left guild %s (%s): not a home guild (LEAVE_OTHER_GUILDS)", guild.name, guild.id)
        except discord.HTTPException:
            log.warning("could not leave guild %s", guild.id, exc_info=True)

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        # Questions like "!what" reach the prefix parser too; unknown commands are not errors here.
        if isinstance(error, commands.CommandNotFound):
            return
        if ctx.cog is not None and ctx.cog.has_error_handler():
            return  # the cog answered already
        log.error("prefix command %s failed", ctx.command, exc_info=error)


class ShardedQABot(QABot, commands.AutoShardedBot):
    """``QABot`` on discord.py's ``AutoShardedBot``: the same cogs and hooks (it *is* a ``QABot``), with one
    gateway connection per shard in ``shard_ids``. ``on_ready`` fires once all of them are ready."""

    def shards_served(self) -> str:
        ids = self.shard_ids if self.shard_ids is not None else range(self.shard_count or 0)
        return f"shards {', '.join(map(str, ids))} of {self.shard_count}"

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("shard %d of %s ready", shard_id, self.shard_count)


def make_bot(
    settings: Settings,
    *,
    answerer: Answerer | None,
    session_factory: SessionFactory | None,
    retrain_job: RetrainJob | None,
    sync_dev_guild: bool = True,
    intents: discord.Intents | None = None,
) -> QABot:
    """A ``ShardedQABot`` when ``SHARD_COUNT`` is set (``SHARD_IDS`` empty: this process serves all shards),
    else a plain ``QABot``."""
    common: dict[str, Any] = dict(
        settings=settings,
        answerer=answerer,
        session_factory=session_factory,
        retrain_job=retrain_job,
        sync_dev_guild=sync_dev_guild,
        intents=intents,
    )
    if settings.shard_count is None:
        return QABot(**common)
    return ShardedQABot(
        **common, shard_count=settings.shard_count, shard_ids=list(settings.shard_ids) or None
    )
