"""The simulated community of ``bench/community.py``: a QABot on dpytest with the community's channels (an
open help channel, a forum, an escalation channel, members with a trusted role), simulated time for the
escalation limiter, and ``Community``, which asks, says, chats, answers as members and accepts as an admin,
counting what the bot sent and where. Imported by ``bench/community.py``, which scores the replay; not a
benchmark of its own (``make bench`` runs only ``bench/[!_]*.py``)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any
from unittest.mock import MagicMock

SIM_STEP_S = 120.0  # simulated time between two events: the escalation limits are per 10 minutes


class Clock:
    """Simulated time for the escalation limiter: a community's day, not the bench's minutes."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += SIM_STEP_S


async def make_bot(answerer: Any, store: Any, monkeypatch: Any, clock: Clock, trust: bool) -> Any:
    """A QABot on dpytest, as the tests' ``dpy`` fixture makes it, with the community's channels."""
    import discord
    import discord.ext.test as dpytest
    from discord.ext.test import backend

    from bot.discord_app.client import QABot
    from bot.discord_app.flood import EscalationLimiter
    from tests.bot.fixtures import ADMIN_ID, make_settings
    from tests.bot.threads_support import install_thread_routes, make_forum

    bot = QABot(
        settings=make_settings(admin_user_ids=[ADMIN_ID], reply_in_thread=True, trust_member_answers=trust),
        answerer=answerer,
        session_factory=store,
        retrain_job=MagicMock(),
        intents=discord.Intents.all(),
    )
    await bot._async_setup_hook()
    await bot.setup_hook()
    dynamic_items = dict(bot._connection._view_store._dynamic_items)
    dpytest.configure(bot, members=8)
    bot._connection.loop = asyncio.get_running_loop()
    bot._connection._view_store._dynamic_items.update(dynamic_items)
    install_thread_routes(bot, monkeypatch)
    bot.escalations = EscalationLimiter(clock=clock)
    guild = dpytest.get_config().guilds[0]
    helpers = dpytest.get_config().members[6:]
    role = backend.make_role("Helper", guild)
    for member in helpers:
        backend.update_member(member, roles=[role])
    forum = make_forum(guild, "help-forum")
    s = bot.settings
    s.home_guild_ids = [guild.id]
    s.allowed_channel_ids = [dpytest.get_config().channels[0].id]
    s.forum_channel_ids = [forum.id]
    s.escalation_channel_id = backend.make_text_channel("qabot-admins", guild).id
    s.trusted_role_ids = [role.id]
    bot.community_forum = forum
    return bot


def drain() -> list[Any]:
    """What the bot sent since the last call."""
    import discord.ext.test as dpytest

    out = []
    while not dpytest.verify().message().nothing():
        out.append(dpytest.get_message())
    return out


def exchange_of(store: Any, message_id: int) -> Any:
    from sqlalchemy import select

    from storage.models import Exchange

    with store() as session:
        return session.scalars(
            select(Exchange).where(Exchange.message_id == str(message_id)).order_by(Exchange.id.desc())
        ).first()


class Community:
    """Replays the script; counts what the bot sent, where, and what it learned."""

    def __init__(self, bot: Any, store: Any, clock: Clock) -> None:
        import discord.ext.test as dpytest

        self.bot, self.store, self.clock = bot, store, clock
        config = dpytest.get_config()
        self.channel = config.channels[0]
        self.members = [config.guilds[0].get_member(m.id) for m in config.members]
        self.askers = itertools.cycle(self.members[:6])
        self.helpers = itertools.cycle(self.members[6:])
        self.threads: list[Any] = []  # the bot's threads and forum posts, for chatter there
        self.chatter = {"messages": 0, "replies": 0, "escalations": 0}
        # The baseline, in the same run: each chatter message under the open channels' rule before issue 29
        # (every message through the zones: an answer or "did you mean" is a reply, a "not sure" escalated).
        self.before = {"replies": 0, "escalations": 0}
        self.chatter_escalated: list[str] = []  # which chatter reached the admins (to read, not a score)

    def _sent(self) -> tuple[list[Any], list[Any]]:
        """(replies, escalation posts) since the last call."""
        admins = self.bot.settings.escalation_channel_id
        sent = drain()
        return [m for m in sent if m.channel.id != admins], [m for m in sent if m.channel.id == admins]

    async def ask(self, text: str, where: str = "channel", member: Any = None) -> tuple[Any, Any, list[Any]]:
        """A question in the help channel or as a forum post: (its message, its thread or None, replies)."""
        import discord.ext.test as dpytest

        from tests.bot.threads_support import post_in_forum

        self.clock.tick()
        member = member or next(self.askers)
        if where == "forum":
            post = await post_in_forum(self.bot.community_forum, member, text, text)
            message = post.get_partial_message(post.id)
            self.threads.append(post)
            replies, _ = self._sent()
            return message, post, replies
        message = await dpytest.message(text, channel=self.channel, member=member)
        replies, _ = self._sent()
        thread = replies[0].channel if replies and replies[0].channel.id == message.id else None
        if thread is not None:
            self.threads.append(thread)
        return message, thread, replies

    async def say(self, text: str, where: Any) -> tuple[list[Any], list[Any]]:
        """Someone says ``text`` in ``where`` (a channel or thread): (replies, escalation posts)."""
        from tests.bot.threads_support import say

        self.clock.tick()
        await say(where, next(self.askers), text)
        return self._sent()

    async def chat(self, text: str, where: Any) -> None:
        replies, escalations = await self.say(text, where)
        alone = await self.bot.answerer.answer(text)
        self.before["replies" if alone.zone != "fallback" else "escalations"] += 1
        self.chatter["messages"] += 1
        self.chatter["replies"] += len(replies)
        self.chatter["escalations"] += len(escalations)
        if escalations:
            self.chatter_escalated.append(text)

    async def member_answers(self, item: dict, message: Any, thread: Any, asker: Any) -> None:
        """The community answers ``item`` as the script says (or not)."""
        from tests.bot.fixtures import react
        from tests.bot.review_support import interaction_for
        from tests.bot.threads_support import say

        how = item["how"]
        if how == "none":
            return
        cog = self.bot.get_cog("Community")
        where = thread if item["where"] == "forum" else self.channel
        reply_to = None if item["where"] == "forum" else message
        helper = next(self.helpers)
        author = helper if how == "reply" else next(m for m in self.members[:6] if m.id != asker.id)
        first, _, rest = item["answer"].partition(". ")  # people often send an answer in two messages
        self.clock.tick()
        answer = await say(where, author, first + ("." if rest else ""), reply_to=reply_to)
        if rest:
            await say(where, author, rest)
        if how == "tick_asker":
            await react(answer, asker, "✅")
        elif how == "tick_trusted":
            await react(answer, helper, "✅")
        elif how == "command":
            await cog.mark_as_answer(interaction_for(self.bot, asker), answer)
        await cog.answers.flush()
        self._sent()  # the review post, the asker told: not chatter
        await self.chat("thanks!", where)  # the asker thanks them: chatter too

    async def accept_pending(self) -> int:
        """One admin click (Accept) on each member's answer that waits; how many."""
        from storage import candidates
        from tests.bot.fixtures import ADMIN_ID, make_member
        from tests.bot.review_support import press

        with self.store() as session:
            waiting = [c.id for c in candidates.pending(session, limit=10_000)]
        for candidate_id in waiting:
            await press(self.bot, "accept", candidate_id, make_member(ADMIN_ID))
        self._sent()
        return len(waiting)
