"""Coverage gaps: what people asked and could not get answered, grouped by meaning, most askers first.

The period's unanswered and 👎'd questions (``storage.desk.gap_questions``) are grouped by wording, encoded
with the checkpoint's sentence encoder (untuned: its adapter was fit to known questions, gaps are unknown
ones) and clustered with scikit-learn's agglomerative clustering (average linkage, cosine). The vectors are
first centred on the mean of the generic off-topic probes and the questions themselves: e5's raw cosines
crowd into 0.7-0.9, MiniLM's spread over 0-1, and a community's shared domain ("the stadium") makes all its
questions alike; centring removes both, so one cut (``CLUSTER_DISTANCE``) serves every encoder. Encoding is
the cost: wordings are encoded most askers first within a time budget (``ENCODE_BUDGET_S``); the rest join
the gap of their lexically nearest encoded wording (TF-IDF, character n-grams) when it is close enough.
Gaps rank by distinct askers (a question without a user id, such as a terminal's, counts as one); each
shown one gets its nearest known question, and one the bot would now answer is counted as covered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from training.data import comparison_key

log = logging.getLogger(__name__)

# Average cosine distance (centred vectors) under which wordings share a gap. Chosen on our own sets (three
# topics and one-offs as in tests/bot/test_gaps.py; bench/gaps.py's forty planted topics) for e5 and MiniLM.
CLUSTER_DISTANCE = 0.65
# Encoding is the cost (~10 ms a wording on a core): the most asked wordings are encoded in chunks until
# ENCODE_BUDGET_S has passed (at least MIN_ENCODED of them, at most MAX_ENCODED), so a run takes about as
# long on a slow or busy machine, which encodes fewer (bench/gaps.py: 100k logged questions in <=30 s).
MAX_ENCODED = 2000
MIN_ENCODED = 200
ENCODE_CHUNK = 100
ENCODE_BUDGET_S = 12.0
LEXICAL_JOIN = 0.5  # TF-IDF cosine at which a wording past the budget joins an encoded one's gap
EXAMPLES = 3  # wordings shown per gap
SHOWN = 20  # gaps reported
LOOKAHEAD = 2  # gaps looked up per one shown (some turn out covered)

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class Gap:
    """Questions of one meaning nobody answered: ``questions`` oldest first (dicts of
    ``storage.desk.gap_questions``); ``nearest``/``nearest_score``: the closest known question."""

    questions: list[dict[str, Any]]
    askers: int
    examples: list[str]
    nearest: str | None = None
    nearest_score: float | None = None

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def latest(self) -> dict[str, Any]:
        """The most recent question: the one a Teach answers (its asker waited the least long)."""
        return self.questions[-1]

    def to_json(self) -> dict[str, Any]:
        """The gap for scripts (``qabot gaps --json``), people's words with their secrets masked (the store
        masks them as it logs; a row logged before it did may hold one)."""
        from storage.masking import mask_secrets

        whys = [q["why"] for q in self.questions]
        return {
            "askers": self.askers,
            "count": self.count,
            "unanswered": whys.count("unanswered"),
            "downvoted": whys.count("downvoted"),
            "examples": [mask_secrets(e) for e in self.examples],
            "nearest_question": self.nearest,
            "nearest_score": None if self.nearest_score is None else round(self.nearest_score, 4),
            "teach_exchange_id": self.latest["id"],
            "first_asked": _iso(self.questions[0]["created_at"]),
            "last_asked": _iso(self.latest["created_at"]),
            "questions": [
                {
                    "id": q["id"],
                    "question": mask_secrets(q["question"]),
                    "user_id": q["user_id"],
                    "why": q["why"],
                    "created_at": _iso(q["created_at"]),
                }
                for q in self.questions
            ],
        }


@dataclass
class GapReport:
    """What ``find_gaps`` found; ``considered`` questions, ``encoded`` wordings, ``covered`` gaps an admin
    answered since (left out), ``left_out`` questions in no gap (past the encoding budget, alone)."""

    gaps: list[Gap]
    considered: int
    encoded: int
    covered: int = 0
    left_out: int = 0
    since: datetime | None = None
    until: datetime | None = None
    clusters: int = field(default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "questions_considered": self.considered,
            "wordings_encoded": self.encoded,
            "clusters_found": self.clusters,
            "covered_since": self.covered,
            "left_out": self.left_out,
            "clusters": [g.to_json() for g in self.gaps],
        }


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _askers(rows: Sequence[dict[str, Any]]) -> int:
    """Distinct people; a question without a user id (the terminal) counts as one person."""
    return len({r["user_id"] if r["user_id"] is not None else f"#{r['id']}" for r in rows})


def _wordings(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows grouped by wording, most askers first, then the most recently asked."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(comparison_key(row["question"]) or row["question"], []).append(row)
    return sorted(groups.values(), key=lambda g: (-_askers(g), -g[-1]["id"]))


def centre(vectors: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """``vectors`` minus the mean of ``probes`` and ``vectors`` together, unit length again."""
    out = vectors - np.vstack([probes, vectors]).mean(axis=0)
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)


def _clusters(vectors: np.ndarray) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=CLUSTER_DISTANCE
    )
    return model.fit_predict(vectors)


def _lexical_join(encoded: list[str], rest: list[str]) -> list[int | None]:
    """For each wording of ``rest``, the encoded wording it is lexically nearest to (None: none close)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not rest or not encoded:
        return [None] * len(rest)
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True)
    matrix = tfidf.fit_transform([*encoded, *rest])
    sims = (matrix[len(encoded) :] @ matrix[: len(encoded)].T).tocsr()
    best = np.asarray(sims.max(axis=1).todense()).ravel()
    nearest = np.asarray(sims.argmax(axis=1)).ravel()
    out: list[int | None] = [
        int(j) if b >= LEXICAL_JOIN else None for j, b in zip(nearest, best, strict=True)
    ]
    return out


def _encode_within(texts: list[str], encode: Encode, budget_s: float | None) -> np.ndarray:
    """``texts``' vectors in order, chunk by chunk, until ``budget_s`` has passed (None: all of them)."""
    start, out = time.perf_counter(), []
    for i in range(0, len(texts), ENCODE_CHUNK):
        if budget_s is not None and i >= MIN_ENCODED and time.perf_counter() - start > budget_s:
            break
        out.append(encode(texts[i : i + ENCODE_CHUNK]))
    return np.concatenate(out)


def cluster_gaps(
    rows: Sequence[dict[str, Any]],
    encode: Encode,
    max_encoded: int = MAX_ENCODED,
    budget_s: float | None = ENCODE_BUDGET_S,
) -> tuple[list[Gap], int, int]:
    """The rows' gaps, most askers first (then most questions, then the most recent), the number of
    wordings encoded, and the number of questions left in no gap."""
    from training.retrieval.zones import OFF_TOPIC_PROBES

    if not rows:
        return [], 0, 0
    wordings = _wordings(rows)
    probes = encode(list(OFF_TOPIC_PROBES))
    vectors = _encode_within([w[-1]["question"] for w in wordings[:max_encoded]], encode, budget_s)
    chosen, rest = wordings[: len(vectors)], wordings[len(vectors) :]
    texts = [w[-1]["question"] for w in chosen]
    labels = _clusters(centre(vectors, probes))
    members: dict[int, list[dict[str, Any]]] = {}
    for label, group in zip(labels.tolist(), chosen, strict=True):
        members.setdefault(label, []).extend(group)
    left_out = 0
    for j, group in zip(_lexical_join(texts, [w[-1]["question"] for w in rest]), rest, strict=True):
        if j is None:
            left_out += len(group)
        else:
            members[int(labels[j])].extend(group)
    gaps = []
    for questions in members.values():
        questions.sort(key=lambda r: (r["created_at"], r["id"]))
        gaps.append(Gap(questions, _askers(questions), _examples(questions)))
    gaps.sort(key=lambda g: (-g.askers, -g.count, -g.latest["id"]))
    return gaps, len(texts), left_out


def _examples(questions: list[dict[str, Any]]) -> list[str]:
    """A few of the gap's wordings, the most asked first."""
    return [w[-1]["question"] for w in _wordings(questions)[:EXAMPLES]]


def to_look_up(gaps: Sequence[Gap], shown: int = SHOWN) -> list[str]:
    """The wordings whose nearest known questions ``annotate`` needs (search them in one batch)."""
    return list(dict.fromkeys(e for g in gaps[: shown * LOOKAHEAD] for e in g.examples))


def annotate(
    gaps: Sequence[Gap], found: dict[str, Sequence[Any]], zones: Any | None, shown: int = SHOWN
) -> tuple[list[Gap], int]:
    """The first ``shown`` gaps the bot still cannot answer, each with its nearest known question, and
    how many were covered since: every example of theirs would now be answered (``zones``: the answer
    path's ``ZoneThresholds``; None: none counts as covered). ``found``: each example's matches, best
    first (``Knowledge.search_many``)."""
    from training.retrieval.zones import decide

    kept, covered = [], 0
    for gap in gaps[: shown * LOOKAHEAD]:
        matches = [found.get(e) or [] for e in gap.examples]
        best = max((m[0] for m in matches if m), key=lambda m: m.score, default=None)
        open_ = [q for q in gap.questions if q["why"] == "unanswered"]
        if zones is not None and open_ and all(m and decide(m, zones).zone == "answer" for m in matches):
            covered += 1
            continue
        if best is not None:
            gap.nearest, gap.nearest_score = best.question, float(best.score)
        kept.append(gap)
        if len(kept) == shown:
            break
    return kept, covered


def find_gaps(
    rows: Sequence[dict[str, Any]],
    encode: Encode,
    search: Callable[[list[str]], list[Sequence[Any]]] | None = None,
    zones: Any | None = None,
    *,
    shown: int = SHOWN,
    since: datetime | None = None,
    until: datetime | None = None,
    max_encoded: int = MAX_ENCODED,
    budget_s: float | None = ENCODE_BUDGET_S,
) -> GapReport:
    """``cluster_gaps`` then ``annotate`` in one call, for a caller that may search on this thread
    (``search``: ``Knowledge.search_many``; None: no nearest known questions)."""
    gaps, encoded, left_out = cluster_gaps(rows, encode, max_encoded, budget_s)
    clusters = len(gaps)
    texts = to_look_up(gaps, shown)
    found = dict(zip(texts, search(texts), strict=True)) if search is not None and texts else {}
    kept, covered = annotate(gaps, found, zones, shown)
    return GapReport(kept, len(rows), encoded, covered, left_out, since, until, clusters)
