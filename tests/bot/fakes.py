"""The generator fakes for the bot tests: ``FakeGenerator`` (the only one) stands in for
``training.runtime.generate.Generator`` where the model's words do not matter (batching, cogs, cooldowns,
the terminal): it answers from a dict, else echoes, with a fixed confidence, and ``FakeBatch`` is its
scheduler batch. The real ``Answerer`` runs on top of it, so batching, fallback and swaps are the
production code. ``known_generator`` is one whose index holds ``KNOWN`` with zones ``ZONES``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bot.answering.scheduling import Batch
from training.retrieval.index import RetrievalIndex
from training.retrieval.zones import ZoneThresholds
from training.runtime.generate import Generation

# The zones most answer-path tests use: a clear match answers, a near one is offered, else not sure.
TEST_ZONES = ZoneThresholds(answer_score=0.8, answer_margin=0.2, suggest_score=0.5)


class FakeGenerator:
    """Answers ``answers[question]`` (else ``"echo: <question>"``) with a fixed confidence, after ``delay_s``.

    ``batches`` records every batch it was given; ``started`` is set when the first batch begins.
    ``known``: the pairs of its retrieval index (lexical only); None: no index, answers as typed.
    """

    def __init__(
        self,
        answers: dict[str, str] | None = None,
        *,
        version: str = "fake-v1",
        confidence: float = 0.9,
        threshold: float | None = 0.5,
        delay_s: float = 0.0,
        known: list[dict[str, str]] | None = None,
        zones: ZoneThresholds | None = None,
    ) -> None:
        self.answers = answers or {}
        self.index = RetrievalIndex.build(known) if known else None
        self.zones = zones or ZoneThresholds()
        self.model_version = version
        self.confidence = confidence
        self.confidence_threshold = threshold
        self.delay_s = delay_s
        # Every number differs from the others and from the threshold: a test can tell which one it sees.
        self.manifest = {
            "base": "scratch",
            "size": "tiny",
            "dataset": {"train": 3, "eval": 1, "sha256": "ab" * 32},
            "metrics": {"exact_match": 0.25, "f1": 0.75, "rougeL": 0.7},
            "confidence_threshold": threshold,
            "created_at": "2025-01-01T00:00:00+00:00",
        }
        self.batches: list[list[str]] = []
        self.started = threading.Event()

    @classmethod
    def knowing(cls, known: list[dict[str, str]], zones: ZoneThresholds = TEST_ZONES) -> FakeGenerator:
        """One that answers ``known``'s questions with their answers, over an index of them."""
        return cls({p["question"]: p["answer"] for p in known}, known=known, zones=zones)

    # The step-wise API the Answerer schedules on (``training.runtime.batching``): prompts are the questions.
    def batch(self, config: Any = None, *, slots: int = 0) -> FakeBatch:
        return FakeBatch(self, config)

    def encode_question(self, question: str, max_new_tokens: int) -> str:
        return question

    def finish(self, generation: Generation) -> Generation:
        return generation

    def generate(self, questions: list[str], config: Any = None, drafts: Any = None) -> list[Generation]:
        self.batches.append(list(questions))
        self.started.set()
        if self.delay_s:
            time.sleep(self.delay_s)
        return [
            Generation(
                text=self.answers.get(q, f"echo: {q}"),
                confidence=self.confidence,
                mean_logprob=-0.1,
                tokens=5,
                latency_s=self.delay_s,
                model_version=self.model_version,
                truncated=False,
            )
            for q in questions
        ]


class FakeBatch(Batch):
    """The scheduler's ``Batch`` (as a ``RunningBatch`` is one) for a ``FakeGenerator``: rows join, and all
    of them finish at the next step (answered by one ``generate`` call, which ``FakeGenerator.batches``
    records)."""

    can_join = True
    takes_drafts = False

    def __init__(self, generator: FakeGenerator, config: Any) -> None:
        self.generator, self.config = generator, config
        self._rows: list[tuple[Any, str]] = []

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def keys(self) -> list[Any]:
        return [key for key, _ in self._rows]

    def add(
        self,
        prompts: list[tuple[Any, str]],
        *,
        max_new_tokens: Any = None,
        started: Any = None,
        drafts: Any = None,
    ) -> None:
        self._rows += list(prompts)

    def drop(self, keys: list[Any]) -> None:
        self._rows = [row for row in self._rows if not any(row[0] is k for k in keys)]

    def step(self) -> list[tuple[Any, Generation]]:
        if not self._rows:
            return []
        generated = self.generator.generate([q for _, q in self._rows], self.config)
        rows, self._rows = self._rows, []
        return [(key, g) for (key, _), g in zip(rows, generated, strict=True)]


# A few known pairs and wide zones for their tiny lexical index, so that a test chooses which zone a question
# lands in (the answer path's and the answer cache's tests).
KNOWN = [
    {"question": "How many players may each team have on the pitch?", "answer": "Eleven, one a goalkeeper."},
    {"question": "What does a yellow card signify?", "answer": "A caution."},
    {"question": "Who won Euro 2016?", "answer": "Portugal."},
    {"question": "Who won Euro 2004?", "answer": "Greece."},
]
ZONES = ZoneThresholds(answer_score=0.6, answer_margin=0.1, suggest_score=0.3)


def known_generator(**kwargs: Any) -> FakeGenerator:
    """A ``FakeGenerator`` whose index holds ``KNOWN`` and whose model says ``model: <answer>`` for them."""
    answers = {r["question"]: f"model: {r['answer']}" for r in KNOWN}
    return FakeGenerator(answers, known=KNOWN, zones=ZONES, **kwargs)


MATCH_LENGTHS = [
    {"question": "How long is a football match?", "answer": "90 minutes."},
    {"question": "How long is half-time in a football match?", "answer": "15 minutes."},
]


def lengths_generator() -> FakeGenerator:
    """A ``FakeGenerator`` whose two known questions ("How long is ... match?", "... half-time ...?") make
    "how long" a "did you mean" between both (the terminal's and chat's number picks)."""
    return FakeGenerator(
        {p["question"]: p["answer"] for p in MATCH_LENGTHS},
        known=MATCH_LENGTHS,
        zones=ZoneThresholds(answer_score=0.8, answer_margin=0.2, suggest_score=0.5),
    )
