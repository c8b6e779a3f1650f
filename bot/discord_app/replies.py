"""What the Discord cogs say and to whom: question text from a message, answer text with its source line,
button labels, and ``Asked`` (where a question came from, for logging it and answering it later).

Pure functions over strings: no network, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from discord.utils import escape_markdown

from bot.answering.answer_path import suggestion_text
from storage.masking import mask_secrets
from training.data import comparison_key
from training.data.limits import MAX_ANSWER_CHARS

BUTTON_LABEL_LIMIT = 80  # Discord rejects a button label longer than this
SOURCE_QUESTION_LIMIT = 200  # the "closest known question" line stays one short line
SUGGEST_TEXT = suggestion_text(style="buttons")  # above the "did you mean" buttons

# Everything in a message that pings or points somewhere rather than asks: user (and the bot's own) mentions
# <@id>/<@!id>, roles <@&id>, channels <#id>, slash-command mentions </name:id>, custom emoji <:name:id>, and
# @everyone/@here. Removed before retrieval and generation, so they are never part of a question, never
# echoed, and never matched on.
_NOT_QUESTION = re.compile(r"<@[!&]?\d+>|<#\d+>|</[^<>:]+:\d+>|<a?:\w+:\d+>|(?<![\w.])@(?:everyone|here)\b")


@dataclass(frozen=True)
class Asked:
    """Where a question came from: what its exchange logs, and where a late (taught) answer goes."""

    user_id: int
    channel_id: int | None
    guild_id: int | None
    message_id: int | None  # logged as the question's message: the message, or the /ask interaction's id
    explicit: bool  # a mention, a DM or /ask: always answered, even "not sure"; False: an open channel


def question_text(content: str) -> str:
    """``content`` without mentions, @everyone/@here, channel links and custom emoji; spaces collapsed."""
    return " ".join(_NOT_QUESTION.sub(" ", content).split())


def same_question(a: str | None, b: str | None) -> bool:
    """Equal but for case, punctuation and spacing ("What is VAR?" and "what is var"): training's rule."""
    return comparison_key(a or "") == comparison_key(b or "")


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def button_label(question: str) -> str:
    return shorten(" ".join(question.split()), BUTTON_LABEL_LIMIT)


def source_line(matched_question: str) -> str:
    """Discord subtext under an answer naming the known question it came from."""
    return f"-# closest known question: {escape_markdown(shorten(matched_question, SOURCE_QUESTION_LIMIT))}"


def answer_text(text: str, *, asked: str, matched_question: str | None, show_sources: bool) -> str:
    """The answer (at most ``MAX_ANSWER_CHARS``: two or three messages, even for an answer stored before
    that limit), plus the source line when sources are on and the match was worded differently."""
    text = shorten(text, MAX_ANSWER_CHARS)
    if show_sources and matched_question and not same_question(asked, matched_question):
        return f"{text}\n{source_line(matched_question)}"
    return text


def user_text(text: str, limit: int) -> str:
    """Someone's words shown to admins: one line, secrets masked (``storage.masking.mask_secrets``: a
    pasted token is never re-posted), Markdown escaped (no masked links, no broken code fences), at most
    ``limit`` characters."""
    escaped = escape_markdown(" ".join(mask_secrets(text).split()))
    if len(escaped) > limit:  # no lone backslash left to escape the ellipsis
        escaped = escaped[: limit - 1].rstrip().rstrip("\\") + "…"
    return escaped


def quoted(question: str, limit: int = 300) -> str:
    """The question as a one-line Markdown quote (what ``/ask`` and chosen suggestions reply under), at
    most ``limit`` characters after escaping (escapes can double a question's length)."""
    return f"> {user_text(question, limit)}"
