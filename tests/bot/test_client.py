"""The client's wiring: cogs in setup_hook, slash-command sync only to DEV_GUILD_ID (never on_ready),
the throttled status message, and `qabot sync`."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from unittest.mock import AsyncMock

import discord
from typer.testing import CliRunner

from bot.cli import app
from bot.discord_app.client import QABot
from bot.status import ThrottledStatus
from tests.bot.fixtures import make_settings

ALL_COMMANDS = {
    "ask",
    "correct",
    "retrain",
    "export",
    "teach",
    "unanswered",
    "stats",
    "model",
    "reload",
    "synonym",
    "gaps",  # the knowledge desk (cogs/desk.py)
    "review",
    "harvest",
    "Mark as answer",  # a message command (right-click → Apps)
}


def make_bot(**settings) -> QABot:
    return QABot(settings=make_settings(**settings), answerer=None, session_factory=None, retrain_job=None)


async def test_setup_hook_loads_the_cogs_and_syncs_only_to_the_dev_guild(monkeypatch):
    bot = make_bot(dev_guild_id=1234)
    sync = AsyncMock(return_value=[])
    monkeypatch.setattr(bot.tree, "sync", sync)
    await bot._async_setup_hook()
    await bot.setup_hook()
    assert set(bot.cogs) == {"Ask", "Escalation", "Feedback", "Admin", "Desk", "Community"}
    assert {c.name for c in bot.tree.get_commands()} == ALL_COMMANDS
    assert bot.get_command("correct") is not None  # the `!correct` prefix command
    sync.assert_awaited_once()
    assert sync.await_args.kwargs["guild"].id == 1234
    await bot.on_ready()  # reconnects fire on_ready again: it must never sync
    sync.assert_awaited_once()
    await bot.close()


async def test_without_dev_guild_nothing_is_synced_at_startup(monkeypatch):
    bot = make_bot()
    sync = AsyncMock(return_value=[])
    monkeypatch.setattr(bot.tree, "sync", sync)
    await bot._async_setup_hook()
    await bot.setup_hook()
    sync.assert_not_awaited()
    await bot.close()


async def test_status_edits_at_most_every_interval_and_shows_the_newest_text():
    now = [0.0]
    edits: list[str] = []

    async def edit(text: str) -> None:
        edits.append(text)

    status = ThrottledStatus(edit, interval=0.05, clock=lambda: now[0])
    await status.update("step 1")  # first update: shown at once
    for step in range(2, 50):  # a burst within the interval: coalesced
        await status.update(f"step {step}")
    assert edits == ["step 1"]
    now[0] = 1.0
    await asyncio.sleep(0.1)  # the pending flush fires with the newest text
    assert edits == ["step 1", "step 49"]
    await status.final("done")  # the result is shown at once
    assert edits[-1] == "done" and len(edits) == 3


async def test_status_survives_a_failing_edit():
    async def edit(text: str) -> None:
        raise discord.HTTPException(AsyncMock(status=401, reason="expired"), "token expired")

    status = ThrottledStatus(edit)
    await status.final("done")  # logged, not raised
    assert status.edits == 0


def test_qabot_sync_uploads_the_commands_to_a_guild(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.fake.SECRET")
    monkeypatch.delenv("DEV_GUILD_ID", raising=False)

    async def fake_login(self, token):
        await self.setup_hook()  # what discord.Client.login does after authenticating

    synced = {}

    async def fake_sync(self, *, guild=None):
        synced["guild"] = guild.id if guild else None
        return [SimpleNamespace(name=c.name) for c in self.get_commands(guild=guild)]

    monkeypatch.setattr(discord.Client, "login", fake_login)
    monkeypatch.setattr(discord.app_commands.CommandTree, "sync", fake_sync)
    result = CliRunner().invoke(app, ["sync", "--guild", "777"])
    assert result.exit_code == 0, result.output
    assert synced == {"guild": 777}
    assert (
        f"Synced {len(ALL_COMMANDS)} commands to guild 777" in result.output and "/retrain" in result.output
    )
    assert "SECRET" not in result.output


def test_invite_url_asks_for_bot_and_slash_command_scopes():
    bot = make_bot()
    assert bot.invite_url() is None  # unknown until login
    bot._connection.application_id = 123
    url = bot.invite_url()
    assert "client_id=123" in url and "scope=bot+applications.commands" in url
    # Add Reactions, Create Public Threads and Manage Threads (a forum post's "solved" tag) besides the rest
    assert "permissions=326417632320" in url
