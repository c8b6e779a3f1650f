"""Pressing the review's dynamic buttons (``bot.discord_app.review.CandidateButton``) as discord.py does after
a restart, and interactions whose response is done once deferred; for the tests and the community bench
(``bench/_community_sim.py``)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

from bot.discord_app.review import CandidateButton
from tests.bot.fixtures import make_interaction


def interaction_for(bot: Any, user: Any, **kwargs: Any) -> MagicMock:
    """``make_interaction`` whose response is done once deferred, as discord.py's is."""
    interaction = make_interaction(bot, user, **kwargs)
    interaction.response.is_done = MagicMock(side_effect=lambda: interaction.response.defer.await_count > 0)
    return interaction


async def press(
    bot: Any, action: str, candidate_id: int, user: Any, *, guild: Any = None, message: Any = None
) -> MagicMock:
    """Press a candidate's button as discord.py does for a registered dynamic item (after a restart)."""
    store = bot._connection._view_store
    custom_id = f"qabot:cand:{action}:{candidate_id}"
    [(pattern, factory)] = [(p, f) for p, f in store._dynamic_items.items() if p.fullmatch(custom_id)]
    assert factory is CandidateButton
    interaction = interaction_for(bot, user, guild=guild)
    interaction.message = message
    item = await factory.from_custom_id(
        interaction, CandidateButton(action, candidate_id).item, pattern.fullmatch(custom_id)
    )
    if await item.interaction_check(interaction):
        await item.callback(interaction)
    return interaction
