"""Admin slash commands: /retrain, /export, /teach, /synonym, /unanswered, /stats, /model, /reload.

The cog is an ``AdminCog`` (``bot.discord_app.permissions``): one check guards every command (Manage Server,
``ADMIN_USER_IDS`` or ``ADMIN_ROLE``); anyone else gets an ephemeral refusal and the attempt is logged.
Replies that expose data (exports, the unanswered queue, stats) are ephemeral.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from pathlib import Path
from typing import Literal

import discord
from discord import app_commands

from bot import admin_actions, async_store
from bot.discord_app.chunking import split_message
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.permissions import AdminCog
from bot.discord_app.replies import user_text
from bot.retrain import RetrainBusy, RetrainOptions, RetrainProgress
from bot.status import ThrottledStatus
from storage.formats import FORMATS

log = logging.getLogger(__name__)

FAILURE_DETAILS = "The details are in the bot's log (and were sent to the admin who started it)."
DM_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's default attachment limit outside boosted guilds
ExportFormat = Literal[FORMATS]  # the slash command offers exactly storage's formats as choices


def _status_editor(interaction: discord.Interaction):
    """An edit function for the retrain status message that survives the 15-minute interaction token.

    Interaction webhooks expire after 15 minutes and a retrain can take longer; if an edit fails, the
    status continues in a new channel message, which the bot can edit for as long as it likes.
    """
    target: dict[str, discord.Message | None] = {"message": None}

    async def edit(text: str) -> None:
        message = target["message"]
        if message is None:
            message = target["message"] = await interaction.original_response()
        try:
            await message.edit(content=text, allowed_mentions=NO_PING)
        except discord.HTTPException:
            if interaction.channel is None:
                raise
            target["message"] = await interaction.channel.send(text, allowed_mentions=NO_PING)

    return edit


class Admin(AdminCog):
    """Commands for the bot's admins."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot

    # -- /retrain ------------------------------------------------------------------------------------
    @app_commands.command(name="retrain")
    @app_commands.describe(
        epochs="Training epochs (default: the trainer's default)",
        from_scratch="Train a new model from scratch instead of fine-tuning the serving one",
        force="Swap in the new model even if it scores lower than the serving one",
        cancel="Cancel the running retrain instead of starting one",
    )
    async def retrain(
        self,
        interaction: discord.Interaction,
        epochs: app_commands.Range[int, 1, 100] | None = None,
        from_scratch: bool = False,
        force: bool = False,
        cancel: bool = False,
    ) -> None:
        """Retrain the model on everything the bot has learned (admins)."""
        job = self.bot.retrain_job
        if cancel:
            stopped = await job.cancel()
            text = (
                "Retrain cancelled; the previous model keeps answering."
                if stopped
                else "No retrain is running."
            )
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PING)
            return
        status = ThrottledStatus(_status_editor(interaction))

        async def on_progress(progress: RetrainProgress) -> None:
            if progress.phase != "done":  # the outcome is said once, below, without the trainer's output
                await status.update(f"🛠️ Retraining… {progress.describe()}")

        options = RetrainOptions(
            epochs=epochs,
            from_scratch=from_scratch,
            force=force,
            triggered_by=f"discord:{interaction.user.id}",
        )
        try:
            task = job.start(options, on_progress)
        except RetrainBusy as busy:
            text = f"A retrain is already running: {busy}. Use `/retrain cancel:True` to stop it."
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PING)
            return
        await interaction.response.send_message("🛠️ Retrain started…", allowed_mentions=NO_PING)
        result = await task
        icon = {"swapped": "✅", "rejected": "↩️", "cancelled": "⏹️"}.get(result.status, "❌")
        if result.status != "failed":  # the gate's verdict: metrics, nothing from the trainer's output
            await status.final(f"{icon} Retrain {result.status}. {result.message}"[:2000])
            return
        # The status message is public, and a failure's text is the trainer's output (paths, data):
        # only the admin who asked sees it (while the interaction lasts); it is in the log either way.
        await status.final(f"{icon} Retrain failed; the previous model keeps answering. {FAILURE_DETAILS}")
        try:
            await interaction.followup.send(
                f"Retrain failed: {result.message}"[:2000], ephemeral=True, allowed_mentions=NO_PING
            )
        except discord.HTTPException:
            log.warning("could not send the retrain failure's details to %s", interaction.user.id)

    # -- /export -------------------------------------------------------------------------------------
    @app_commands.command(name="export")
    @app_commands.describe(format="Dataset format (json is ready for `qabot train`)")
    async def export(self, interaction: discord.Interaction, format: ExportFormat = "json") -> None:
        """Download the store as a dataset file (admins; only you see it)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        limit = interaction.guild.filesize_limit if interaction.guild else DM_UPLOAD_LIMIT
        with tempfile.TemporaryDirectory(prefix="qabot-export-") as tmp:
            path, summary = await admin_actions.export_file(self.bot.session_factory, format, Path(tmp))
            rows, warning = summary.rows, summary.kto_warning()
            note = f"\n⚠️ {warning}" if warning else ""  # the label balance `qabot export` warns about
            if path.stat().st_size > limit:
                path = await asyncio.to_thread(admin_actions.gzip_file, path)
            if path.stat().st_size > limit:
                text = (
                    f"The {format} export ({rows} rows) is too large to upload; use `qabot export` instead."
                )
                await interaction.followup.send(text + note, ephemeral=True, allowed_mentions=NO_PING)
                return
            await interaction.followup.send(
                f"{rows} rows, format `{format}`.{note}",
                file=discord.File(path),
                ephemeral=True,
                allowed_mentions=NO_PING,
            )

    # -- /teach, /unanswered -------------------------------------------------------------------------
    @app_commands.command(name="teach")
    @app_commands.describe(question="The question", answer="The answer the bot should give")
    async def teach(self, interaction: discord.Interaction, question: str, answer: str) -> None:
        """Teach the bot a question and its answer, answered from now on (admins)."""
        question, answer = question.strip(), answer.strip()
        problem = admin_actions.pair_problem(question, answer)
        if problem:
            await interaction.response.send_message(problem, ephemeral=True, allowed_mentions=NO_PING)
            return
        # Teaching waits for the model's thread (busy answering, maybe for seconds): Discord wants a first
        # response within 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        pair_id = await async_store.teach(self.bot.session_factory, question, answer, interaction.user.id)
        await self.bot.answerer.teach(question, answer)
        await interaction.followup.send(
            f"Learned pair #{pair_id}: answered from now on, and part of the next `/retrain`.",
            ephemeral=True,
            allowed_mentions=NO_PING,
        )

    # -- /synonym add|remove|list ---------------------------------------------------------------------
    synonym = app_commands.Group(name="synonym", description="Words people type for the dataset's words")

    @synonym.command(name="add")
    @app_commands.describe(
        word="What people type (a word or short phrase), e.g. goalie",
        means="What it means in the dataset's words, e.g. goalkeeper (several: separate with commas)",
    )
    async def synonym_add(self, interaction: discord.Interaction, word: str, means: str) -> None:
        """People type this word for those words: searched as both, from now on (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await admin_actions.add_synonym(
            self.bot.session_factory,
            self.bot.answerer,
            word,
            admin_actions.parse_meanings(means),
            interaction.user.id,
        )
        await interaction.followup.send(text[:2000], ephemeral=True, allowed_mentions=NO_PING)

    @synonym.command(name="remove")
    @app_commands.describe(word="The word whose synonym goes (a learned one is switched off)")
    async def synonym_remove(self, interaction: discord.Interaction, word: str) -> None:
        """Take back a synonym, or switch off one learned from the dataset (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await admin_actions.remove_synonym(
            self.bot.session_factory, self.bot.answerer, word, interaction.user.id
        )
        await interaction.followup.send(text[:2000], ephemeral=True, allowed_mentions=NO_PING)

    @synonym.command(name="list")
    @app_commands.describe(word="Show what this one word means to the search")
    async def synonym_list(self, interaction: discord.Interaction, word: str | None = None) -> None:
        """The admins' synonyms, and how many were learned from the dataset (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await admin_actions.synonyms_text(self.bot.session_factory, self.bot.answerer, word)
        for piece in split_message(text):
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PING)

    @app_commands.command(name="unanswered")
    async def unanswered(self, interaction: discord.Interaction) -> None:
        """Questions the bot could not answer, similar ones grouped, most asked first (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        groups = await admin_actions.unanswered_groups(
            self.bot.session_factory, guilds=self.bot.settings.home_guilds
        )
        for piece in split_message(admin_actions.unanswered_text(groups, show=user_text)):
            await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PING)

    # -- /stats, /model, /reload ---------------------------------------------------------------------
    @app_commands.command(name="stats")
    async def stats(self, interaction: discord.Interaction) -> None:
        """Usage, votes and the serving model's metrics, with a chart of questions per day (admins)."""
        await interaction.response.defer(thinking=True, ephemeral=True)  # top questions are users' words
        stats = await async_store.stats(
            self.bot.session_factory, days=14, guilds=self.bot.settings.home_guilds
        )
        answerer = self.bot.answerer
        manifest = getattr(answerer.generator, "manifest", None)
        embed = discord.Embed(
            title="qabot stats",
            description=admin_actions.stats_text(stats, answerer.model_version, manifest, show=user_text),
        )
        png = await asyncio.to_thread(admin_actions.questions_per_day_png, stats.get("per_day") or [])
        embed.set_image(url="attachment://questions.png")
        await interaction.followup.send(
            embed=embed,
            file=discord.File(io.BytesIO(png), filename="questions.png"),
            ephemeral=True,
            allowed_mentions=NO_PING,
        )

    @app_commands.command(name="model")
    async def model(self, interaction: discord.Interaction) -> None:
        """The serving model: base, data, metrics, threshold (admins)."""
        answerer = self.bot.answerer
        text = admin_actions.model_summary(
            getattr(answerer.generator, "manifest", None), answerer.model_version
        )
        job = self.bot.retrain_job
        if job is not None and job.running:
            text += f"\nRetrain running: {job.progress.describe()}"
        await interaction.response.send_message(text[:2000], ephemeral=True, allowed_mentions=NO_PING)

    @app_commands.command(name="reload")
    async def reload(self, interaction: discord.Interaction) -> None:
        """Load the model MODEL_DIR points at now, e.g. after `qabot train` on the host (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            version = await self.bot.retrain_job.reload()
        except RetrainBusy as busy:
            text = f"A retrain is running ({busy}); reload after it finishes."
        except Exception as e:
            log.exception("reload failed")
            text = f"Reload failed, the previous model keeps answering: {e}"
        else:
            text = f"Now serving `{version}`."
        await interaction.followup.send(text[:2000], ephemeral=True, allowed_mentions=NO_PING)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Admin(bot))
