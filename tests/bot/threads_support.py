"""Threads and forum channels on dpytest, which has neither: real ``discord.Thread`` and
``discord.ForumChannel`` objects made by discord.py's own gateway parsers in dpytest's state, messages in
them (replies too) through ``parse_message_create``, and the two HTTP routes the bot calls on them
(``start_thread_with_message``, ``edit_channel``) added to dpytest's fake HTTP client.

``install_thread_routes(bot)`` records what they were called with in ``bot.thread_calls`` (and lets a
sent message mention a thread, which dpytest's own mention lookup cannot find).
"""

from __future__ import annotations

from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend, factories

SOLVED_TAG_ID = 7001
PUBLIC_THREAD = 11


def _thread_dict(thread_id: int, guild_id: int, parent_id: int, owner_id: int, name: str) -> dict[str, Any]:
    return {
        "id": thread_id,
        "guild_id": guild_id,
        "parent_id": parent_id,
        "owner_id": owner_id,
        "name": name,
        "type": PUBLIC_THREAD,
        "member_count": 1,
        "message_count": 0,
        "rate_limit_per_user": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2026-01-01T00:00:00+00:00",
            "locked": False,
        },
        "newly_created": True,
    }


def install_thread_routes(bot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give dpytest's HTTP client the thread routes discord.py's ``Message.create_thread`` and
    ``Thread.edit`` call; each call is recorded in ``bot.thread_calls`` as ``(route, kwargs)``."""
    http = bot.http
    calls: list[tuple[str, dict[str, Any]]] = []
    bot.thread_calls = calls

    async def start_thread_with_message(channel_id: int, message_id: int, **kwargs: Any) -> dict[str, Any]:
        calls.append(("start_thread_with_message", {"channel_id": channel_id, **kwargs}))
        channel = bot.get_channel(channel_id)
        data = _thread_dict(message_id, channel.guild.id, channel_id, bot.user.id, kwargs["name"])
        backend.get_state().parse_thread_create(data)
        return data

    async def edit_channel(channel_id: int, *, reason: str | None = None, **payload: Any) -> dict[str, Any]:
        calls.append(("edit_channel", {"channel_id": channel_id, **payload}))
        thread = next(g.get_thread(channel_id) for g in bot.guilds if g.get_thread(channel_id))
        data = _thread_dict(thread.id, thread.guild.id, thread.parent_id, thread.owner_id, thread.name)
        data["applied_tags"] = payload.get("applied_tags", [str(t) for t in thread._applied_tags])
        thread._update(data)
        return data

    http.start_thread_with_message = start_thread_with_message
    http.edit_channel = edit_channel
    # dpytest resolves "<#id>" in a sent message among the guild's channels only: a thread's is None there.
    plain = backend.find_channel_mentions

    def find_channel_mentions(content: str | None, guild: discord.Guild | None) -> list[Any]:
        return [channel for channel in plain(content, guild) if channel is not None]

    monkeypatch.setattr(backend, "find_channel_mentions", find_channel_mentions)


def make_forum(guild: discord.Guild, name: str = "help", *, solved_tag: bool = True) -> discord.ForumChannel:
    """A forum channel in ``guild``, with a "Solved" tag (``SOLVED_TAG_ID``) unless ``solved_tag`` is off."""
    tag = {"moderated": False, "emoji_id": None, "emoji_name": None}
    tags = [{**tag, "id": 7000, "name": "Rules"}]
    if solved_tag:
        tags.append({**tag, "id": SOLVED_TAG_ID, "name": "✅ Solved", "emoji_name": "✅"})
    data = factories.make_channel_dict(15, guild_id=guild.id, name=name, position=len(guild.channels) + 1)
    data["available_tags"] = tags
    backend.get_state().parse_channel_create(data)
    return guild.get_channel(data["id"])


def make_thread(parent: Any, name: str, owner: Any, thread_id: int = -1) -> discord.Thread:
    """A new public thread under ``parent`` (a text or forum channel), dispatched as ``thread_create``."""
    thread_id = thread_id if thread_id > 0 else factories.make_id()
    data = _thread_dict(thread_id, parent.guild.id, parent.id, owner.id, name)
    backend.get_state().parse_thread_create(data)
    return parent.guild.get_thread(thread_id)


async def say(
    channel: Any,
    member: Any,
    content: str,
    *,
    reply_to: discord.Message | None = None,
    id_num: int = -1,
    ping: bool = False,
) -> discord.Message:
    """``member`` posts ``content`` in ``channel`` (a thread too), optionally as a reply (``ping``: one that
    mentions the replied-to author, as Discord's replies do by default); events run."""
    data = factories.make_message_dict(
        channel, member, id_num=id_num, content=content, guild_id=channel.guild.id
    )
    if reply_to is not None:
        data["message_reference"] = {
            "message_id": reply_to.id,
            "channel_id": reply_to.channel.id,
            "guild_id": channel.guild.id,
        }
        data["type"] = 19  # a reply
    mentions = backend.find_user_mentions(content, channel.guild)
    if ping and reply_to is not None:
        mentions.append(reply_to.author)
    data["mentions"] = [factories.dict_from_user(m) for m in mentions]
    state = backend.get_state()
    state.parse_message_create(data)
    backend._cur_config.messages.setdefault(channel.id, []).append(data)
    await dpytest.run_all_events()
    return state._get_message(data["id"])


async def post_in_forum(forum: discord.ForumChannel, member: Any, title: str, content: str) -> discord.Thread:
    """A new forum post: its thread, then its starter message (whose id is the thread's)."""
    thread = make_thread(forum, title, member)
    await say(thread, member, content, id_num=thread.id)
    return thread
