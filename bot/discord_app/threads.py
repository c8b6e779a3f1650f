"""Where a message is a question for the bot, and where its answer goes: channels, threads, forum posts.

``route`` decides: a DM or a mention (*direct*); a forum post's starter message in ``FORUM_CHANNEL_IDS``
(*post*: its title and text are the question); a message in a thread the bot started or answered in
(*thread*: asked on without a mention); a message in ``ALLOWED_CHANNEL_IDS`` (*open*). ``Conversations``
remembers, per thread, the previous question (a ``followups.Turn``: the context a follow-up is read with,
forgotten after ``followups.DEFAULT_TTL_S`` quiet), who asked first and whether the bot spoke there;
bounded, in memory (after a restart, threads the bot started are still known by their owner). With
``REPLY_IN_THREAD`` an answer to a message in a text channel starts a thread from the question (the
thread's id is the message's) and goes there, so busy channels are not flooded.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.answering.followups import ConversationMemory, Turn
from bot.discord_app.replies import question_text, shorten
from storage.masking import mask_secrets

log = logging.getLogger(__name__)

MAX_CONVERSATIONS = 10_000  # threads remembered; the least recently used are forgotten past it
THREAD_NAME_LIMIT = 100  # Discord's limit on a thread's name
THREAD_ARCHIVE_MIN = 1440  # a day without messages, then Discord archives the bot's thread

Kind = Literal["direct", "post", "thread", "open"]


@dataclass
class Conversation:
    """One thread: who asked first, whether the bot spoke in it."""

    asker_id: int | None = None
    bot_spoke: bool = False


class Conversations:
    """Per-thread memory, least recently used forgotten past ``limit``; one conversation per thread (a
    follow-up there may come from anyone in it)."""

    def __init__(self, limit: int = MAX_CONVERSATIONS) -> None:
        self.limit = limit
        self._threads: OrderedDict[int, Conversation] = OrderedDict()
        self.context = ConversationMemory(max_conversations=limit)

    def previous(self, thread_id: int) -> Turn | None:
        """The thread's previous question, as a follow-up's context (None: none, or too long ago)."""
        return self.context.previous(thread_id)

    def get(self, thread_id: int) -> Conversation | None:
        conversation = self._threads.get(thread_id)
        if conversation is not None:
            self._threads.move_to_end(thread_id)
        return conversation

    def note(self, thread_id: int, *, answer: Any, asker_id: int, bot_spoke: bool) -> Conversation:
        """``answer`` (``answer_path.Answer``) was the answer to a question asked in thread ``thread_id``
        (and the bot replied there, if ``bot_spoke``)."""
        conversation = self.get(thread_id) or Conversation(asker_id=asker_id)
        self._threads[thread_id] = conversation
        self.context.record(thread_id, answer)
        conversation.bot_spoke = conversation.bot_spoke or bot_spoke
        while len(self._threads) > self.limit:
            self._threads.popitem(last=False)
        return conversation


class AnswerParts:
    """A long answer goes out in several messages and is logged by its first: a 👍/👎 or a correction on a
    later one counts for the first (the most recent ``limit`` answers; after a restart, the first only)."""

    def __init__(self, limit: int = MAX_CONVERSATIONS) -> None:
        self._first: OrderedDict[int, int] = OrderedDict()
        self.limit = limit

    def note(self, first_id: int, later_ids: list[int]) -> None:
        for later in later_ids:
            self._first[later] = first_id
        while len(self._first) > self.limit:
            self._first.popitem(last=False)

    def first(self, message_id: int) -> int:
        return self._first.get(message_id, message_id)


def replied_message(message: discord.Message) -> discord.Message | None:
    """The message ``message`` replies to, as Discord sent it or from the cache; None when it replies to
    nothing, or to one deleted or unknown here."""
    reference = message.reference
    replied = None if reference is None else reference.resolved or reference.cached_message
    return replied if isinstance(replied, discord.Message) else None


def mentions_a_bot(message: discord.Message) -> bool:
    """Whether ``message`` mentions a bot (this one or another): words to a bot, not to the channel."""
    return any(getattr(user, "bot", False) for user in message.mentions)


@dataclass(frozen=True)
class Route:
    """How a message is a question: ``kind``, the question's text, whether it was addressed to the bot
    (always answered, even "not sure"), and the thread's previous question (None outside threads)."""

    kind: Kind
    question: str
    explicit: bool
    context: Turn | None = None


def forum_question(title: str, text: str) -> str:
    """A forum post's question: its title, then its text (unless the text only repeats the title)."""
    title, text = question_text(title), question_text(text)
    if not text or text.lower().startswith(title.lower()):
        return text or title
    if not title:
        return text
    return f"{title}{'' if title.endswith(('?', '.', '!', ':')) else ':'} {text}"


def _in(channel_ids: list[int], *ids: int | None) -> bool:
    return any(i in channel_ids for i in ids if i is not None)


def route(bot: Any, message: discord.Message) -> Route | None:
    """How ``message`` is a question for the bot, or None (not one: people talking elsewhere)."""
    settings = bot.settings
    channel = message.channel
    explicit = message.guild is None or (bot.user is not None and bot.user in message.mentions)
    text = question_text(message.content)
    if isinstance(channel, discord.Thread):
        conversation = bot.conversations.get(channel.id)
        previous = bot.conversations.previous(channel.id)
        if message.id == channel.id and _in(settings.forum_channel_ids, channel.parent_id):
            return Route("post", forum_question(channel.name, message.content), explicit)
        ours = bot.user is not None and channel.owner_id == bot.user.id
        if ours or (conversation is not None and conversation.bot_spoke):
            return Route("thread", text, explicit, previous)
        if explicit or _in(settings.allowed_channel_ids, channel.parent_id):
            return Route("direct" if explicit else "open", text, explicit, previous)
        return None
    if explicit:
        return Route("direct", text, True)
    if _in(settings.allowed_channel_ids, channel.id):
        return Route("open", text, False)
    return None


def starts_thread(bot: Any, message: discord.Message) -> bool:
    """Whether the answer to ``message`` goes in a new thread started from it (``REPLY_IN_THREAD``)."""
    return bool(bot.settings.reply_in_thread) and isinstance(message.channel, discord.TextChannel)


async def reply_channel(bot: Any, message: discord.Message, question: str) -> tuple[Any, bool]:
    """Where the answer to ``message`` goes: ``(channel, in_thread)``. A new thread from the message with
    ``REPLY_IN_THREAD`` (its own channel when that fails: no Create Public Threads, say)."""
    if isinstance(message.channel, discord.Thread):
        return message.channel, True
    if not starts_thread(bot, message):
        return message.channel, False
    try:
        thread = await message.create_thread(
            name=shorten(mask_secrets(question), THREAD_NAME_LIMIT) or "Question",  # a pasted key stays out
            auto_archive_duration=THREAD_ARCHIVE_MIN,
        )
    except discord.HTTPException:
        log.warning("could not start a thread from message %s; replying in the channel", message.id)
        return message.channel, False
    return thread, True
