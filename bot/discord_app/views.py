"""The "did you mean" buttons: one per suggested known question, for the asker only.

A plain (non-persistent) ``discord.ui.View``: its buttons live as long as the process and ``timeout``
seconds of inactivity, after which they are disabled on the message. A click from the asker disables
them all (one choice per question), marks the chosen one and hands the question to ``on_choose``; anyone
else gets an ephemeral "only the asker can choose". After a restart Discord shows "This interaction
failed" on old buttons: asking again gives new ones.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import discord

from bot.discord_app.client import NO_PING
from bot.discord_app.permissions import respond
from bot.discord_app.replies import button_label

log = logging.getLogger(__name__)

SUGGEST_TIMEOUT_S = 300.0
ONLY_ASKER = "Only the person who asked can choose; ask me yourself to get your own choices."
OnChoose = Callable[[discord.Interaction, str], Awaitable[None]]


class SuggestionButton(discord.ui.Button["SuggestionView"]):
    def __init__(self, question: str) -> None:
        super().__init__(label=button_label(question), style=discord.ButtonStyle.secondary)
        self.question = question  # the whole known question (the label may be cut at 80 characters)

    async def callback(self, interaction: discord.Interaction) -> None:
        view = self.view
        assert view is not None
        await view.choose(interaction, self)


class SuggestionView(discord.ui.View):
    """Buttons for ``suggestions``; ``message`` is set by whoever sends it (to disable them on timeout)."""

    def __init__(
        self,
        *,
        asker_id: int,
        suggestions: Sequence[str],
        on_choose: OnChoose,
        timeout: float | None = SUGGEST_TIMEOUT_S,
    ) -> None:
        super().__init__(timeout=timeout)
        self.asker_id = asker_id
        self.on_choose = on_choose
        self.message: discord.Message | discord.WebhookMessage | None = None
        self.chosen: str | None = None
        for question in suggestions:
            self.add_item(SuggestionButton(question))

    @property
    def buttons(self) -> list[SuggestionButton]:
        return [item for item in self.children if isinstance(item, SuggestionButton)]

    def disable(self) -> None:
        for button in self.buttons:
            button.disabled = True

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.asker_id:
            return True
        await interaction.response.send_message(ONLY_ASKER, ephemeral=True, allowed_mentions=NO_PING)
        return False

    async def choose(self, interaction: discord.Interaction, button: SuggestionButton) -> None:
        if self.chosen is not None:  # a double click that raced the first one
            await interaction.response.defer()
            return
        self.chosen = button.question
        self.stop()
        self.disable()
        button.style = discord.ButtonStyle.primary  # shows which one was chosen
        await interaction.response.edit_message(view=self)  # acknowledges at once; the answer follows
        await self.on_choose(interaction, button.question)

    async def on_timeout(self) -> None:
        self.disable()
        if self.message is None:
            return
        try:
            await self.message.edit(view=self, allowed_mentions=NO_PING)
        except discord.HTTPException:  # deleted, or the interaction token behind it expired
            log.debug("could not disable the suggestion buttons on message %s", self.message.id)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item, /
    ) -> None:
        log.error("suggestion button failed", exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            await respond(interaction, "Sorry, that failed; please ask again.")
