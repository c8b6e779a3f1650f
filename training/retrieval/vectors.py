"""The dense view's vectors: sentence embeddings of an index's records, one per known question and one per
question with its answer (what the pair view encodes, ``pair_text``), as ``RetrievalIndex`` keeps, saves
and extends them (``training.retrieval.index``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.retrieval.embedder import Embedder


def pair_text(record: dict[str, Any]) -> str:
    """What the pair view encodes: the question followed by its answer."""
    return f"{record['question']} {record['answer']}"


PAIR_MAX_TOKENS = 128  # a question with its answer: the length all-MiniLM-L6-v2 was trained on


@dataclass(frozen=True)
class Vectors:
    """Sentence embeddings of an index's records: one per question and one per question with its answer
    (``pairs``; None in an index saved before pairs were encoded)."""

    questions: np.ndarray
    pairs: np.ndarray | None

    @classmethod
    def encode(cls, embedder: Embedder, records: Sequence[dict[str, Any]]) -> Vectors:
        return cls(
            embedder.encode([r["question"] for r in records]),
            embedder.encode([pair_text(r) for r in records], max_tokens=PAIR_MAX_TOKENS),
        )

    def __add__(self, other: Vectors) -> Vectors:
        pairs = None
        if self.pairs is not None and other.pairs is not None:
            pairs = np.concatenate([self.pairs, other.pairs])
        return Vectors(np.concatenate([self.questions, other.questions]), pairs)
