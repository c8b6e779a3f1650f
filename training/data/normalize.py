"""Text normalization for dataset records, and the comparison key used to find duplicates.

``normalize_text`` changes what is stored: Unicode NFC, control / zero-width / format characters
removed, every run of whitespace (newlines included) collapsed to one space, ends stripped. With
``multiline=True`` (answers: lists and steps are common) line breaks are kept: spaces are collapsed
within each line, trailing spaces stripped, and runs of blank lines shrink to one blank line.
``comparison_key`` is only ever used to compare records, never written out: it is additionally
NFKC-folded, casefolded and punctuation-insensitive, so "What's offside?" and "what’s OFFSIDE" match.

``comparison_key`` is training's rule for "the same question" (duplicates, the train/eval split, the retrain
gate's exclusions). The store has its own, stricter one (``storage.text.question_key``: only punctuation
at the ends is ignored), because its key is saved in the database and cannot change without re-keying the
stored rows; this one is recomputed on every run. Neither package imports the other, so each keeps its own.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

# Categories removed from stored text: Cc = control (whitespace controls become spaces first),
# Cf = format (zero-width space/joiners, BOM, bidi marks, soft hyphen), Cs = lone surrogates, which
# JSON can smuggle in ("\ud800") and which cannot be written back as UTF-8.
_REMOVED_CATEGORIES = ("Cc", "Cf", "Cs")


def _ranges(predicate) -> str:
    """A regex character-class body covering every code point for which ``predicate(category)``."""
    parts: list[str] = []
    start = None
    for cp in range(sys.maxunicode + 2):
        hit = cp <= sys.maxunicode and predicate(unicodedata.category(chr(cp)))
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            lo, hi = re.escape(chr(start)), re.escape(chr(cp - 1))
            parts.append(lo if start == cp - 1 else f"{lo}-{hi}")
            start = None
    return "".join(parts)


@functools.cache
def _invisible_re() -> re.Pattern[str]:
    # Built once on first use (scanning the code space takes ~0.3 s), not at import time.
    return re.compile(f"[{_ranges(lambda c: c in _REMOVED_CATEGORIES)}]+")


@functools.cache
def _punctuation_table() -> dict[int, str]:
    return {cp: " " for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("P")}


# Line separators kept by multiline normalisation (str.splitlines' set: \r\n, \r, \v, \f, \x1c-\x1e,
# \x85, U+2028, U+2029); each becomes "\n".
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def normalize_text(text: str, multiline: bool = False) -> str:
    """The cleaned form of ``text`` that is stored and trained on (idempotent). ``multiline`` keeps line
    breaks (at most one blank line in a row); otherwise the text becomes one line."""
    if multiline:
        lines = (_one_line(line) for line in text.splitlines())
        return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")
    return _one_line(text)


def _one_line(text: str) -> str:
    if text.isascii() and text.isprintable():
        # Fast path for the common case: nothing to remove or compose, only whitespace to collapse.
        return " ".join(text.split())
    # Whitespace controls (\t \n \r ...) become spaces before the control characters are dropped, so
    # "a\nb" stays two words. Removal happens before NFC because dropping a zero-width joiner can put
    # a combining mark next to a new base character, which NFC must then see.
    text = "".join(" " if ch.isspace() else ch for ch in text)
    text = _invisible_re().sub("", text)
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def comparison_key(text: str) -> str:
    """The key two texts share when they differ only in case, punctuation, spacing or invisible marks."""
    text = unicodedata.normalize("NFKC", normalize_text(text)).casefold()
    return " ".join(text.translate(_punctuation_table()).split())
