"""How a reply's pieces are sent, and where its later messages point: votes and corrections on a long
answer's second message count for the first, which is the one logged (``threads.AnswerParts``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.discord_app.client import NO_PING

# Sends the pieces of one reply (the first with ``view``, if any); returns the first message sent.
Send = Callable[[list[str], discord.ui.View | None], Awaitable[Any]]


def note_parts(bot: Any, first: Any, later: list[Any]) -> None:
    """Votes and corrections on a long answer's later messages count for its first (``AnswerParts``)."""
    ids = [m.id for m in later if isinstance(getattr(m, "id", None), int)]
    if ids and isinstance(getattr(first, "id", None), int):
        bot.answer_parts.note(first.id, ids)


def followup_sender(interaction: discord.Interaction) -> Send:
    """``Send`` for a slash command's reply: its follow-ups (the first with ``view``)."""

    async def send(pieces: list[str], view: discord.ui.View | None) -> Any:
        extra = {"view": view} if view is not None else {}
        first = await interaction.followup.send(pieces[0], allowed_mentions=NO_PING, wait=True, **extra)
        later = [await interaction.followup.send(p, allowed_mentions=NO_PING, wait=True) for p in pieces[1:]]
        note_parts(interaction.client, first, later)
        return first

    return send
