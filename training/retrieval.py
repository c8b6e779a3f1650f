"""The retrieval index: find the known question nearest to what someone typed.

A model trained on a few hundred pairs memorises their exact wording, and people never type that
wording. So the answer path first finds the nearest known question and lets the model answer *that*
(Lewis et al., "Question and Answer Test-Train Overlap", EACL 2021; RePAQ, TACL 2021). Two lexical views,
both BM25 (``bm25s``) over the known questions:

- words: lower-cased, English stopwords removed, Snowball-stemmed (PyStemmer), so inflections and word
  order do not matter;
- character 3-grams of those words, so a typo ("dimensons") still shares most of its grams.

Raw BM25 scores depend on the corpus (its size and term statistics), so each is divided by the matched
question's *self-score* (its score as its own query): 1.0 means "every word of this known question is in
what you typed". The views are blended (``WORD_WEIGHT``) into one ``score``, and ``coverage`` says how
much of the *query's* own term weight the match explains: "Who won the cricket World Cup?" shares "won",
"World Cup" with a soccer question, but "cricket" is unknown to the corpus and stays unexplained. Neither
number depends on the corpus size, so thresholds on them (``training.zones``) survive a re-index.

The index is built at training time from the training records and saved in the checkpoint folder
(``retrieval/``); the bot keeps what admins taught since in a second, small index that it rebuilds.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bm25s
import numpy as np
import Stemmer

from training.embedder import Embedder

INDEX_DIR = "retrieval"
RECORDS_FILE = "records.json"
VECTORS_FILE = "vectors.npy"
FORMAT_VERSION = 1
WORD_WEIGHT = 0.7  # the word view decides; the character view rescues typos and inflections
DENSE_WEIGHT = 0.7  # with a sentence encoder, meaning leads and words break its ties
NGRAM = 3
_WORD = re.compile(r"\w+", re.UNICODE)
# Lucene's English stopword list (bm25s' default): articles, auxiliaries and prepositions only. Question
# words stay: "who won" and "when was it won" want different answers, and idf keeps their weight low.
STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
_PLACEHOLDER = "\x00"  # a question made only of stopwords still gets a (never matching) document


class _Stems:
    """Snowball stemming with a cache: the same few thousand words come back in every question."""

    def __init__(self) -> None:
        self._stem = Stemmer.Stemmer("english").stemWord
        self._cache: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        out = self._cache.get(word)
        if out is None:
            out = self._cache[word] = self._stem(word)
        return out


_stem = _Stems()


def _content_words(text: str) -> list[str]:
    # Apostrophes are folded ("what's" -> "whats", "d'Or" -> "dor") rather than split off.
    words = _WORD.findall(text.lower().replace("'", "").replace("\u2019", ""))
    return [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def word_terms(text: str) -> list[str]:
    """The distinct stemmed content words of ``text``, in order."""
    return list(dict.fromkeys(_stem(w) for w in _content_words(text)))


def gram_terms(text: str) -> list[str]:
    """The distinct character 3-grams of ``text``'s content words, word edges marked (``#pen``)."""
    grams: dict[str, None] = {}
    for word in _content_words(text):
        padded = f"#{word}#"
        for i in range(max(1, len(padded) - NGRAM + 1)):
            grams[padded[i : i + NGRAM]] = None
    return list(grams)


class _View:
    """One BM25 index over per-question term lists, with what normalisation needs."""

    def __init__(self, bm25: bm25s.BM25) -> None:
        self.bm25 = bm25
        self.vocab: dict[str, int] = bm25.vocab_dict
        n = int(bm25.scores["num_docs"])
        indptr, indices, data = (bm25.scores[k] for k in ("indptr", "indices", "data"))
        # A document's self-score is the sum of its own terms' BM25 weights: one pass over the matrix.
        self.self_scores = np.bincount(indices, weights=data, minlength=n)[:n].astype(np.float32)
        self.self_scores[self.self_scores <= 0] = np.inf  # placeholder-only documents never match
        df = np.diff(indptr)
        # Lucene's idf (bm25s' default), and for terms the corpus never saw the idf of df = 0. (bm25s adds
        # an empty-string term to its vocabulary that has no column: it is skipped.)
        self.idf = {
            t: math.log(1 + (n - df[i] + 0.5) / (df[i] + 0.5)) for t, i in self.vocab.items() if i < len(df)
        }
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)

    @classmethod
    def build(cls, terms: Sequence[list[str]]) -> _View:
        bm25 = bm25s.BM25()
        bm25.index([t or [_PLACEHOLDER] for t in terms], show_progress=False)
        return cls(bm25)

    def normalised(self, terms: list[str]) -> np.ndarray:
        known = [t for t in terms if t in self.vocab]
        if not known:
            return np.zeros(len(self.self_scores), dtype=np.float32)
        return self.bm25.get_scores(known) / self.self_scores

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.unknown_idf)

    def coverage(self, terms: list[str]) -> np.ndarray:
        """Per document: the share of the query's idf weight found in it (terms unknown to the corpus
        count with the highest idf, so an off-topic word is never explained)."""
        n = len(self.self_scores)
        total = sum(self.weight(t) for t in terms)
        out = np.zeros(n, dtype=np.float32)
        if not total:
            return out
        indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
        for t in terms:
            tid = self.vocab.get(t)
            if tid is not None and tid + 1 < len(indptr):
                out[indices[indptr[tid] : indptr[tid + 1]]] += self.idf[t]
        return out / total


@dataclass(frozen=True)
class Match:
    """A known question, its answer and how well it matches the query."""

    row: int  # position in the index's records
    question: str
    answer: str
    score: float  # what zones are decided on: the blend of the views below, 1.0 = the question itself
    lexical: float  # self-normalised BM25 (words and 3-grams): 1.0 = all of this question's words typed
    dense: float | None  # cosine similarity of sentence embeddings (None: no encoder)
    coverage: float  # share of the query's term weight (idf) that this question contains, 0..1
    origin: str = "trained"  # "trained" (indexed at training time), "taught", "correction"


class RetrievalIndex:
    """Known questions and answers, searchable by their words and (optionally) their meaning."""

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        word: _View,
        gram: _View,
        vectors: np.ndarray | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.records = list(records)
        self._word, self._gram = word, gram
        self._word_sets = [set(word_terms(r["question"])) for r in self.records]
        # Dense scores need both the stored vectors and the encoder that made them.
        self.vectors = vectors if embedder is not None else None
        self.embedder = embedder if vectors is not None else None

    @classmethod
    def build(cls, records: Sequence[dict[str, Any]], embedder: Embedder | None = None) -> RetrievalIndex:
        """Index ``records`` (``{"question", "answer"}``, optionally ``"origin"``) by question."""
        kept = [
            {"question": r["question"], "answer": r["answer"], "origin": r.get("origin", "trained")}
            for r in records
        ]
        if not kept:
            raise ValueError("a retrieval index needs at least one record")
        questions = [r["question"] for r in kept]
        word = _View.build([word_terms(q) for q in questions])
        gram = _View.build([gram_terms(q) for q in questions])
        vectors = embedder.encode(questions) if embedder is not None else None
        return cls(kept, word, gram, vectors, embedder)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def dense(self) -> bool:
        return self.vectors is not None

    def encode(self, queries: Sequence[str]) -> np.ndarray | None:
        """Query vectors for ``search`` (one batch: cheaper than one call per query), or None."""
        return self.embedder.encode(queries) if self.embedder is not None else None

    def search(
        self, query: str, k: int = 3, query_vector: np.ndarray | None = None, exclude: int | None = None
    ) -> list[Match]:
        """The ``k`` best matches, best first; matches sharing nothing with the query are left out.
        ``exclude``: a row to leave out (calibration asks "what if this question were unknown?")."""
        terms, grams = word_terms(query), gram_terms(query)
        # Symmetric: how much of the known question was typed, and how much of what was typed it explains.
        lexical = (
            WORD_WEIGHT * (self._word.normalised(terms) + self._word.coverage(terms)) / 2
            + (1 - WORD_WEIGHT) * (self._gram.normalised(grams) + self._gram.coverage(grams)) / 2
        )
        dense = None
        if self.vectors is not None:
            if query_vector is None:
                query_vector = self.encode([query])[0]
            dense = np.clip(self.vectors @ query_vector, 0.0, 1.0)
            score = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical
        else:
            score = lexical
        if exclude is not None:
            score = score.copy()
            score[exclude] = 0.0
        k = min(k, len(score))
        top = np.argpartition(-score, k - 1)[:k] if k < len(score) else np.arange(len(score))
        top = top[np.argsort(-score[top], kind="stable")]
        total = sum(self._word.weight(t) for t in terms)
        out = []
        for row in top.tolist():
            if score[row] <= 0:
                break
            shared = sum(self._word.weight(t) for t in terms if t in self._word_sets[row])
            record = self.records[row]
            out.append(
                Match(
                    row=row,
                    question=record["question"],
                    answer=record["answer"],
                    score=float(min(score[row], 1.0)),
                    lexical=float(min(lexical[row], 1.0)),
                    dense=None if dense is None else float(dense[row]),
                    coverage=shared / total if total else 0.0,
                    origin=record.get("origin", "trained"),
                )
            )
        return out

    def search_many(
        self, queries: Sequence[str], k: int = 3, exclude: Sequence[int | None] | None = None
    ) -> list[list[Match]]:
        """``search`` for each query, encoding them as one batch."""
        vectors = self.encode(queries) if queries else None
        return [
            self.search(q, k, None if vectors is None else vectors[i], exclude[i] if exclude else None)
            for i, q in enumerate(queries)
        ]

    # -- persistence ------------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the index into ``folder/retrieval/`` (records, both BM25 views, embeddings if any)."""
        out = Path(folder) / INDEX_DIR
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        payload = {
            "format": FORMAT_VERSION,
            "embedder": self.embedder.name if self.embedder is not None else None,
            "records": self.records,
        }
        (out / RECORDS_FILE).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        self._word.bm25.save(str(out / "words"), show_progress=False)
        self._gram.bm25.save(str(out / "grams"), show_progress=False)
        if self.vectors is not None:
            np.save(out / VECTORS_FILE, self.vectors)
        return out

    @classmethod
    def load(
        cls, folder: str | Path, embedder: Embedder | None | Literal["auto"] = "auto"
    ) -> RetrievalIndex | None:
        """The index saved in checkpoint ``folder``, or None when it has none (a plain model folder).

        ``embedder="auto"`` loads the encoder the index was built with (lexical only, with a warning,
        when it is not installed)."""
        path = Path(folder) / INDEX_DIR
        if not (path / RECORDS_FILE).is_file():
            return None
        payload = json.loads((path / RECORDS_FILE).read_text(encoding="utf-8"))
        if payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: retrieval index format {payload.get('format')!r} is not supported")
        word = _View(bm25s.BM25.load(str(path / "words")))
        gram = _View(bm25s.BM25.load(str(path / "grams")))
        vectors = np.load(path / VECTORS_FILE) if (path / VECTORS_FILE).is_file() else None
        if embedder == "auto":
            embedder = Embedder.load(payload.get("embedder")) if vectors is not None else None
        return cls(payload["records"], word, gram, vectors, embedder)
