"""``CleanOptions``: every knob of the cleaning pipeline with its default, in one light module, so that
``qabot data check|clean --help`` shows the pipeline's own defaults without loading the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from training.data.filters import DEFAULT_ALLOWED_WORDS, MIN_ANSWER_CHARS
from training.data.offensive import DEFAULT_THRESHOLD

CONFLICT_POLICIES = ("first", "last", "longest")  # which answer a repeated question keeps
DEFAULT_NEAR_DUP_THRESHOLD = 0.9


@dataclass
class CleanOptions:
    """Every knob of the cleaning pipeline, with its default."""

    near_dup_threshold: float = DEFAULT_NEAR_DUP_THRESHOLD  # similarity in (0, 1]; 1.0 turns it off
    conflicts: str = CONFLICT_POLICIES[0]  # which answer a repeated question keeps: first | last | longest
    offensive: bool = True  # drop pairs with offensive language
    spam: bool = True  # drop pairs with links / invite URLs / long runs of one character
    short: bool = True  # drop answers too short to be useful
    min_answer_chars: int = MIN_ANSWER_CHARS
    allowed_words: tuple[str, ...] = DEFAULT_ALLOWED_WORDS  # words the offensive filter ignores
    offensive_threshold: float = DEFAULT_THRESHOLD  # classifier score that makes a sentence a candidate
    near_duplicates: bool = True
    token_stats: bool = True  # GPT-2 token-length distribution in the report

    def validate(self) -> None:
        if self.conflicts not in CONFLICT_POLICIES:
            raise ValueError(
                f"conflicts must be one of {', '.join(CONFLICT_POLICIES)}, not {self.conflicts!r}"
            )
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise ValueError(f"near_dup_threshold must be in (0, 1], not {self.near_dup_threshold}")
        if not 0.0 < self.offensive_threshold <= 1.0:
            raise ValueError(f"offensive_threshold must be in (0, 1], not {self.offensive_threshold}")
