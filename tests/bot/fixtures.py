"""Fakes, fixtures and helpers for the bot tests, imported by ``tests/bot/conftest.py`` and the test modules.

- The generator fakes (``FakeGenerator``, ``known_generator``) live in ``tests/bot/fakes.py``.
- ``store`` is a real SQLite file in ``tmp_path``, migrated by ``storage.db.open_store``.
- ``dpy`` is a ``QABot`` wired to dpytest's fake Discord, with every outgoing message's
  JSON payload (``allowed_mentions``, ``message_reference``) recorded in ``dpy.sent_payloads``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord
import discord.abc
import discord.ext.test as dpytest
import pytest
import pytest_asyncio

from bot.settings import Settings
from tests.bot.fakes import FakeGenerator

ADMIN_ID = 4242
HOME_GUILD_ID = 5151  # the community's own guild in these tests (HOME_GUILD_IDS)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "admin_user_ids": [ADMIN_ID],
        "home_guild_ids": [HOME_GUILD_ID],
        "user_cooldown_s": 0,
        "base_datasets": [],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def store(tmp_path: Path):
    """A migrated SQLite store in a real file."""
    from storage.db import dispose, open_store

    factory = open_store(f"sqlite:///{tmp_path / 'qabot.db'}")
    yield factory
    dispose(factory)


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator()


@pytest_asyncio.fixture
async def answerer(fake_generator: FakeGenerator) -> AsyncIterator[Any]:
    from bot.answering.answerer import Answerer

    async with Answerer(fake_generator, batch_wait_ms=1, timeout_s=10) as running:
        yield running


@pytest_asyncio.fixture
async def dpy(request: pytest.FixtureRequest, answerer: Any, store: Any) -> AsyncIterator[Any]:
    """A ``QABot`` on dpytest.

    Override settings with ``@pytest.mark.parametrize("dpy", [{"user_cooldown_s": 60}], indirect=True)``.
    """
    from bot.discord_app.client import QABot

    overrides = getattr(request, "param", {})
    bot = QABot(
        settings=make_settings(**overrides),
        answerer=answerer,
        session_factory=store,
        retrain_job=MagicMock(),
        # dpytest keeps members in the guild cache only with the members intent.
        intents=discord.Intents.all(),
    )
    await bot._async_setup_hook()
    await bot.setup_hook()
    dynamic_items = dict(bot._connection._view_store._dynamic_items)  # registered by the cogs
    dpytest.configure(bot, members=3)
    # dpytest's configure clears the connection state, view store included: keep what the cogs registered.
    bot._connection._view_store._dynamic_items.update(dynamic_items)
    bot._connection.loop = asyncio.get_running_loop()  # discord.py 2.7 + dpytest 0.7
    if "home_guild_ids" not in overrides:  # dpytest's guild is the community's own, and HOME_GUILD_ID too
        bot.settings.home_guild_ids = [HOME_GUILD_ID, *(guild.id for guild in bot.guilds)]

    # dpytest drops allowed_mentions, message_reference and components when it builds the sent message:
    # record the outgoing payloads as discord.py serialises them, and the views sent or edited in.
    recorded: list[dict[str, Any]] = []
    views: list[discord.ui.View] = []
    original = discord.abc.handle_message_parameters

    def recording(*args: Any, **kwargs: Any) -> Any:
        params = original(*args, **kwargs)
        recorded.append(dict(params.payload or {}))
        if isinstance(kwargs.get("view"), discord.ui.View):
            views.append(kwargs["view"])
        return params

    # Sends go through discord.abc, edits of a message through discord.message.
    discord.abc.handle_message_parameters = discord.message.handle_message_parameters = recording
    bot.sent_payloads = recorded
    bot.sent_views = views
    try:
        yield bot
    finally:
        discord.abc.handle_message_parameters = discord.message.handle_message_parameters = original
        await dpytest.empty_queue()


def make_guild(guild_id: int = 0) -> MagicMock:
    """A spec'd guild (``HOME_GUILD_ID`` by default) with Discord's default upload limit."""
    guild = MagicMock(spec=discord.Guild, id=guild_id or HOME_GUILD_ID)
    guild.filesize_limit = 10 * 1024 * 1024
    return guild


DM = object()  # ``make_interaction(..., guild=DM)``: an interaction in a direct message


def make_interaction(bot: Any, user: Any, *, guild: Any = None, command: Any = None) -> MagicMock:
    """A spec'd ``discord.Interaction`` whose responses are AsyncMocks (so wrong attribute names fail), in
    the home guild unless ``guild`` says otherwise (``DM``: a direct message)."""
    guild = None if guild is DM else (guild or make_guild())
    interaction = MagicMock(spec=discord.Interaction)
    interaction.client = bot
    interaction.user = user
    interaction.guild = guild
    interaction.guild_id = guild.id if guild is not None else None
    interaction.channel = MagicMock(spec=discord.TextChannel)
    interaction.channel.send = AsyncMock()
    interaction.channel_id = 99
    interaction.id = 12345
    interaction.command = command
    interaction.response = MagicMock(spec=discord.InteractionResponse)
    interaction.response.is_done = MagicMock(return_value=False)
    for name in ("send_message", "defer", "edit_message", "send_modal"):
        setattr(interaction.response, name, AsyncMock())
    interaction.message = None  # the message a clicked button is on: set by tests of components
    interaction.edit_original_response = AsyncMock()
    interaction.followup = MagicMock(spec=discord.Webhook)
    interaction.followup.send = AsyncMock(return_value=MagicMock(spec=discord.WebhookMessage, id=777))
    status_message = MagicMock(spec=discord.InteractionMessage)
    status_message.edit = AsyncMock()
    interaction.original_response = AsyncMock(return_value=status_message)
    return interaction


def make_member(user_id: int, *, manage_guild: bool = False, roles: tuple[str, ...] = ()) -> MagicMock:
    member = MagicMock(spec=discord.Member)
    member.id = user_id
    member.bot = False
    member.guild_permissions = discord.Permissions(manage_guild=manage_guild)
    member.roles = [MagicMock(spec=discord.Role, id=1000 + i, name=name) for i, name in enumerate(roles)]
    for role, name in zip(member.roles, roles, strict=True):
        role.name = name  # MagicMock's own `name` argument names the mock, not the attribute
    member.__str__.return_value = f"member{user_id}"
    return member


def command_named(bot: Any, name: str) -> Any:
    """The slash command ``name`` ("teach"; a group's: "synonym add") from ``bot``'s tree, or None."""
    command = bot.tree.get_command(name.split()[0])
    for part in name.split()[1:]:
        command = command.get_command(part) if command is not None else None
    return command


async def invoke(bot: Any, name: str, interaction: Any, **kwargs: Any) -> None:
    """Run slash command ``name`` as discord.py's tree does: checks, callback, errors to the cog's handler."""
    from discord import app_commands

    command = command_named(bot, name)
    assert command is not None, f"/{name} is not registered"
    interaction.command = command
    try:
        if not await command._check_can_run(interaction):
            raise app_commands.CheckFailure(f"checks for /{name} failed")
        await command._do_call(interaction, kwargs)  # wraps callback errors in CommandInvokeError
    except app_commands.AppCommandError as error:
        await command.binding.cog_app_command_error(interaction, error)


async def react(message: discord.Message, user: Any, emoji: str, *, add: bool = True) -> None:
    """Add or remove a reaction through discord.py's gateway parser.

    dpytest 0.7's own add_reaction omits the ``type`` field that discord.py 2.7's raw reaction events
    require, so the payload is built here the way Discord sends it.
    """
    from discord.ext.test import backend, factories

    data: dict[str, Any] = {
        "message_id": message.id,
        "channel_id": message.channel.id,
        "user_id": user.id,
        "emoji": {"id": None, "name": emoji},
        "type": 0,  # normal (not a super reaction)
        "burst": False,
    }
    if message.guild is not None:
        data["guild_id"] = message.guild.id
        if add and isinstance(user, discord.Member):
            data["member"] = factories.dict_from_member(user)
    state = backend.get_state()
    (state.parse_message_reaction_add if add else state.parse_message_reaction_remove)(data)
    await dpytest.run_all_events()


TRAIN_FAST = ["--max-steps", "2", "--recall-sample", "0", "--encoder", "none"]


def small_dataset(path: Path, n: int = 30) -> Path:
    """The first ``n`` pairs of examples/soccer.json (a few eval questions: a quick gate)."""
    import json

    records = json.loads(Path("examples/soccer.json").read_text(encoding="utf-8"))[:n]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny from-scratch checkpoint made by the real trainer (``python -m training``), with split.json."""
    import subprocess

    from bot.retrain.trainer_process import trainer_command

    root = tmp_path_factory.mktemp("trained")
    data = small_dataset(root / "data.json")
    out = root / "run-initial"
    cmd = trainer_command(out, [data], json_progress=True, options=["--size", "tiny", *TRAIN_FAST])
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


# Run as the interpreter of ``trainer_command`` (``python -m training --out DIR …``): makes DIR with a
# split.json, as the real trainer would, and reports it done on stdout.
FAKE_TRAINER = """import json, sys
from pathlib import Path
assert sys.argv[1:3] == ["-m", "training"], sys.argv
out = Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir(parents=True)
(out / "split.json").write_text(json.dumps({"train": [], "eval": [{"question": "q?", "answer": "a"}]}))
print(json.dumps({"event": "done", "model_dir": str(out), "metrics": {}}))
"""


def fake_trainer(folder: Path) -> str:
    """A stand-in interpreter for ``RetrainJob(python=...)``: it runs the job's real trainer command
    (``bot.retrain.trainer_process.trainer_command``) as ``FAKE_TRAINER`` in a moment."""
    import sys

    path = folder / "fake-python"
    path.write_text(f"#!{sys.executable}\n{FAKE_TRAINER}", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def fake_models(tmp_path: Path, *names: str) -> list[Path]:
    """Folders ``tmp_path/models/<name>`` that pass for retrained models (a split.json each)."""
    import json

    out = []
    for name in names:
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        (folder / "split.json").write_text(
            json.dumps({"train": [], "eval": [{"question": "q?", "answer": "a"}]})
        )
        out.append(folder)
    return out
