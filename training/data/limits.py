"""Size limits on dataset input, in one place: what one file, one record and one field may hold. A file
past them is refused with a ``DatasetError`` naming the file, record and field, instead of filling memory.

The bot imports the two text limits too (``from training.data import MAX_ANSWER_CHARS``), so what it is
taught in Discord and what it imports obey the same bounds.
"""

from __future__ import annotations

MAX_QUESTION_CHARS = 2000  # one Discord message
# Two Discord messages, the Teach modal's own maximum, and about 1,000 GPT-2 tokens: past it an answer
# no longer fits the 1024-token context the data report already warns about.
MAX_ANSWER_CHARS = 4000
# One JSON Lines line, one CSV row or one field in any file, before cleaning; far above any record that
# can pass the two limits above, and a bound on what cleaning ever has to hold for one record.
MAX_RECORD_CHARS = 1 << 20
# One text file (JSON, JSON Lines, CSV), after decompression, and the uncompressed data and the text of
# a Parquet/Arrow file: about a million typical Q&A pairs, 20 times Alpaca's 52k. Parsing holds the text
# a few times over, so this bounds a load to a few GB.
MAX_DATASET_BYTES = 256 << 20
# Records (JSON items, JSON Lines lines, CSV rows, table rows) in one file: the same million typical pairs.
# It bounds a file of many tiny records (240 MiB of "{}" lines is 84 million), which the byte limit
# alone does not: each record costs a few hundred bytes once parsed.
MAX_RECORDS = 1_000_000


def size(n: int) -> str:
    """``n`` bytes in words: ``256 MiB``, ``1.5 MiB``, ``900 KiB``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


def too_many_records(limit: int) -> str:
    """The problem text for a file holding more than ``limit`` (``MAX_RECORDS``) records."""
    limit_text = f"the {limit:,}-record limit for one dataset file (MAX_RECORDS)"
    return f"more than {limit_text}; split it into smaller files"


# The last resort, for what the limits above do not foresee (one record holding millions of values).
OUT_OF_MEMORY = "ran out of memory while reading it (MemoryError); split it into smaller files"


_TEXT_LIMITS = {
    "question": (MAX_QUESTION_CHARS, "MAX_QUESTION_CHARS"),
    "answer": (MAX_ANSWER_CHARS, "MAX_ANSWER_CHARS"),
}


def too_long(chars: int, kind: str | None = None) -> str:
    """The problem text for a text over its limit, ``kind`` being "question" or "answer"; None for a text
    refused before cleaning (past ``MAX_RECORD_CHARS``), whose kind is not known yet."""
    if kind is None:
        limits = " and ".join(f"{limit:,} for {k}s ({name})" for k, (limit, name) in _TEXT_LIMITS.items())
        return f"too long: {chars:,} characters (the limits are {limits}); shorten it"
    limit, name = _TEXT_LIMITS[kind]
    article = "an" if kind == "answer" else "a"
    return f"too long for {article} {kind}: {chars:,} characters (the limit is {limit:,}, {name}); shorten it"
