"""Tuning the sentence encoder on the community's own data at training time, kept only when it helps.

A stock encoder has never seen the dataset: its questions are close to one another (one topic), so a
reworded question scores barely above its neighbours and the calibrated zones must cut high. Tuning
learns a linear adapter on the encoder's vectors (v -> v + v @ A, normalised; A starts at zero) with an
in-batch-negatives contrastive loss (MultipleNegativesRankingLoss): generated rewordings of each question
(``probes.probe_rewordings``, another seed than calibration's) and, at a retrain, the wordings people used
for it (``--wordings``: "did you mean" choices, taught wordings) must find that question, and each question
must find its own pair (question with answer), against the other questions and pairs, their nearest
neighbours (the hard negatives) among them. Only the adapter learns, on vectors encoded once: seconds.

The gate: a fifth of the questions is held out of the tuning; their rewordings must still find their own
question, scored above both those questions asked with themselves left out (near misses) and off-topic
questions (ranking AUC). The tuned encoder is kept only when it beats the stock one there; a tuning with
people's wordings that fails it is tried again without them.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training.data import comparison_key
from training.retrieval.alterations import read_json_list
from training.retrieval.embedder import Embedder
from training.retrieval.index import BLEND, RetrievalIndex
from training.retrieval.vectors import Vectors
from training.retrieval.zones import OFF_TOPIC_PROBES, probe_rewordings

SEED = 1  # calibration's rewordings use seed 0
MIN_RECORDS = 20  # fewer questions teach an adapter nothing it can be checked on
MAX_TUNED = 400  # questions whose rewordings train the adapter (as many as calibration probes)
HELD_OUT = 0.2  # share of those kept out of the tuning for the gate
REWORDINGS = 3  # per question, drawn from probe_rewordings' kinds
WORDING_KEYS = ("wording", "question")  # what each entry of a --wordings file holds
MAX_PEOPLE_WORDINGS = 5  # per question, of the wordings people used for it (``wordings``)
HARD_NEGATIVES = 8  # per tuned question: its nearest known questions (BM25 and meaning)
# Chosen on examples/discord_dev.json with the zones calibrated as training does (issue 28): 100-400
# steps did alike, a larger weight decay or learning rate answered fewer and one more off-topic question.
STEPS = 200
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
TEMPERATURE = 0.05


@dataclass(frozen=True)
class Tuning:
    embedder: Embedder  # the tuned encoder when it passed the gate, else the stock one
    vectors: Vectors  # the records' vectors as ``embedder`` makes them
    report: dict[str, Any]


def meaning_scores(queries: np.ndarray, vectors: Vectors) -> np.ndarray:
    """(queries, records) cosine of the query with each question and pair, blended as the index does."""
    q, p = BLEND["question"], BLEND["pair"]
    scores = q * (queries @ vectors.questions.T)
    if vectors.pairs is not None:
        scores = scores + p * (queries @ vectors.pairs.T)
    else:
        q, p = 1.0, 0.0
    return scores / (q + p)


def train_adapter(
    anchors: np.ndarray,
    targets: Sequence[int],
    vectors: Vectors,
    steps: int = STEPS,
    seed: int = SEED,
) -> np.ndarray:
    """The adapter A (d x d) for which each anchor's vector finds its target row's question, and each
    row's question finds its own pair, among ``vectors`` (rows chosen by the caller: the tuned questions
    and their hard negatives)."""
    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(anchors, dtype=np.float32))
    t = torch.as_tensor(list(targets), dtype=torch.long)
    questions = torch.from_numpy(np.ascontiguousarray(vectors.questions, dtype=np.float32))
    pairs = None if vectors.pairs is None else torch.from_numpy(np.ascontiguousarray(vectors.pairs))
    own = torch.arange(len(questions))
    adapter = torch.zeros(x.shape[1], x.shape[1], requires_grad=True)
    optimiser = torch.optim.AdamW([adapter], lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def adapt(v: torch.Tensor) -> torch.Tensor:
        return F.normalize(v + v @ adapter, dim=-1)

    # One thread: the products are small, and on two busy cores a second thread made each step 6x slower
    # (66 against 438 ms measured here under load): the tuning took minutes instead of seconds.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():
            for _ in range(steps):
                loss = F.cross_entropy(adapt(x) @ adapt(questions).T / TEMPERATURE, t)
                if pairs is not None:  # and each question (a wording too) finds its own pair
                    both = adapt(torch.cat([x, questions]))
                    loss = loss + F.cross_entropy(both @ adapt(pairs).T / TEMPERATURE, torch.cat([t, own]))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return adapter.detach().numpy().astype(np.float32)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    if not len(positives) or not len(negatives):
        return 0.0
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def separation(
    rows: Sequence[int],
    wordings: np.ndarray,
    owners: Sequence[int],
    questions: np.ndarray,
    off_topic: np.ndarray,
    vectors: Vectors,
) -> dict[str, float]:
    """How well an encoder's vectors (of the records: ``vectors``; the held-out ``wordings`` of rows
    ``owners``; ``questions``, those of ``rows``; ``off_topic``) tell held-out wordings from near misses
    and off-topic questions: a wording counts at its own question's score when that question ranks first,
    else below everything."""
    scores = meaning_scores(wordings, vectors)
    best = scores.argmax(1)
    owners = np.asarray(owners)
    top1 = best == owners
    positives = np.where(top1, scores[np.arange(len(owners)), owners], -np.inf)
    near = meaning_scores(questions, vectors)
    near[np.arange(len(rows)), np.asarray(rows)] = -np.inf  # each asked with itself left out
    negatives = np.concatenate([near.max(1), meaning_scores(off_topic, vectors).max(1)])
    return {"top1": round(float(top1.mean()), 4), "auc": round(auc(positives, negatives), 4)}


def check_wordings(path: Path) -> None:
    """A ValueError naming ``path``, and the entry and field at fault, unless it is a JSON list of
    ``{"wording", "question"}`` texts (``read_wordings`` skips what is not; ``qabot train`` checks first)."""
    shape = '{"wording": text, "question": text}'
    items = read_json_list(path, "wordings", shape)
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: wording {n}: not an object {shape}")
        for key in WORDING_KEYS:
            if not isinstance(item.get(key), str):
                problem = "missing" if key not in item else f"not a text (got {str(item[key])[:40]!r})"
                raise ValueError(f"{path}: wording {n}, field {key!r}: {problem}")


def read_wordings(path: Path, records: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    """People's wordings of known questions from ``path`` (a JSON list of ``{"wording", "question"}``) as
    (wording, row of ``records``); a wording of a question ``records`` lacks (held out, or gone) is left
    out, as is one that is its question as written."""
    rows = {comparison_key(r["question"]): i for i, r in enumerate(records)}
    out = []
    for item in json.loads(Path(path).read_text(encoding="utf-8")):
        if not (isinstance(item, dict) and all(isinstance(item.get(k), str) for k in WORDING_KEYS)):
            continue
        row = rows.get(comparison_key(item["question"]))
        if row is not None and comparison_key(item["wording"]) != comparison_key(item["question"]):
            out.append((item["wording"], row))
    return out


def tune_encoder(
    embedder: Embedder,
    records: Sequence[dict[str, Any]],
    index: RetrievalIndex,
    seed: int = SEED,
    wordings: Sequence[tuple[str, int]] = (),
) -> Tuning:
    """Tune ``embedder`` on ``records`` (indexed by ``index``, built with ``embedder``'s vectors) and keep
    the tuning only when it passes the gate. Returns the encoder to use and the records' vectors in it.
    ``wordings``: (text, row) that people used for a known question (``read_wordings``); they join the
    generated rewordings of their row, in the tuning or in the gate with it."""
    started = time.perf_counter()
    stock = embedder
    vectors = index.vectors
    report: dict[str, Any] = {"base": stock.name, "kept": False}
    if vectors is None or len(records) < MIN_RECORDS:
        report["skipped"] = f"fewer than {MIN_RECORDS} questions" if vectors is not None else "no vectors"
        return Tuning(embedder, vectors, report)
    if embedder.adapter is not None:  # a tuned encoder's vectors cannot be turned back into the stock ones
        raise ValueError("tune_encoder takes the stock encoder and its index")
    rng = random.Random(seed)
    rows = list(range(len(records)))
    rng.shuffle(rows)
    rows = rows[:MAX_TUNED]
    held = max(1, round(HELD_OUT * len(rows)))
    gate_rows, tune_rows = sorted(rows[:held]), sorted(rows[held:])

    people: dict[int, list[str]] = {}
    for text, row in wordings:
        people.setdefault(row, []).append(text)

    def wordings_of(selected: Sequence[int]) -> tuple[list[str], list[int]]:
        texts, owners = [], []
        for row in selected:
            texts += people.get(row, [])[-MAX_PEOPLE_WORDINGS:]  # the latest, when many chose it
            owners += [row] * len(people.get(row, [])[-MAX_PEOPLE_WORDINGS:])
            kinds = probe_rewordings(records[row]["question"], rng)
            for text in rng.sample(kinds, min(REWORDINGS, len(kinds))):
                texts.append(text)
                owners.append(row)
        return texts, owners

    tune_texts, tune_owners = wordings_of(tune_rows)
    gate_texts, gate_owners = wordings_of(gate_rows)
    encoded = stock.encode([*tune_texts, *gate_texts, *OFF_TOPIC_PROBES])
    n_tune, n_gate = len(tune_texts), len(gate_texts)
    anchors, gate_wordings, off_topic = (
        encoded[:n_tune],
        encoded[n_tune : n_tune + n_gate],
        encoded[n_tune + n_gate :],
    )

    # The rows the loss sees: the tuned questions and their hard negatives (nearest by words and meaning),
    # never the gate's questions (they stay unseen).
    gate_set = set(gate_rows)
    neighbours = index.search_many(
        [records[r]["question"] for r in tune_rows], HARD_NEGATIVES + 1, vectors=vectors.questions[tune_rows]
    )
    seen = set(tune_rows) | {m.row for found in neighbours for m in found}
    seen = sorted(seen - gate_set)
    local = {row: i for i, row in enumerate(seen)}
    subset = Vectors(vectors.questions[seen], vectors.pairs[seen] if vectors.pairs is not None else None)
    adapter = train_adapter(anchors, [local[r] for r in tune_owners], subset, seed=seed)
    tuned = stock.tuned(adapter)
    tuned_vectors = Vectors(
        tuned.adapt(vectors.questions), tuned.adapt(vectors.pairs) if vectors.pairs is not None else None
    )

    questions = vectors.questions[gate_rows]
    before = separation(gate_rows, gate_wordings, gate_owners, questions, off_topic, vectors)
    after = separation(
        gate_rows,
        tuned.adapt(gate_wordings),
        gate_owners,
        tuned.adapt(questions),
        tuned.adapt(off_topic),
        tuned_vectors,
    )
    kept = after["auc"] > before["auc"] and after["top1"] >= before["top1"]
    report.update(
        {
            "kept": kept,
            "name": tuned.name if kept else stock.name,
            "tuned_questions": len(tune_rows),
            "tuned_wordings": len(tune_texts),
            "people_wordings": len(wordings),
            "negatives": len(seen),
            "gate_questions": len(gate_rows),
            "gate_wordings": len(gate_texts),
            "gate_stock": before,
            "gate_tuned": after,
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    if not kept and wordings:
        # People's wordings made a tuning the gate refused: tune as training did, without them, rather
        # than fall back to the stock encoder, whose cosines sit near 0.8 for everything (the zones then
        # answer far less: a retrain after 80 "did you mean" choices on examples/discord_dev.json fell to
        # 42.7% of the test set's English questions answered right from 58.9%, docs/notes.md).
        fallback = tune_encoder(embedder, records, index, seed)
        fallback.report["with_people_wordings"] = {
            "people_wordings": len(wordings),
            "tuned_wordings": len(tune_texts),
            "gate_wordings": len(gate_texts),
            "gate_stock": before,
            "gate_tuned": after,
            "kept": False,
        }
        return fallback
    return Tuning(tuned, tuned_vectors, report) if kept else Tuning(stock, vectors, report)
