"""Content filters: secrets (a token, a key, a password: a bot must never learn to say one), offensive
language, spam (links, invite URLs, repeated characters) and answers too short to be useful. Each returns
the removal reason for a record, or None to keep it.

Offensive language is judged in context by ``training.data.offensive`` (a classifier, then a sentence
encoder); it scores texts in batches, so ``clean_records`` scores every record at once and passes each
record's result to ``filter_reason``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from training.data.errors import masked
from training.data.normalize import comparison_key, normalize_text
from training.data.offensive import DEFAULT_THRESHOLD, is_offensive
from training.redact import MASK, TOKEN
from training.secret_shapes import holds_secret, shown_forms

SECRET = "secret"
OFFENSIVE = "offensive"
SPAM_LINK = "spam_link"
SPAM_REPEATED = "spam_repeated"
TOO_SHORT = "too_short"

# Links and chat-invite URLs: a Q&A pair that sends people elsewhere is advertising, not an answer.
_LINK_RE = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|\b(?:discord(?:app)?\.(?:gg|com/invite)|t\.me|chat\.whatsapp\.com|bit\.ly|tinyurl\.com)/\S+",
    re.IGNORECASE,
)
# Six or more of the same non-digit character ("!!!!!!", "soooooo"); digits are exempt so numbers
# such as 1000000 are not spam.
REPEAT_RUN = 6
_REPEAT_RE = re.compile(rf"([^\d\s])\1{{{REPEAT_RUN - 1},}}")
# Answers that carry no information whatever the question ("ok", "lol", "?").
MIN_ANSWER_CHARS = 2
_NOT_ALNUM_RE = re.compile(r"[\W_]+")
_FILLER_ANSWERS = frozenset({"ok", "okay", "k", "lol", "idk", "yes or no", "thanks", "ty", "same", "+1"})


# Words the offensive filter ignores by default; callers may add more (qabot data ... --allow-word). The
# context check keeps "the Hand of God goal" or "kill the game off" without help, so none are needed.
DEFAULT_ALLOWED_WORDS: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilterSwitches:
    """Which filters run (each can be turned off from the CLI)."""

    offensive: bool = True
    spam: bool = True
    short: bool = True
    min_answer_chars: int = MIN_ANSWER_CHARS
    allowed_words: frozenset[str] = frozenset(DEFAULT_ALLOWED_WORDS)
    offensive_threshold: float = DEFAULT_THRESHOLD


def has_link(*texts: str) -> bool:
    """Whether any text holds a URL or a chat-invite link."""
    joined = "\n".join(texts)
    # Every pattern needs a "/" or "www": skip the regex for the many texts with neither.
    return ("/" in joined or "ww" in joined.lower()) and _LINK_RE.search(joined) is not None


def has_secret(*texts: str) -> bool:
    """Whether any text holds a secret: one ``training.secret_shapes`` recognizes (a Discord token or
    webhook, an API key, a password given to its name; also split by invisible characters or hidden by
    Markdown), or anything shaped like a Discord token (``training.redact.TOKEN``), also once compatibility
    forms are folded ("．" is ".") and line breaks joined (a token wrapped across lines is still one to
    whoever reads it, also in a question, where the line break became a space)."""
    return any(_secret_in(text) for text in texts)


def _secret_in(text: str) -> bool:
    folded = _folded(text)
    if any(TOKEN.search(t) for t in (text, folded, *shown_forms(folded or text)) if t):
        return True
    return holds_secret(text) or (bool(folded) and holds_secret(folded))


_ASCII_JOINED = dict.fromkeys([*range(32), 127]) | {ord("\t"): " "}  # control characters and line breaks go


def _folded(text: str) -> str:
    if text.isascii():  # nothing to fold: only control characters (line breaks among them) to drop
        return "" if text.isprintable() else text.translate(_ASCII_JOINED)
    return unicodedata.normalize("NFKC", normalize_text(text, multiline=True)).replace("\n", "")


def mask_secret(text: str) -> str:
    """``text`` with its secrets masked (``training.data.errors.masked``); all of it masked when one is
    only found by ``has_secret``'s folding, so a report never shows one. Text without one is returned as it
    is."""
    if not has_secret(text):
        return text
    shown = masked(text)
    return MASK if has_secret(shown) else shown


def has_repeated_chars(*texts: str) -> bool:
    """Whether any text repeats one non-digit character REPEAT_RUN or more times in a row."""
    return _REPEAT_RE.search("\n".join(texts)) is not None


def is_too_short(answer: str, min_chars: int = MIN_ANSWER_CHARS, key: str | None = None) -> bool:
    """An answer with fewer than ``min_chars`` letters/digits, or a filler such as "ok" or "lol".
    ``key`` is the answer's comparison_key when the caller already has it."""
    key = comparison_key(answer) if key is None else key
    return key in _FILLER_ANSWERS or len(_NOT_ALNUM_RE.sub("", key)) < min_chars


def filter_reason(
    question: str,
    answer: str,
    switches: FilterSwitches,
    answer_key: str | None = None,
    offensive: bool | None = None,
) -> str | None:
    """The first reason (secret, offensive, spam_link, spam_repeated, too_short) to drop this pair, or
    None. ``offensive`` is the offensive filter's verdict when the caller scored the pair already. The
    secret check has no switch."""
    if has_secret(question, answer):
        return SECRET
    if switches.offensive:
        if offensive is None:
            offensive = is_offensive(
                question, answer, allowed=switches.allowed_words, threshold=switches.offensive_threshold
            )
        if offensive:
            return OFFENSIVE
    if switches.spam:
        if has_link(question, answer):
            return SPAM_LINK
        if has_repeated_chars(question, answer):
            return SPAM_REPEATED
    if switches.short and is_too_short(answer, switches.min_answer_chars, answer_key):
        return TOO_SHORT
    return None
