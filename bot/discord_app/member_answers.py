"""Learning from members' answers: a question the bot was not sure about, answered by a member.

Three ways a member's message becomes a candidate pair (``storage.candidates.propose``):

- *reply*: a member with a ``TRUSTED_ROLE_IDS`` role (or an admin) replies to the question, or writes in
  a thread whose latest question is still open, not with chat or a question back (``harvest.is_question``).
  Their next messages join it (``harvest.joins_answer``), once someone else speaks or ``settle_s`` passed;
- *reaction* (✅ by the asker or a trusted member) and *command* ("Mark as answer", the same people): the
  message marked alone, as it reads then (never a phishing line its author sent next).

The question is the open one it replies to, else its thread's (``candidates.open_question``), if it stands
alone (``askable``: not chat, not "and in 2018?"). With ``TRUST_MEMBER_ANSWERS`` a trusted member's answer
(or any an admin marks) is served at once; others wait for an admin's Accept (``review.py``). Only a home
guild's members count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Any

import discord
from sqlalchemy.orm import Session

from bot import async_store
from bot.admin_actions import pair_problem
from bot.answering.chatter import is_chat, is_follow_up, looks_like_question
from bot.desk.harvest import MAX_JOINED, is_question, joins_answer, stays_in_answer
from bot.discord_app import review
from bot.discord_app.client import QABot
from bot.discord_app.permissions import in_community, is_admin
from bot.discord_app.replies import question_text
from bot.discord_app.threads import mentions_a_bot, replied_message
from storage import candidates
from training.data.filters import is_too_short

log = logging.getLogger(__name__)

TICK = "✅"
SETTLE_S = 60.0  # how long a trusted member may go on typing their answer before it is proposed
RECENT_PER_CHANNEL = 50  # messages remembered per channel, to join an answer's consecutive messages
MAX_CHANNELS = 2_000


@dataclass(frozen=True)
class Said:
    message_id: int
    author_id: int
    text: str
    reply_to: int | None = None  # the message it replies to
    to_bot: bool = False  # it mentions a bot


class RecentMessages:
    """The last messages of each channel, to join an answer written in several messages."""

    def __init__(self, per_channel: int = RECENT_PER_CHANNEL, channels: int = MAX_CHANNELS) -> None:
        self.per_channel, self.channels = per_channel, channels
        self._by_channel: OrderedDict[int, deque[Said]] = OrderedDict()

    def add(self, message: discord.Message) -> None:
        said = self._by_channel.setdefault(message.channel.id, deque(maxlen=self.per_channel))
        self._by_channel.move_to_end(message.channel.id)
        ref = message.reference.message_id if message.reference is not None else None
        said.append(
            Said(message.id, message.author.id, answer_text(message.content), ref, mentions_a_bot(message))
        )
        while len(self._by_channel) > self.channels:
            self._by_channel.popitem(last=False)

    def edited(self, channel_id: int, message_id: int, content: str) -> None:
        """A remembered message was edited: its answer is what it says now (what a marker saw)."""
        said = self._by_channel.get(channel_id, ())
        for i, old in enumerate(said):
            if old.message_id == message_id:
                said[i] = replace(old, text=answer_text(content))

    def deleted(self, channel_id: int, message_ids: set[int]) -> None:
        said = self._by_channel.get(channel_id)
        if said is not None:
            kept = [s for s in said if s.message_id not in message_ids]
            said.clear()
            said.extend(kept)

    def run_from(self, channel_id: int, message_id: int, author_id: int) -> list[Said]:
        """``message_id`` and the same author's messages right after it (nobody else in between), at most
        ``MAX_JOINED``, up to one that is no part of an answer (``harvest.joins_answer``)."""
        said_here = self._by_channel.get(channel_id, ())
        authors = {said.message_id: said.author_id for said in said_here}
        run: list[Said] = []
        for said in said_here:
            if said.message_id == message_id:
                run.append(said)
            elif run:
                if said.author_id != author_id or len(run) >= MAX_JOINED:
                    break
                own = stays_in_answer(said.reply_to, run[0].reply_to, authors.get(said.reply_to), author_id)
                if not own or said.to_bot or not joins_answer(said.text):
                    break  # a reply to someone else, words to a bot, chat, a question, a link
                run.append(said)
        return run


def askable(question: dict[str, Any]) -> bool:
    """Whether an unanswered exchange was a question members' answers may teach: a forum post (its message
    is its thread's starter), one posted for the admins, or one worded as a question; never chat ("gm
    everyone" answered "gm! kick-off at 8" must not teach the bot to say that to every "gm") nor a
    follow-up that means nothing alone."""
    text = question["question"]
    if is_chat(text) or is_follow_up(text):
        return False  # "and in 1990?" taught alone would answer that to whoever asks it after anything
    post = question.get("message_id") is not None and question["message_id"] == question.get("channel_id")
    return post or bool(question.get("escalated")) or looks_like_question(text)


def answer_text(content: str) -> str:
    """A member's message as an answer: mentions and custom emoji out, its lines kept."""
    return "\n".join(line for line in map(question_text, content.splitlines()) if line)


async def is_trusted(bot: QABot, member: Any, guild: discord.Guild | None) -> bool:
    """A member of a home guild with a ``TRUSTED_ROLE_IDS`` role, or an admin there."""
    if guild is None or not await in_community(bot, guild.id, member.id):
        return False
    roles = {role.id for role in getattr(member, "roles", ())}
    return bool(roles & set(bot.settings.trusted_role_ids)) or await is_admin(bot, member, guild)


@dataclass
class Draft:
    question: dict[str, Any]
    first: discord.Message
    task: asyncio.Task | None = None
    done: bool = field(default=False)


class MemberAnswers:
    """Turns members' answers into candidate pairs; one per bot (``cogs/community.py`` feeds it)."""

    def __init__(self, bot: QABot, settle_s: float = SETTLE_S) -> None:
        self.bot, self.settle_s = bot, settle_s
        self.recent = RecentMessages()
        self._drafts: dict[tuple[int, int], Draft] = {}

    async def open_question(self, message: discord.Message) -> dict[str, Any] | None:
        """The open question ``message`` answers: the one it replies to (none when that one is answered: a
        reply to the bot's answer is no answer to another question), else the one open in its thread."""
        ref = message.reference.message_id if message.reference is not None else None
        replied = replied_message(message)
        author = replied.author.id if replied is not None else None
        thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
        if ref is None and thread is None:
            return None
        found = await async_store.run_in_session(
            self.bot.session_factory,
            candidates.open_question,
            message_id=ref,
            thread_id=thread,
            replied_author=author,  # the asker's own aside leads to their question; another's does not
        )
        return found if found is not None and askable(found) else None

    # -- replies by trusted members --------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot:
            return
        if not await in_community(self.bot, message.guild.id, message.author.id):
            return  # another guild's talk: kept nowhere (nor pushing the home channels' out of memory)
        self.recent.add(message)
        channel_id, author_id = message.channel.id, message.author.id
        for key in [k for k in self._drafts if k[0] == channel_id and k[1] != author_id]:
            await self._close(key)  # someone else speaks: that answer is complete
        if (channel_id, author_id) in self._drafts:
            return  # the same member goes on: joined when the draft closes
        text = answer_text(message.content)
        if is_chat(text) or is_question(text):
            return  # "thanks!" or a question back ("futsal or 11-a-side?", "which league…") is no answer
        if not await is_trusted(self.bot, message.author, message.guild):
            return
        question = await self.open_question(message)
        if question is None or question["user_id"] == str(author_id):
            return  # no open question here, or the asker adding to their own
        draft = self._drafts[(channel_id, author_id)] = Draft(question, message)
        draft.task = asyncio.create_task(self._settle((channel_id, author_id), draft))

    def deleted(self, channel_id: int, message_ids: set[int]) -> None:
        """Messages were deleted: not part of any answer, and an answer that began with one is dropped
        (a member taking back what they wrote)."""
        self.recent.deleted(channel_id, message_ids)
        for key, draft in list(self._drafts.items()):
            if key[0] == channel_id and draft.first.id in message_ids:
                del self._drafts[key]
                if draft.task is not None:
                    draft.task.cancel()

    async def _settle(self, key: tuple[int, int], draft: Draft) -> None:
        await asyncio.sleep(self.settle_s)
        if self._drafts.get(key) is draft:
            await self._close(key)

    async def _close(self, key: tuple[int, int]) -> None:
        draft = self._drafts.pop(key, None)
        if draft is None or draft.done:
            return
        draft.done = True
        if draft.task is not None and draft.task is not asyncio.current_task():
            draft.task.cancel()
        try:
            await self.submit(draft.question, draft.first, source="reply", marked_by=None)
        except Exception:
            log.exception("could not propose the answer in message %s", draft.first.id)

    async def flush(self) -> None:
        """Propose every answer still being typed now (shutdown, tests, the community bench)."""
        for key in list(self._drafts):
            await self._close(key)

    # -- ✅ and "Mark as answer" -------------------------------------------------------------------------
    async def may_mark(self, user: Any, guild: discord.Guild | None, question: dict[str, Any]) -> bool:
        """The asker (in a home guild) or a trusted member may mark a message as the answer."""
        if guild is None or not await in_community(self.bot, guild.id, user.id):
            return False
        return question["user_id"] == str(user.id) or await is_trusted(self.bot, user, guild)

    async def mark(self, message: discord.Message, marker: Any, source: str) -> str:
        """``marker`` marked ``message`` as the answer: "accepted", "pending", "known" (proposed before),
        "refused", "no question" or "invalid"."""
        if message.author.bot or message.guild is None:
            return "invalid"
        question = await self.open_question(message)
        if question is None or question["message_id"] == str(message.id):
            return "no question"  # nothing open here, or the question itself (✅ as "solved")
        if not await self.may_mark(marker, message.guild, question):
            return "refused"
        return await self.submit(question, message, source=source, marked_by=marker)

    # -- proposing -------------------------------------------------------------------------------------
    async def submit(
        self, question: dict[str, Any], first: discord.Message, *, source: str, marked_by: Any
    ) -> str:
        """Propose ``first`` as the answer to ``question``: a trusted member's reply with their next messages
        (``RecentMessages.run_from``), a marked message alone."""
        now = Said(first.id, first.author.id, answer_text(first.content))  # as it reads now, edits and all
        run = [now]
        if source == "reply":  # a mark vouches for the message marked, not for what its author sent next
            run += self.recent.run_from(first.channel.id, first.id, first.author.id)[1:]
        answer = "\n".join(said.text for said in run if said.text)
        if pair_problem(question["question"], answer) is not None or is_too_short(answer):
            return "invalid"  # also "idk", "ok": fillers the next retrain's cleaning would drop anyway
        author, guild = first.author, first.guild
        live_by = None
        if marked_by is not None and await is_admin(self.bot, marked_by, guild):
            live_by = marked_by.id  # an admin's mark is the admin's decision
        elif self.bot.settings.trust_member_answers and await is_trusted(self.bot, author, guild):
            live_by = author.id
        question_url = None
        if question.get("message_id") and question.get("channel_id") and guild is not None:
            question_url = (
                f"https://discord.com/channels/{guild.id}/{question['channel_id']}/{question['message_id']}"
            )
        proposal = dict(
            question=question["question"], answer=answer, source=source, guild_id=guild.id if guild else None,
            channel_id=question.get("channel_id"), question_message_id=question.get("message_id"),
            answer_message_id=first.id, question_url=question_url, answer_url=first.jump_url,
            asker_id=question.get("user_id"), author_id=author.id,
            marked_by=marked_by.id if marked_by is not None else None, exchange_id=question["id"],
        )  # fmt: skip
        proposed, new = await async_store.run_in_session(
            self.bot.session_factory, _propose, proposal, live_by
        )
        if not new:
            return "known"
        if proposed["status"] == "accepted":
            await review.serve(self.bot, proposed)
        await review.post_review(self.bot, proposed)
        log.info("candidate %s (%s) by %s: %s", proposed["id"], source, author.id, proposed["status"])
        return proposed["status"]

    async def close(self) -> None:
        for draft in self._drafts.values():
            if draft.task is not None:
                draft.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await draft.task
        self._drafts.clear()


def _propose(session: Session, proposal: dict[str, Any], live_by: int | None) -> tuple[dict[str, Any], bool]:
    row, new = candidates.propose(session, **proposal)
    if new and live_by is not None:
        candidates.accept(session, row.id, live_by)
    return {**review.as_dict(row), "original_question": row.question}, new
