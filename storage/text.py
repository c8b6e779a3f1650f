"""Question normalization for the store: the key that groups "the same question" in exports and stats.

Deliberately small and self-contained (``storage`` does not import ``training``): Unicode NFKC, case-folded,
whitespace collapsed, surrounding punctuation dropped. The key is stored hashed so it can be indexed
whatever the question's length (PostgreSQL b-tree entries are limited to ~2.7 kB).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
# Punctuation that does not change what is asked: "What is offside?" == "what is offside".
_EDGE_PUNCT = " \t\n\"'`.,;:!?¿¡()[]{}"


def normalize_question(text: str) -> str:
    """The comparable form of a question (or answer)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", text).strip(_EDGE_PUNCT)


def question_key(text: str) -> str:
    """A fixed-size (40 hex chars) key for the normalized question."""
    return hashlib.sha1(normalize_question(text).encode("utf-8")).hexdigest()
