"""The dataset formats ``storage.export`` writes, and the file suffix of each.

The one list of export formats: ``qabot export``, the ``/export`` slash command and the terminal's
``/export`` offer and check formats from here. It imports nothing (SQLAlchemy included), so the CLI can
build its ``--format`` choices at import time and ``qabot --help`` stays instant.
"""

from __future__ import annotations

# json: the seed's list of {"question", "answer"}; jsonl/csv: the same records; sft/kto/dpo: TRL's JSONL.
SUFFIXES = {
    "json": ".json",
    "jsonl": ".jsonl",
    "csv": ".csv",
    "sft": ".jsonl",
    "kto": ".jsonl",
    "dpo": ".jsonl",
}
FORMATS = tuple(SUFFIXES)


def check_format(fmt: str) -> str:
    """``fmt`` itself, or ``ValueError`` naming the formats there are."""
    if fmt not in SUFFIXES:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def default_file_name(fmt: str) -> str:
    """The file name an export gets when it is given a folder: ``qabot-<format><suffix>``."""
    return f"qabot-{check_format(fmt)}{SUFFIXES[fmt]}"
