"""Content filters: offensive language, spam (links, invite URLs, repeated characters) and answers too
short to be useful. Each returns the removal reason for a record, or None to keep it.

Offensive language uses better-profanity's maintained word list and its letter substitutions
(``a`` -> ``@``/``4``, ``s`` -> ``$``/``5`` ...), but compiled into one trie-shaped regex:
``profanity.contains_profanity`` itself scans its 900-word list word by word in Python (~16 ms per
short text, i.e. most of an hour for 100k records); the compiled form gives the same answers in
microseconds. A test checks the two agree.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from training.data.normalize import comparison_key

OFFENSIVE = "offensive"
SPAM_LINK = "spam_link"
SPAM_REPEATED = "spam_repeated"
TOO_SHORT = "too_short"

_NUMBER_RE = re.compile(r"(?<!\S)[0-9]+(?!\S)")
_AS_NUMBER = str.maketrans("0123456789", "０１２３４５６７８９")
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


# Words better-profanity lists that ordinary Q&A uses innocently: "the Hand of God goal",
# "Hell's Kitchen", "kill the game off". Callers may allow more (qabot data ... --allow-word).
DEFAULT_ALLOWED_WORDS = ("god", "hell", "kill")


@dataclass(frozen=True)
class FilterSwitches:
    """Which filters run (each can be turned off from the CLI)."""

    offensive: bool = True
    spam: bool = True
    short: bool = True
    min_answer_chars: int = MIN_ANSWER_CHARS
    allowed_words: frozenset[str] = frozenset(DEFAULT_ALLOWED_WORDS)


@functools.cache
def _offensive_matcher(allowed: frozenset[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(separators, words): ``separators`` finds runs of characters better-profanity does not treat as
    part of a word; once each run is a single space, ``words`` finds listed words between spaces."""
    from better_profanity import Profanity
    from better_profanity.constants import ALLOWED_CHARACTERS

    profanity = Profanity()
    separators = re.compile(f"[^{_char_class(ALLOWED_CHARACTERS)}]+")
    trie: dict = {}
    for entry in profanity.CENSOR_WORDSET:
        if str(entry).lower() in allowed:
            continue
        node = trie
        for ch in str(entry).lower():
            if ch in ALLOWED_CHARACTERS:
                # A digit in a listed word also matches the same digit when it stands as a number.
                variants = profanity.CHARS_MAPPING.get(ch) or tuple({ch, ch.translate(_AS_NUMBER)})
                node = node.setdefault("[" + "".join(re.escape(v) for v in variants) + "]", {})
        node[""] = {}
    # better-profanity joins consecutive words when matching ("hand job" -> "handjob"), so one separator
    # may sit between any two letters of a listed word.
    gap, end = " ?", r"(?!\S)"

    def alternatives(node: dict) -> str:
        alts = [end if key == "" else key + after(child) for key, child in node.items()]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    def after(node: dict) -> str:
        rest = {k: v for k, v in node.items() if k}
        parts = ([gap + alternatives(rest)] if rest else []) + ([end] if "" in node else [])
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    return separators, re.compile(r"(?<!\S)" + alternatives(trie), re.IGNORECASE)


def _char_class(chars: set[str]) -> str:
    """A compact regex class body (ranges of consecutive code points) for a set of characters."""
    cps = sorted(ord(c) for c in chars if len(c) == 1)
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(parts)


def is_offensive(*texts: str, allowed: frozenset[str] = frozenset(DEFAULT_ALLOWED_WORDS)) -> bool:
    """Whether any text holds a word from better-profanity's list (or a listed letter substitution),
    other than the ``allowed`` (lower-case) words.

    Unlike better-profanity, a word made only of digits stays a number: it reads the score in
    "beat Argentina 1-0 in the final" as "loin" ("1" for l, "0" for o)."""
    separators, words = _offensive_matcher(allowed)
    # Digits of a standalone number become fullwidth digits, which no letter substitution matches.
    cleaned = (_NUMBER_RE.sub(lambda m: m[0].translate(_AS_NUMBER), separators.sub(" ", t)) for t in texts)
    # One search over all texts: a line break is a boundary no listed word can span.
    return words.search("\n\n".join(cleaned)) is not None


def has_link(*texts: str) -> bool:
    """Whether any text holds a URL or a chat-invite link."""
    joined = "\n".join(texts)
    # Every pattern needs a "/" or "www": skip the regex for the many texts with neither.
    return ("/" in joined or "ww" in joined.lower()) and _LINK_RE.search(joined) is not None


def has_repeated_chars(*texts: str) -> bool:
    """Whether any text repeats one non-digit character REPEAT_RUN or more times in a row."""
    return _REPEAT_RE.search("\n".join(texts)) is not None


def is_too_short(answer: str, min_chars: int = MIN_ANSWER_CHARS, key: str | None = None) -> bool:
    """An answer with fewer than ``min_chars`` letters/digits, or a filler such as "ok" or "lol".
    ``key`` is the answer's comparison_key when the caller already has it."""
    key = comparison_key(answer) if key is None else key
    return key in _FILLER_ANSWERS or len(_NOT_ALNUM_RE.sub("", key)) < min_chars


def filter_reason(
    question: str, answer: str, switches: FilterSwitches, answer_key: str | None = None
) -> str | None:
    """The first reason (offensive, spam_link, spam_repeated, too_short) to drop this pair, or None."""
    if switches.offensive and is_offensive(question, answer, allowed=switches.allowed_words):
        return OFFENSIVE
    if switches.spam:
        if has_link(question, answer):
            return SPAM_LINK
        if has_repeated_chars(question, answer):
            return SPAM_REPEATED
    if switches.short and is_too_short(answer, switches.min_answer_chars, answer_key):
        return TOO_SHORT
    return None
