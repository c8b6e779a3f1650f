"""Forum posts: the "solved" tag once the asker accepts an answer.

A forum channel in ``FORUM_CHANNEL_IDS`` may have a tag named "Solved", "Answered" or "Resolved" (any
case, emoji aside). When the post's author reacts 👍 to the bot's answer in the post (any of its messages,
when it was split over several), or ✅ to anyone's, the bot applies that tag to the post
(``Thread.edit(applied_tags=…)``, which needs Manage Threads; a refusal is logged, nothing else happens).
Forums without such a tag are left as they are. ``may_solve`` reads only the cache: a reaction that cannot
solve a post costs no fetch and no store query.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import discord

from bot.desk.harvest import solved_name

log = logging.getLogger(__name__)

MAX_APPLIED_TAGS = 5  # Discord's limit per forum post
ACCEPTS = {"👍", "✅"}


def solved_tag(forum: discord.ForumChannel) -> discord.ForumTag | None:
    """The forum's "solved" tag, if it has one."""
    for tag in forum.available_tags:
        if solved_name(tag.name):  # "✅ Solved" too
            return tag
    return None


async def mark_solved(thread: discord.Thread) -> bool:
    """Apply the forum's "solved" tag to post ``thread``; whether it is applied now."""
    forum = thread.parent
    if not isinstance(forum, discord.ForumChannel):
        return False
    tag = solved_tag(forum)
    if tag is None:
        return False
    applied = list(thread.applied_tags)
    if tag in applied:
        return True
    if len(applied) >= MAX_APPLIED_TAGS:
        applied = applied[1:]  # the oldest tag gives way: "solved" is the one readers look for
    try:
        await thread.edit(applied_tags=[*applied, tag], reason="the asker accepted an answer")
    except discord.HTTPException:
        log.warning("could not tag forum post %s solved (Manage Threads?)", thread.id, exc_info=True)
        return False
    return True


def may_solve(channel: object, forum_ids: Collection[int], user_id: int) -> bool:
    """Whether ``user_id`` reacting in ``channel`` may tag it solved: the author of a post in one of
    ``forum_ids`` whose forum has a "solved" tag that the post does not carry yet."""
    if not isinstance(channel, discord.Thread) or channel.parent_id not in forum_ids:
        return False
    if user_id != channel.owner_id or not isinstance(channel.parent, discord.ForumChannel):
        return False
    tag = solved_tag(channel.parent)
    return tag is not None and tag not in channel.applied_tags
