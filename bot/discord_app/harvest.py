"""Reading a channel's history for the harvest (``bot.desk.harvest`` finds the pairs): a text channel from
the message after the last one harvested, or a forum's posts not harvested yet, at most ``limit``
messages a run (the next run resumes: ``storage.review.set_cursor``). discord.py's history iterators
page through the API and wait out its rate limits. ``/harvest`` runs it in the bot; ``qabot harvest`` logs
in with ``DISCORD_TOKEN`` over HTTP only (no gateway) and runs the same reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import discord

from bot.desk.harvest import CHECK, HarvestResult, Post, Said, find_pairs, post_pair, propose_all, solved
from bot.discord_app.threads import mentions_a_bot

log = logging.getLogger(__name__)

HARVEST_LIMIT = 1000  # messages read per run by default
MAX_LIMIT = 10_000
FORUM_POSTS = 100  # forum posts looked at per run


class HarvestFailed(RuntimeError):
    """``qabot harvest`` could not read the channel; ``code`` is the exit code (``training.exit_codes``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Trust:
    """Who is trusted: members with a ``TRUSTED_ROLE_IDS`` role (seen on the messages and reactions read)."""

    def __init__(self, roles: frozenset[int]) -> None:
        self.roles = roles
        self.users: set[int] = set()

    def note(self, user: Any) -> frozenset[int]:
        """``user``'s role ids (trusted or not), remembering the trusted. Over HTTP only (``qabot
        harvest``) the guild is a stub without roles: ``Member.roles`` is empty, its raw ids are not."""
        ids = frozenset(r.id for r in getattr(user, "roles", ()) or ())
        if not ids:
            ids = frozenset(int(r) for r in getattr(user, "_roles", ()) or ())
        if ids & self.roles:
            self.users.add(user.id)
        return ids

    def __call__(self, who: Said | int) -> bool:
        if isinstance(who, Said):
            return bool(who.author_roles & self.roles)
        return who in self.users


async def said_of(message: discord.Message, trust: Trust) -> Said:
    """A message as the harvest sees it; who reacted ✅ is read from the API (one call per ✅)."""
    checked: set[int] = set()
    for reaction in message.reactions:
        if str(reaction.emoji) == CHECK:
            async for user in reaction.users(limit=100):
                trust.note(user)
                checked.add(user.id)
    reference = message.reference.message_id if message.reference is not None else None
    return Said(
        id=message.id, author_id=message.author.id, content=clean(message.content), reply_to=reference,
        author_roles=trust.note(message.author), author_bot=message.author.bot,
        checked_by=frozenset(checked), url=message.jump_url,
        to_bot=mentions_a_bot(message),
    )  # fmt: skip


def clean(content: str) -> str:
    """A message's text as members' answers read it (``member_answers.answer_text``): mentions, channel
    links and custom emoji out, its lines kept."""
    from bot.discord_app.member_answers import answer_text

    return answer_text(content)


async def _history(
    channel: Any, trust: Trust, *, limit: int, after: int | None = None, earlier: list[Said] | None = None
) -> list[Said]:
    """``limit`` messages after ``after``, oldest first; ``earlier`` (when given) gets the messages they
    reply to from before them (Discord sends each reply with the message it replies to): an answer read
    by this run to a question the last run read is still found."""
    start = discord.Object(id=after) if after else None
    read, replied = [], {}
    async for m in channel.history(limit=limit, after=start, oldest_first=True):
        read.append(await said_of(m, trust))
        ref = m.reference.resolved if m.reference is not None else None
        if earlier is not None and isinstance(ref, discord.Message):
            replied[ref.id] = ref
    seen = {s.id for s in read}
    for ref_id, ref in sorted(replied.items()):
        if ref_id not in seen and ref_id < (read[0].id if read else 0):
            author = ref.author
            earlier.append(Said(ref_id, author.id, clean(ref.content), None, trust.note(author), author.bot))
    return read


async def _posts(
    forum: discord.ForumChannel, trust: Trust, done: Callable[[int], Any], limit: int
) -> list[Post]:
    """The forum's posts marked solved and not harvested yet (``done``: async, per thread id), at most
    ``FORUM_POSTS`` posts and ``limit`` messages. A post not marked solved is not read (nor remembered):
    a later run harvests it once it is."""
    threads = list(forum.threads)
    async for thread in forum.archived_threads(limit=FORUM_POSTS):
        threads.append(thread)
    posts, read = [], 0
    for thread in threads:
        if read >= limit or len(posts) >= FORUM_POSTS:
            break
        if not solved(t.name for t in thread.applied_tags) or await done(thread.id):
            continue
        messages = await _history(thread, trust, limit=min(100, limit - read))
        read += len(messages)
        tags = tuple(t.name for t in thread.applied_tags)
        posts.append(Post(thread.id, thread.name, tags, tuple(messages)))
    return posts


async def harvest_channel(
    channel: Any,
    session_factory: Any,
    known: Callable[[list[str]], Any],
    trusted_roles: frozenset[int],
    *,
    limit: int = HARVEST_LIMIT,
) -> HarvestResult:
    """Read ``channel`` (a text channel or thread, or a forum) onward from where the last harvest stopped,
    and propose what it answered into the review queue. ``known``: an async function telling, per question,
    whether the bot answers it already."""
    from storage import review

    def read_cursor(session: Any, channel_id: int) -> str | None:
        return review.cursor(session, channel_id)

    run = _in_session(session_factory)
    trust = Trust(trusted_roles)
    result = HarvestResult()
    guild_id = getattr(getattr(channel, "guild", None), "id", None)
    if isinstance(channel, discord.ForumChannel):

        async def done(thread_id: int) -> bool:
            return await run(read_cursor, thread_id) is not None

        posts = await _posts(channel, trust, done, limit)
        pairs = [p for p in (post_pair(post, trust) for post in posts) if p is not None]
        result.read = sum(len(p.messages) for p in posts)
        answered = await known([p.question for p in pairs]) if pairs else []
        lookup = dict(zip([p.question for p in pairs], answered, strict=True))

        def write(session: Any) -> None:
            propose_all(session, pairs, lambda qs: [lookup[q] for q in qs], guild_id=guild_id,
                        channel_id=channel.id, result=result)  # fmt: skip
            for post in posts:
                if post.messages:
                    review.set_cursor(session, post.id, post.messages[-1].id, len(post.messages))

        await run(write)
        return result
    after = await run(read_cursor, channel.id)
    earlier: list[Said] = []
    messages = await _history(
        channel, trust, limit=limit, after=int(after) if after else None, earlier=earlier
    )
    result.read = len(messages)
    pairs = find_pairs([*earlier, *messages], trust)
    answered = await known([p.question for p in pairs]) if pairs else []
    lookup = dict(zip([p.question for p in pairs], answered, strict=True))

    def write_text(session: Any) -> None:
        propose_all(session, pairs, lambda qs: [lookup[q] for q in qs], guild_id=guild_id,
                    channel_id=channel.id, result=result)  # fmt: skip
        if messages:
            review.set_cursor(session, channel.id, messages[-1].id, len(messages))
            result.last_message_id = messages[-1].id

    await run(write_text)
    return result


def _in_session(session_factory: Any):
    from bot.async_store import run_in_session

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_session(session_factory, fn, *args)

    return run


async def harvest_with_token(
    token: str, channel_id: int, session_factory: Any, known: Callable[[list[str]], list[bool]],
    trusted_roles: frozenset[int], *, limit: int = HARVEST_LIMIT,
) -> HarvestResult:  # fmt: skip
    """``qabot harvest``: log in over HTTP with ``token`` (no gateway), read one channel, log out.
    ``known`` runs in a worker thread. ``HarvestFailed`` says what went wrong (never with the token)."""
    from training.exit_codes import EXIT_ERROR, EXIT_UNREACHABLE, EXIT_USAGE

    async def known_async(questions: list[str]) -> list[bool]:
        return await asyncio.to_thread(known, questions)

    client = discord.Client(intents=discord.Intents.none())
    try:
        async with client:
            await client.login(token)
            channel = await client.fetch_channel(channel_id)
            if not isinstance(channel, discord.ForumChannel) and not hasattr(channel, "history"):
                kind = getattr(channel, "type", None) or type(channel).__name__
                raise HarvestFailed(
                    f"channel {channel_id} is a {kind}: give a text channel, thread or forum", EXIT_USAGE
                )
            return await harvest_channel(channel, session_factory, known_async, trusted_roles, limit=limit)
    except discord.LoginFailure:
        raise HarvestFailed(
            "Discord refused DISCORD_TOKEN (reset it in the Developer Portal)", EXIT_USAGE
        ) from None
    except (discord.NotFound, discord.Forbidden) as e:
        raise HarvestFailed(f"cannot read channel {channel_id}: {e.text or e.status}", EXIT_ERROR) from None
    except discord.HTTPException as e:
        if 400 <= e.status < 500:  # a request Discord refused (an id that is no snowflake, say)
            raise HarvestFailed(
                f"Discord refused to read channel {channel_id}: {e.text or e.status}", EXIT_ERROR
            ) from None
        raise HarvestFailed(f"Discord could not be reached: HTTP {e.status}", EXIT_UNREACHABLE) from None
    except OSError as e:
        raise HarvestFailed(f"Discord could not be reached: {type(e).__name__}", EXIT_UNREACHABLE) from None
