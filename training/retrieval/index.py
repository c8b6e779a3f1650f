"""The retrieval index: find the known question nearest to what someone typed.

A model trained on a few hundred pairs memorises their exact wording, and people never type that wording,
so the answer path first finds the nearest known question and lets the model answer *that* (Lewis et al.,
"Question and Answer Test-Train Overlap", EACL 2021; RePAQ, TACL 2021). Views: words and character
3-grams, both BM25 over the known questions (``training.retrieval.lexical``), and, with a sentence encoder
(``training.retrieval.embedder``), meaning: the query against each known question and against the question
*with its answer*, since people often ask with words only the answer has (Sakata et al., SIGIR 2019).
Each BM25 score is divided by the matched question's *self-score* (1.0: every word of the known question
is in the query); the views blend (``WORD_WEIGHT``, ``BLEND``; meaning alone for a query in another
language) into one ``score``, and ``coverage`` says how much of the query's own term weight the match
explains. Neither depends on the corpus size, so the thresholds on them (``training.retrieval.zones``)
survive a re-index. A BM25 view of each question with its answer scores the candidates too
(``Match.answer_words``, the zones' second opinion). Saved in the checkpoint (``index_files``); the bot's
index of pairs taught since is built ``like=`` it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from training.retrieval import index_files
from training.retrieval.alterations import Alterations
from training.retrieval.embedder import Embedder
from training.retrieval.lexical import (
    WRITTEN_SHORT,
    BM25View,
    content_terms,
    gram_terms,
    stem,
    stem_terms,
    word_grams,
    word_terms,
)
from training.retrieval.vectors import Vectors

HELD_OUT = "held_out"
WORD_WEIGHT = 0.7  # the word view decides; the character view rescues typos and inflections
CANDIDATES = 64  # questions scored exactly per query (per stage-1 view)
COVERS_ALL = 0.999  # a coverage this high: the question contains every word asked (float sums)
# Above this many known questions, meaning only re-ranks the word candidates: a full scan of 384-d
# vectors costs ~1 ms per 10k questions on one core.
DENSE_SCAN_MAX = 20_000
# How the views blend into ``score`` (the weights sum to 1). Words alone without an encoder; with one,
# meaning leads, the pair view most (people ask with the answer's words, and an off-topic question that
# borrows a known question's frame rarely fits its answer), and words rescue typos and names the encoder
# splits badly. Chosen on the development set ``examples/soccer_dev.json`` (60 rewordings, 40 off-topic
# questions, 30 taught pairs asked in other words; not the benchmark's), with the zones calibrated as
# training does, among eleven blends: against question 0.4 / pair 0.4 / words 0.2, 33 rewordings were
# answered instead of 31 and 6 taught pairs instead of 4, none wrongly either way, and no more off-topic
# questions were offered suggestions (2 of 40). Blends with pair >= 0.55 and words 0.1-0.15 did alike.
BLEND = {"question": 0.3, "pair": 0.55, "lexical": 0.15}
LEXICAL_ONLY = {"question": 0.0, "pair": 0.0, "lexical": 1.0}
FORMAT_1_BLEND = {"question": 0.7, "pair": 0.0, "lexical": 0.3}


def _cosine(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each row's cosine with the query vector (unit vectors), or with the closer of its two rows."""
    return matrix @ query if query.ndim == 1 else (matrix @ query.T).max(axis=1)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest positive scores (unordered)."""
    idx = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    return idx[scores[idx] > 0]


@dataclass(frozen=True)
class Match:
    """A known question, its answer and how well it matches the query."""

    row: int  # position in the index's records
    question: str
    answer: str
    score: float  # what zones are decided on: the blend (``BLEND``) of the views below, 0..1
    lexical: float  # self-normalised BM25 (words and 3-grams): 1.0 = all of this question's words typed
    dense: float | None  # cosine similarity of sentence embeddings, both views blended (None: no encoder)
    coverage: float  # share of the query's term weight (idf) that this question contains, 0..1
    # "trained" (the model learned it), HELD_OUT (in the dataset but kept out of training for evaluation),
    # "taught" or "correction" (added in the store since training)
    origin: str = "trained"
    covers_asked: bool = False  # it contains every word of the query but its question words (zones._general)
    # The query's words scored (plain BM25) against this question *with its answer*, and the best such
    # score among the query's candidates: a second opinion that reads the answer's words (zones._agrees).
    answer_words: float = 0.0
    answer_words_top: float = 0.0


SAME_ENCODER = 0.95  # the cosine of a known question's saved vector with its vector now, at least


def _check_made_by(embedder: Embedder, records: list[dict[str, Any]], vectors: Vectors) -> None:
    """Refuse vectors another encoder made: an encoder package upgraded to new weights, or a records.json
    naming another encoder of the same width (all-MiniLM-L6-v2 and multilingual-e5-small both make 384),
    would load and then match nothing. The first known question is encoded again and compared."""
    if not records:
        return
    cosine = float(embedder.encode([records[0]["question"]])[0] @ vectors.questions[0])
    if not cosine >= SAME_ENCODER:  # NaN too
        raise ValueError(
            f"{index_files.VECTORS_FILE} was not made by the encoder {embedder.name} (its first question "
            f"encodes to another vector now: cosine {cosine:.2f}); retrain, or install the encoder it was "
            "built with"
        )


def _term_views(questions: Sequence[str], like: RetrievalIndex | None = None) -> tuple[BM25View, BM25View]:
    """The word and 3-gram BM25 views of ``questions`` (weighed like ``like``'s, when given)."""
    return (
        BM25View.build([word_terms(q) for q in questions], like._word if like is not None else None),
        BM25View.build([gram_terms(q) for q in questions], like._gram if like is not None else None),
    )


def _pair_view(records: Sequence[dict[str, Any]], like: RetrievalIndex | None = None) -> BM25View:
    """The word BM25 view of each question with its answer (weighed like ``like``'s, when given)."""
    terms = [word_terms(f"{r['question']} {r['answer']}") for r in records]
    return BM25View.build(terms, like._pair_words if like is not None else None)


class RetrievalIndex:
    """Known questions and answers, searchable by their words and (optionally) their meaning."""

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        word: BM25View,
        gram: BM25View,
        vectors: Vectors | None = None,
        embedder: Embedder | None = None,
        blend: dict[str, float] | None = None,
        alterations: Alterations | None = None,
        pair_words: BM25View | None = None,
    ) -> None:
        self.records = list(records)
        self._word, self._gram = word, gram
        self._pair_words = pair_words if pair_words is not None else _pair_view(self.records)
        # Other words for what people type (``training.retrieval.alterations``), applied to each query.
        self.alterations = alterations if alterations is not None else Alterations()
        # Dense scores need both the stored vectors and the encoder that made them.
        self.vectors = vectors if embedder is not None else None
        self.embedder = embedder if vectors is not None else None
        if self.vectors is None:
            self.blend = LEXICAL_ONLY
        elif self.vectors.pairs is None:  # no pair view: its weight goes to the question view
            blend = blend or FORMAT_1_BLEND
            self.blend = {**blend, "question": blend["question"] + blend["pair"], "pair": 0.0}
        else:
            self.blend = blend or BLEND

    @classmethod
    def build(
        cls,
        records: Sequence[dict[str, Any]],
        embedder: Embedder | None = None,
        vectors: Vectors | None = None,
        like: RetrievalIndex | None = None,
        alterations: Alterations | None = None,
    ) -> RetrievalIndex:
        """Index ``records`` (``{"question", "answer"}``, optionally ``"origin"``) by question and, with
        an encoder, by meaning. ``vectors``: the records already encoded by ``embedder`` (encoding is the
        costly part). ``like``: weigh the words with ``like``'s term statistics and these records'
        together, so that scores and coverage are on ``like``'s scale (the bot's few taught pairs, scored
        as if they were in the checkpoint's index; such an index is not saved), and blend as it does.
        ``alterations``: applied to every query (default: ``like``'s, else none)."""
        kept = [
            {"question": r["question"], "answer": r["answer"], "origin": r.get("origin", "trained")}
            for r in records
        ]
        if not kept:
            raise ValueError("a retrieval index needs at least one record")
        word, gram = _term_views([r["question"] for r in kept], like)
        if embedder is not None and vectors is None:
            vectors = Vectors.encode(embedder, kept)
        if alterations is None and like is not None:
            alterations = like.alterations
        blend = like.blend if like is not None else None
        return cls(kept, word, gram, vectors, embedder, blend, alterations, _pair_view(kept, like))

    def __len__(self) -> int:
        return len(self.records)

    def knows(self, word: str) -> bool:
        """Whether a known question has ``word`` (a folded content word; stemmed here)."""
        return stem(word) in self._word.vocab

    def knows_term(self, term: str) -> bool:
        """Whether a known question has the stemmed term ``term`` (``knows`` for a typed word)."""
        return term in self._word.vocab or term in self._word.extra

    def has_term(self, term: str) -> bool:
        """Whether a known question or its answer has the stemmed term ``term``."""
        return self.knows_term(term) or term in self._pair_words.vocab or term in self._pair_words.extra

    @functools.cached_property
    def short_years(self) -> frozenset[str]:
        """The years its questions and answers write short ("Italia '90": "90"; ``lexical.dataset_years``)."""
        return frozenset(
            m[1]
            for r in self.records
            for text in (r["question"], r["answer"])
            for m in WRITTEN_SHORT.finditer(text)
        )

    @property
    def dense(self) -> bool:
        return self.vectors is not None

    def encode(self, queries: Sequence[str]) -> np.ndarray | None:
        """Query vectors for ``search`` (one batch: cheaper than one call per query), or None."""
        return self.embedder.encode(queries) if self.embedder is not None else None

    def encode_queries(
        self, queries: Sequence[str], alterations: Alterations | None = None
    ) -> list[np.ndarray] | None:
        """``search``'s query vectors, one batch: each query's, and for a query with alterations a second
        row, its rewording in the dataset's words (``Alterations.rewrite``); None without an encoder."""
        if self.embedder is None:
            return None
        altered = alterations if alterations is not None else self.alterations
        rewritten = [altered.rewrite(q, self.knows_term) if altered else None for q in queries]
        extra = [r for r in rewritten if r is not None]
        encoded = self.embedder.encode([*queries, *extra])
        out, j = [], len(queries)
        for i, r in enumerate(rewritten):
            if r is None:
                out.append(encoded[i])
            else:
                out.append(encoded[[i, j]])
                j += 1
        return out

    def search(
        self,
        query: str,
        k: int = 3,
        query_vector: np.ndarray | None = None,
        exclude: int | None = None,
        alterations: Alterations | None = None,
    ) -> list[Match]:
        """The ``k`` best matches, best first; matches sharing nothing with the query are left out.
        ``exclude``: a row to leave out (calibration asks "what if this question were unknown?").
        ``alterations``: instead of the index's own (the bot's: the checkpoint's with the admins').
        ``query_vector``: from ``encode_queries`` (two rows: a question scores the closer one)."""
        altered = alterations if alterations is not None else self.alterations
        slots = altered.slots(query, self.knows_term)
        if slots is None:
            terms, grams = word_terms(query), gram_terms(query)
        else:  # every alternative's terms find candidates; each slot counts its best one (stage 2)
            word_slots = [[stem_terms(words) for words in slot] for slot in slots]
            gram_slots = [[word_grams(words) for words in slot] for slot in slots]
            terms = list(dict.fromkeys(t for slot in word_slots for option in slot for t in option))
            grams = list(dict.fromkeys(g for slot in gram_slots for option in slot for g in option))
        w_ids, g_ids = self._word.ids(terms), self._gram.ids(grams)
        # Stage 1, every question, cheap: word BM25 (and meaning, when the encoder scan is affordable).
        word = self._word.normalised(w_ids)
        vectors, sims = self.vectors, []
        if vectors is not None and query_vector is None:
            query_vector = self.encode_queries([query], altered)[0]  # type: ignore[index]
        if vectors is not None and len(self) <= DENSE_SCAN_MAX:
            sims = [_cosine(m, query_vector) for m in (vectors.questions, vectors.pairs) if m is not None]
        pools = [word] if len(w_ids) else [self._gram.normalised(g_ids)]  # typos only: grams find them
        rows = np.unique(np.concatenate([_top(pool, CANDIDATES) for pool in [*pools, *sims]]))
        if exclude is not None:
            rows = rows[rows != exclude]
        # Stage 2, the candidates only: symmetric word and 3-gram scores, and meaning.
        if slots is None:
            w_total = self._word.weight_total(terms, w_ids)
            w_norm, w_cov = self._word.exact(rows, w_ids, w_total)
            g_norm, g_cov = self._gram.exact(rows, g_ids, self._gram.weight_total(grams, g_ids))
            asked = content_terms(terms)
            if len(asked) == len(terms):
                asked_cov = w_cov
            else:
                asked_ids = self._word.ids(asked)
                asked_cov = self._word.exact(rows, asked_ids, self._word.weight_total(asked, asked_ids))[1]
        else:
            w_norm, w_cov = self._word.exact_slots(rows, word_slots)
            g_norm, g_cov = self._gram.exact_slots(rows, gram_slots)
            # Question words go from every reading; a slot that one reading makes a question word only
            # ("wut" for "what") asks for, not about.
            stripped = [[content_terms(words) for words in slot] for slot in word_slots]
            asked_slots = [slot for slot in stripped if all(slot)]
            asked_cov = self._word.exact_slots(rows, asked_slots)[1] if asked_slots else np.zeros(len(rows))
        # How much of the known question was typed, and how much of what was typed it explains.
        lexical = WORD_WEIGHT * (w_norm + w_cov) / 2 + (1 - WORD_WEIGHT) * (g_norm + g_cov) / 2
        blend = self.blend
        score = blend["lexical"] * lexical
        meaning = None
        if vectors is not None:
            q_sim = sims[0][rows] if sims else _cosine(vectors.questions[rows], query_vector)
            meaning = blend["question"] * np.clip(q_sim, 0.0, 1.0)
            if vectors.pairs is not None:
                p_sim = sims[1][rows] if sims else _cosine(vectors.pairs[rows], query_vector)
                meaning = meaning + blend["pair"] * np.clip(p_sim, 0.0, 1.0)
            # A question in another language shares no words with the dataset's by construction: its
            # words say nothing against a match, so meaning alone scores it.
            dense_weight = blend["question"] + blend["pair"]
            foreign = altered.other_language(word_terms(query), self.knows_term)
            score = meaning / dense_weight if foreign else score + meaning
            meaning = meaning / dense_weight
        # The second opinion: the query's words against each candidate's question and answer together.
        if slots is None:
            pair_words = self._pair_words.raw(rows, self._pair_words.ids(terms))
        else:  # each word's best alternative, as the word view counts them
            pair_words = self._pair_words.raw_slots(rows, word_slots)
        top_pair_words = float(pair_words.max()) if len(rows) else 0.0
        order = np.argsort(-score, kind="stable")[:k]
        out = []
        for j in order.tolist():
            if score[j] <= 0:
                break
            record = self.records[int(rows[j])]
            out.append(
                Match(
                    row=int(rows[j]),
                    question=record["question"],
                    answer=record["answer"],
                    score=float(min(score[j], 1.0)),
                    lexical=float(min(lexical[j], 1.0)),
                    dense=None if meaning is None else float(meaning[j]),
                    coverage=float(w_cov[j]),
                    origin=record.get("origin", "trained"),
                    covers_asked=bool(asked_cov[j] >= COVERS_ALL),
                    answer_words=float(pair_words[j]),
                    answer_words_top=top_pair_words,
                )
            )
        return out

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 3,
        exclude: Sequence[int | None] | None = None,
        vectors: np.ndarray | Sequence[np.ndarray] | None = None,
        alterations: Alterations | None = None,
    ) -> list[list[Match]]:
        """``search`` for each query, encoding them as one batch (or using ``vectors``, already encoded
        by this index's encoder)."""
        if vectors is None and queries:
            vectors = self.encode_queries(queries, alterations)
        return [
            self.search(
                q, k, None if vectors is None else vectors[i], exclude[i] if exclude else None, alterations
            )
            for i, q in enumerate(queries)
        ]

    # -- persistence (``training.retrieval.index_files``) -----------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the index into ``folder/retrieval/`` (records, the BM25 views, embeddings if any)."""
        payload = {
            "embedder": self.embedder.name if self.embedder is not None else None,
            "blend": self.blend,
            "records": self.records,
        }
        views = {"word": self._word, "gram": self._gram, "pair_words": self._pair_words}
        return index_files.write(folder, payload, views, self.alterations, self.vectors, self.embedder)

    @classmethod
    def load(
        cls, folder: str | Path, embedder: Embedder | None | Literal["auto"] = "auto"
    ) -> RetrievalIndex | None:
        """The index saved in checkpoint ``folder``, or None when it has none (a plain model folder).

        ``embedder="auto"`` loads the encoder the index was built with (lexical only, with a warning,
        when it is not installed)."""
        saved = index_files.read(folder)
        if saved is None:
            return None
        records, views, vectors = saved.records, saved.views, saved.vectors
        word, gram = views["word"], views["gram"]
        if word is None or gram is None:  # saved with other terms (accents kept): rebuilt
            word, gram = _term_views([r["question"] for r in records])
        if embedder == "auto":
            embedder = (
                Embedder.load(saved.payload.get("embedder"), saved.path) if vectors is not None else None
            )
        if vectors is not None and embedder is not None:
            dim = getattr(embedder, "dim", None)
            if dim is not None and vectors.questions.shape[1] != dim:
                raise ValueError(
                    f"{index_files.VECTORS_FILE} holds {vectors.questions.shape[1]}-dimensional vectors, "
                    f"but the encoder {embedder.name} makes {dim}"
                )
            _check_made_by(embedder, records, vectors)
        blend = saved.payload.get("blend", FORMAT_1_BLEND)
        return cls(records, word, gram, vectors, embedder, blend, saved.alterations, views["pair_words"])
