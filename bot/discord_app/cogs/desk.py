"""The admins' knowledge desk on Discord: /gaps (what people could not get answered, with a Teach button
per gap), /review (alternate phrasings, 👎'd answers and members' answers, with Accept / Edit / Reject:
``review_views``, whose buttons this cog registers so they work after a restart) and /harvest (a channel's
answered questions into the review queue: ``bot.discord_app.harvest``); with ``DIGEST_WEEKLY``, a weekly
digest in the escalation channel (``bot.desk.digest``), posted by the process that serves its guild.

An ``AdminCog``: one check guards every command (``bot.discord_app.permissions``). Replies are ephemeral:
they show people's questions. A gap's Teach button is the escalation channel's (``escalation.TeachButton``,
registered by ``cogs/escalation.py``): it answers the gap's latest question, replies to its asker, and the
taught pair answers the gap's other wordings from then on.
"""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime, time, timedelta

import discord
from discord import app_commands
from discord.ext import tasks

from bot.answering import torch_thread
from bot.desk import review as review_queue
from bot.desk import service
from bot.desk.digest import build_digest, claim_week, digest_text, due, release_week
from bot.desk.report import gap_text, gaps_head, gaps_png, review_item_text, shares_line
from bot.discord_app.chunking import split_message
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.escalation import teach_view
from bot.discord_app.harvest import HARVEST_LIMIT, MAX_LIMIT, harvest_channel
from bot.discord_app.permissions import AdminCog
from bot.discord_app.replies import user_text
from bot.discord_app.review_views import CUT_NOTE, ReviewButton, review_view, shown_whole

log = logging.getLogger(__name__)

REVIEW_SHOWN = 10  # review items sent with their buttons per /review (decide them, then ask again)
GAPS_WITH_BUTTONS = 5  # gaps sent as their own message with a Teach button (the rest are listed)
DEFAULT_DAYS = 30


def _reply_to(question: dict) -> int | None:
    """The asker's message a Teach answer replies to (None: asked outside Discord)."""
    message_id = question.get("message_id")
    return int(message_id) if message_id and str(message_id).isdecimal() else None


class Desk(AdminCog):
    """The admins' knowledge desk."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot
        self.digest_loop: tasks.Loop | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReviewButton)
        settings = self.bot.settings
        if settings.digest_weekly and self.digest_loop is None:
            # Every day at DIGEST_HOUR; the tick posts on DIGEST_DAY only (tasks.loop has no weekly time).
            self.digest_loop = tasks.loop(time=time(hour=settings.digest_hour, tzinfo=UTC))(self._digest_tick)
            self.digest_loop.before_loop(self.bot.wait_until_ready)
            self.digest_loop.start()

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReviewButton)
        if self.digest_loop is not None:
            self.digest_loop.cancel()

    async def _digest_tick(self) -> None:
        settings = self.bot.settings
        if due(datetime.now(UTC), settings.digest_day, settings.digest_hour):
            try:
                await self.post_digest()
            except Exception:  # a failed digest must not stop next week's
                log.exception("could not post the weekly digest")

    async def post_digest(self, now: datetime | None = None) -> discord.Message | None:
        """Post the week's digest to ``ESCALATION_CHANNEL_ID``; None when this process does not serve that
        channel (another shard does), none is set, or another process serving the store claimed this week's
        digest first (``digest.claim_week``: it posts it)."""
        channel_id = self.bot.settings.escalation_channel_id
        channel = self.bot.get_channel(channel_id) if channel_id else None
        if channel is None:
            return None
        now = now or datetime.now(UTC)
        factory = self.bot.session_factory
        week = await claim_week(factory, now)  # before the work: the process that loses does none of it
        if week is None:
            log.info("the weekly digest of %s is another process's to post", now.date())
            return None
        try:
            digest = await build_digest(self.bot.answerer, factory, now, self.bot.settings.home_guilds)
            return await channel.send(digest_text(digest, show=user_text), allowed_mentions=NO_PING)
        except Exception:
            await release_week(factory, week)  # not posted: the week is not done
            raise

    @app_commands.command(name="gaps")
    @app_commands.describe(days="How many days back to look (default 30)")
    async def gaps(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = DEFAULT_DAYS
    ) -> None:
        """What people asked and nobody answered, grouped by meaning, most askers first (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        since = datetime.now(UTC) - timedelta(days=days)
        factory = self.bot.session_factory
        home = self.bot.settings.home_guilds  # another guild's questions are not this community's gaps
        report = await service.serving_gaps(self.bot.answerer, factory, since=since, guilds=home)
        shares = await asyncio.to_thread(service.read_shares, factory, since, None)
        head = gaps_head(report) if report.gaps else gaps_head(report) + ". Nothing waits. 🎉"
        png = await asyncio.to_thread(gaps_png, report, shares)
        await interaction.followup.send(
            f"{head}\n{shares_line(shares)}",
            file=discord.File(io.BytesIO(png), filename="gaps.png"),
            ephemeral=True,
            allowed_mentions=NO_PING,
        )
        for rank, gap in enumerate(report.gaps[:GAPS_WITH_BUTTONS], 1):
            text = gap_text(rank, gap, show=user_text)
            view = teach_view(gap.latest["id"], _reply_to(gap.latest))
            await interaction.followup.send(text[:2000], view=view, ephemeral=True, allowed_mentions=NO_PING)
        rest = report.gaps[GAPS_WITH_BUTTONS:]
        if rest:
            lines = [gap_text(i, g, show=user_text) for i, g in enumerate(rest, GAPS_WITH_BUTTONS + 1)]
            for piece in split_message("\n".join(lines)):
                await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_PING)

    @app_commands.command(name="review")
    async def review(self, interaction: discord.Interaction) -> None:
        """What waits for an admin: alternate phrasings, 👎'd answers, members' answers (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        items = await review_queue.items(self.bot.session_factory)
        if not items:
            await interaction.followup.send(
                "Nothing waits for review. 🎉", ephemeral=True, allowed_mentions=NO_PING
            )
            return
        total = sum((await review_queue.waiting(self.bot.session_factory)).values())
        more = (
            f" (the first {REVIEW_SHOWN} below; decide them, then `/review` again)"
            if total > REVIEW_SHOWN
            else ""
        )
        await interaction.followup.send(
            f"{total} item(s) wait for review{more}.", ephemeral=True, allowed_mentions=NO_PING
        )
        for item in review_queue.by_turns(items)[:REVIEW_SHOWN]:
            text = review_item_text(item, show=user_text)
            whole = shown_whole(item, text)
            await interaction.followup.send(
                (text if whole else f"{text}\n{CUT_NOTE}")[:2000],
                view=review_view(item["id"], accept=whole),
                ephemeral=True,
                allowed_mentions=NO_PING,
            )

    @app_commands.command(name="harvest")
    @app_commands.describe(
        channel="A text channel, thread or forum whose answered questions to propose for review",
        limit="Messages to read this time (the next /harvest goes on from there)",
    )
    async def harvest(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel | discord.Thread,
        limit: app_commands.Range[int, 1, MAX_LIMIT] = HARVEST_LIMIT,
    ) -> None:
        """Propose what a channel already answered (solved posts, trusted replies, ✅) for review (admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        answerer = self.bot.answerer
        known = service.known_checker(answerer.knowledge, answerer.effective_zones())

        async def known_async(questions: list[str]) -> list[bool]:
            return await torch_thread.run(known, questions)

        trusted = frozenset(self.bot.settings.trusted_role_ids)
        try:
            result = await harvest_channel(
                channel, self.bot.session_factory, known_async, trusted, limit=limit
            )
        except discord.Forbidden:
            text = f"I may not read the history of {channel.mention} (Read Message History)."
        else:
            text = result.text() + (" See `/review`." if result.proposed else "")
            if not trusted:
                text += " (TRUSTED_ROLE_IDS is not set: only ✅ by the asker and solved forum posts count.)"
        await interaction.followup.send(text[:2000], ephemeral=True, allowed_mentions=NO_PING)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Desk(bot))
