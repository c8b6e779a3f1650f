"""The store's rule for "the same question": the key that links an exchange to a taught pair and groups
questions in exports, stats and imports.

Unicode NFKC, case-folded, whitespace collapsed, punctuation at the two ends dropped ("What's offside?" ==
"what's offside"); punctuation inside is kept ("whats offside" is another question). The key is the sha1 of
that form, so it can be indexed whatever the question's length (PostgreSQL b-tree entries are limited to
~2.7 kB).

``training.data.normalize.comparison_key`` is a looser rule (every punctuation mark and invisible character
ignored) that training uses to find duplicates and keep a question on one side of the split. The two are
kept apart on purpose: this key is written into every ``exchanges`` and ``taught_pairs`` row, so a change
to it would need a migration that re-keys the stored rows, while training's key is recomputed from the data
on every run. ``storage`` imports nothing from ``training``, hence a rule of its own here.
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
