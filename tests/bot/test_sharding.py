"""Sharding (past 2,500 guilds): SHARD_COUNT / SHARD_IDS are validated, and with SHARD_COUNT set the client
is an AutoShardedBot that is still a QABot (cogs load in setup_hook as usual); without it nothing changes.

dpytest drives a plain ``discord.Client`` only, so these check construction, setup_hook and the settings;
nothing logs in.
"""

from __future__ import annotations

import logging
from unittest.mock import AsyncMock

import pytest
from discord.ext import commands
from typer.testing import CliRunner

from bot.cli import app
from bot.discord_app.client import QABot, ShardedQABot, make_bot
from bot.settings import Settings
from tests.bot.fixtures import make_settings

COGS = {"Ask", "Escalation", "Feedback", "Admin", "Desk", "Community"}


def build(**settings) -> QABot:
    return make_bot(make_settings(**settings), answerer=None, session_factory=None, retrain_job=None)


def test_shard_settings_parse_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "2, 3")
    s = Settings()
    assert s.shard_count == 4 and s.shard_ids == [2, 3]


def test_shard_settings_default_to_unsharded(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHARD_COUNT", raising=False)
    monkeypatch.delenv("SHARD_IDS", raising=False)
    s = Settings()
    assert s.shard_count is None and s.shard_ids == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "0,1"}, "without SHARD_COUNT"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3,4"}, "[4] out of range"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "-1"}, "[-1] out of range"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "twice"),
        ({"SHARD_COUNT": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_shard_settings_are_rejected_with_a_clear_message(monkeypatch, tmp_path, env, message):
    monkeypatch.chdir(tmp_path)
    for name in ("SHARD_COUNT", "SHARD_IDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code != 0
    assert "SHARD_" in result.output and message in result.output, result.output


def test_without_shard_count_the_bot_is_a_plain_bot():
    bot = build()
    assert type(bot) is QABot
    assert not isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count is None and bot.shard_id is None


async def test_the_sharded_bot_serves_the_configured_shards_and_loads_the_cogs(monkeypatch, caplog):
    bot = build(shard_count=4, shard_ids=[2, 3], dev_guild_id=1234)
    assert isinstance(bot, ShardedQABot) and isinstance(bot, QABot)
    assert isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count == 4 and bot.shard_ids == [2, 3]
    sync = AsyncMock(return_value=[])
    monkeypatch.setattr(bot.tree, "sync", sync)
    await bot._async_setup_hook()
    await bot.setup_hook()
    assert set(bot.cogs) == COGS
    assert bot.get_command("correct") is not None
    assert sync.await_args.kwargs["guild"].id == 1234
    with caplog.at_level(logging.INFO, logger="bot.discord_app.client"):
        await bot.on_ready()
    assert "shards 2, 3 of 4" in caplog.text
    sync.assert_awaited_once()  # on_ready never syncs, sharded or not
    await bot.close()


def test_shard_count_without_ids_serves_every_shard():
    bot = build(shard_count=2)
    assert isinstance(bot, ShardedQABot)
    assert bot.shard_count == 2 and bot.shard_ids is None  # discord.py launches 0..shard_count-1
    assert bot.shards_served() == "shards 0, 1 of 2"
