"""Starting the Discord client for ``qabot run`` and ``qabot sync``, with start-up failures made readable.

A rejected token, a missing privileged intent, an unreachable gateway and Discord's own failures (5xx,
rate limits) each become a ``DiscordStartupError`` whose message says what to do; the launcher turns it
into an exit code. The token itself is never printed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

import aiohttp
import discord

from bot.discord_app.client import make_bot
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from bot.async_store import SessionFactory
    from bot.retrain import RetrainJob

T = TypeVar("T")
PORTAL = "https://discord.com/developers/applications"


class DiscordStartupError(Exception):
    """Discord refused the bot (``reachable``: the user must fix the token or the intents) or could not
    be reached at all."""

    def __init__(self, message: str, *, reachable: bool) -> None:
        super().__init__(message)
        self.reachable = reachable


async def run_bot(
    settings: Settings, answerer: Answerer, session_factory: SessionFactory, retrain_job: RetrainJob
) -> None:
    """Log in and serve until the connection is closed (Ctrl-C)."""
    bot = make_bot(settings, answerer=answerer, session_factory=session_factory, retrain_job=retrain_job)

    async def start() -> None:
        async with bot:
            await bot.start(settings.token)

    await _explained(start())


async def sync_commands(settings: Settings, guild_id: int | None) -> list[discord.app_commands.AppCommand]:
    """Upload the slash commands to one guild, or to every guild with ``guild_id`` None."""
    # No model or store needed: syncing only uploads the command definitions.
    bot = make_bot(settings, answerer=None, session_factory=None, retrain_job=None, sync_dev_guild=False)

    async def sync() -> list[discord.app_commands.AppCommand]:
        async with bot:
            await bot.login(settings.token)  # runs setup_hook, which loads the cogs
            return await bot.sync_commands(guild_id)

    return await _explained(sync())


async def _explained(talk_to_discord: Awaitable[T]) -> T:
    """Await ``talk_to_discord``; turn Discord's start-up failures into ``DiscordStartupError``s."""
    try:
        return await talk_to_discord
    except discord.LoginFailure:
        raise DiscordStartupError(
            f"Discord rejected the token. Copy a new one from {PORTAL} → your app → Bot → Reset Token, "
            "and put it in DISCORD_TOKEN (.env).",
            reachable=True,
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise DiscordStartupError(
            f"Discord refused the Message Content intent. Enable it at {PORTAL} → your app → Bot → "
            "Privileged Gateway Intents → Message Content Intent.",
            reachable=True,
        ) from None
    except (discord.HTTPException, discord.ConnectionClosed) as e:  # reached, but it failed (5xx, 429, …)
        raise DiscordStartupError(
            f"Discord could not take the bot right now ({type(e).__name__}: {e}). It is usually brief: "
            "try again in a few minutes (https://discordstatus.com).",
            reachable=False,
        ) from None
    except (aiohttp.ClientError, discord.GatewayNotFound, OSError, TimeoutError) as e:
        raise DiscordStartupError(
            f"could not reach Discord ({type(e).__name__}: {e}). Check the network, proxy or firewall; "
            "use `qabot run --local` for the terminal.",
            reachable=False,
        ) from None
