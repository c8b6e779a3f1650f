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
(``retrieval/``); the bot keeps what admins taught since in a second, small index that it rebuilds,
weighed with the checkpoint index's term statistics (``RetrievalIndex.build(..., like=...)``) so that its
scores mean what the checkpoint's do.
"""

from __future__ import annotations

import json
import logging
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
from scipy import sparse

from training.embedder import Embedder

INDEX_DIR = "retrieval"
HELD_OUT = "held_out"
RECORDS_FILE = "records.json"
VECTORS_FILE = "vectors.npy"
FORMAT_VERSION = 1
WORD_WEIGHT = 0.7  # the word view decides; the character view rescues typos and inflections
CANDIDATES = 64  # questions scored exactly per query (per stage-1 view)
# Above this many known questions, meaning only re-ranks the word candidates: a full scan of 384-d
# vectors costs ~1 ms per 10k questions on one core.
DENSE_SCAN_MAX = 20_000
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


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest positive scores (unordered)."""
    idx = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    return idx[scores[idx] > 0]


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
    """One BM25 index over per-question term lists, with what normalisation needs.

    bm25s keeps the weights column by column (term -> questions), which is what scoring every question
    for a query needs; a row-major copy (question -> terms) scores a few candidate questions exactly.

    A view built ``like`` another (``_View.build(terms, like=base)``) weighs its few questions with the
    term statistics of both corpora together: document frequencies, document count and average length.
    Its self-normalised scores and coverage are then on the scale of the bigger view's (which the zones
    were calibrated on), where a view of its own over twenty questions would give every word nearly the
    same idf. It has no bm25s object (it is scored from its rows and never saved)."""

    def __init__(self, bm25: bm25s.BM25 | None, **built: Any) -> None:
        self.bm25 = bm25
        if bm25 is None:  # built like another view: see _like
            self.vocab: dict[str, int] = built["vocab"]
            self.extra: dict[str, int] = built["extra"]
            self.rows = built["rows"]
            self.idf = built["idf"]
            self.df = built["df"]
            self.total_length = int(self.rows.nnz)
            self.unknown_idf = math.log(1 + (built["n_all"] + 0.5) / 0.5)
        else:
            self.vocab = bm25.vocab_dict
            self.extra = {}
            n = int(bm25.scores["num_docs"])
            indptr, indices, data = (bm25.scores[k] for k in ("indptr", "indices", "data"))
            n_terms = len(indptr) - 1  # bm25s adds an empty-string term with no column: never looked up
            self.rows = sparse.csc_matrix((data, indices, indptr), shape=(n, n_terms)).tocsr()
            self.df = np.diff(indptr)
            self.total_length = int(len(data))  # terms are distinct per question: one entry per word
            # Lucene's idf (bm25s' default), and for terms the corpus never saw the idf of df = 0.
            self.idf = np.log(1 + (n - self.df + 0.5) / (self.df + 0.5)).astype(np.float32)
            self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        # A question's self-score is the sum of its own terms' BM25 weights.
        self.self_scores = np.asarray(self.rows.sum(axis=1)).ravel().astype(np.float32)
        self.self_scores[self.self_scores <= 0] = np.inf  # placeholder-only questions never match

    @classmethod
    def build(cls, terms: Sequence[list[str]], like: _View | None = None) -> _View:
        if like is not None:
            return cls._like(terms, like)
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG
        bm25 = bm25s.BM25()
        bm25.index([t or [_PLACEHOLDER] for t in terms], show_progress=False)
        return cls(bm25)

    @classmethod
    def _like(cls, terms: Sequence[list[str]], base: _View) -> _View:
        """BM25 weights (bm25s' Lucene variant, k1 = 1.5, b = 0.75) for ``terms``' questions, with
        ``base``'s corpus and these questions counted together for idf and the average length."""
        n_base_terms = len(base.idf)
        extra: dict[str, int] = {}
        docs = []
        for doc in terms:
            ids = []
            for t in dict.fromkeys(doc or [_PLACEHOLDER]):
                i = base.vocab.get(t)
                if i is None or i >= n_base_terms:
                    i = extra.setdefault(t, n_base_terms + len(extra))
                ids.append(i)
            docs.append(ids)
        n_vocab = n_base_terms + len(extra)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        flat = np.fromiter((i for d in docs for i in d), dtype=np.int64, count=int(lengths.sum()))
        df = np.zeros(n_vocab, dtype=np.int64)
        df[:n_base_terms] = base.df
        np.add.at(df, flat, 1)
        n_all = len(base) + len(docs)
        avg_length = (base.total_length + lengths.sum()) / n_all
        idf = np.log(1 + (n_all - df + 0.5) / (df + 0.5)).astype(np.float32)
        k1, b = 1.5, 0.75
        tf_part = 1.0 / (1.0 + k1 * (1 - b + b * lengths / avg_length))  # tf = 1: terms are distinct
        data = idf[flat] * np.repeat(tf_part, lengths.astype(np.int64))
        indptr = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))])
        rows = sparse.csr_matrix((data.astype(np.float32), flat, indptr), shape=(len(docs), n_vocab))
        return cls(None, vocab=base.vocab, extra=extra, rows=rows, idf=idf, df=df, n_all=n_all)

    def __len__(self) -> int:
        return len(self.self_scores)

    def ids(self, terms: list[str]) -> np.ndarray:
        n_base = len(self.idf) - len(self.extra)
        ids = []
        for t in terms:
            i = self.vocab.get(t)
            if i is None or i >= n_base:
                i = self.extra.get(t)
            if i is not None:
                ids.append(i)
        return np.array(ids, dtype=np.int64)

    def weight_total(self, terms: list[str], ids: np.ndarray) -> float:
        """The query's idf mass; terms the corpus never saw count with the highest idf."""
        return float(self.idf[ids].sum()) + (len(terms) - len(ids)) * self.unknown_idf

    def normalised(self, ids: np.ndarray) -> np.ndarray:
        """Every question's BM25 score for the query terms ``ids``, divided by its self-score."""
        if not len(ids):
            return np.zeros(len(self), dtype=np.float32)
        if self.bm25 is None:  # a few questions: sum their rows' weights for these terms
            raw = np.asarray(self.rows[:, ids].sum(axis=1)).ravel()
        else:
            raw = self.bm25.get_scores_from_ids(ids.tolist())
        return raw / self.self_scores

    def exact(self, rows: np.ndarray, ids: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
        """For the questions ``rows`` only: (normalised score, coverage: the share of the query's idf
        mass ``total`` that the question contains)."""
        if not len(ids) or not total:
            zeros = np.zeros(len(rows), dtype=np.float32)
            return zeros, zeros
        # Gather the candidates' (term, weight) entries straight from the CSR arrays: a handful of small
        # numpy calls, where scipy's fancy indexing costs ~1 ms per call in overhead.
        indptr = self.rows.indptr
        starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
        owner = np.repeat(np.arange(len(rows)), lengths)
        positions = np.arange(lengths.sum()) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        terms = self.rows.indices[positions]
        hit = np.isin(terms, ids)
        owner, terms = owner[hit], terms[hit]
        raw = np.bincount(owner, weights=self.rows.data[positions][hit], minlength=len(rows))
        covered = np.bincount(owner, weights=self.idf[terms], minlength=len(rows))
        return raw / self.self_scores[rows], covered / total


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
    # "trained" (the model learned it), HELD_OUT (in the dataset but kept out of training for evaluation),
    # "taught" or "correction" (added in the store since training)
    origin: str = "trained"


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
        # Dense scores need both the stored vectors and the encoder that made them.
        self.vectors = vectors if embedder is not None else None
        self.embedder = embedder if vectors is not None else None

    @classmethod
    def build(
        cls,
        records: Sequence[dict[str, Any]],
        embedder: Embedder | None = None,
        vectors: np.ndarray | None = None,
        like: RetrievalIndex | None = None,
    ) -> RetrievalIndex:
        """Index ``records`` (``{"question", "answer"}``, optionally ``"origin"``) by question.
        ``vectors``: the questions already encoded by ``embedder`` (encoding is the costly part).
        ``like``: weigh the words with ``like``'s term statistics and these records' together, so that
        scores and coverage are on ``like``'s scale (the bot's few taught pairs, scored as if they were
        in the checkpoint's index; such an index is not saved)."""
        kept = [
            {"question": r["question"], "answer": r["answer"], "origin": r.get("origin", "trained")}
            for r in records
        ]
        if not kept:
            raise ValueError("a retrieval index needs at least one record")
        questions = [r["question"] for r in kept]
        word = _View.build([word_terms(q) for q in questions], like._word if like is not None else None)
        gram = _View.build([gram_terms(q) for q in questions], like._gram if like is not None else None)
        if embedder is not None and vectors is None:
            vectors = embedder.encode(questions)
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
        w_ids, g_ids = self._word.ids(terms), self._gram.ids(grams)
        # Stage 1, every question, cheap: word BM25 (and meaning, when the encoder scan is affordable).
        word = self._word.normalised(w_ids)
        dense = None
        if self.vectors is not None and len(self) <= DENSE_SCAN_MAX:
            if query_vector is None:
                query_vector = self.encode([query])[0]
            dense = self.vectors @ query_vector
        pools = [word] if len(w_ids) else [self._gram.normalised(g_ids)]  # typos only: grams find them
        if dense is not None:
            pools.append(dense)
        rows = np.unique(np.concatenate([_top(pool, CANDIDATES) for pool in pools]))
        if exclude is not None:
            rows = rows[rows != exclude]
        # Stage 2, the candidates only: symmetric word and 3-gram scores, and meaning.
        w_total = self._word.weight_total(terms, w_ids)
        w_norm, w_cov = self._word.exact(rows, w_ids, w_total)
        g_norm, g_cov = self._gram.exact(rows, g_ids, self._gram.weight_total(grams, g_ids))
        # How much of the known question was typed, and how much of what was typed it explains.
        lexical = WORD_WEIGHT * (w_norm + w_cov) / 2 + (1 - WORD_WEIGHT) * (g_norm + g_cov) / 2
        meaning = None
        if self.vectors is not None:
            if dense is None:
                if query_vector is None:
                    query_vector = self.encode([query])[0]
                meaning = np.clip(self.vectors[rows] @ query_vector, 0.0, 1.0)
            else:
                meaning = np.clip(dense[rows], 0.0, 1.0)
            score = DENSE_WEIGHT * meaning + (1 - DENSE_WEIGHT) * lexical
        else:
            score = lexical
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
                )
            )
        return out

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 3,
        exclude: Sequence[int | None] | None = None,
        vectors: np.ndarray | None = None,
    ) -> list[list[Match]]:
        """``search`` for each query, encoding them as one batch (or using ``vectors``, already encoded
        by this index's encoder)."""
        if vectors is None and queries:
            vectors = self.encode(queries)
        return [
            self.search(q, k, None if vectors is None else vectors[i], exclude[i] if exclude else None)
            for i, q in enumerate(queries)
        ]

    # -- persistence ------------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the index into ``folder/retrieval/`` (records, both BM25 views, embeddings if any)."""
        if self._word.bm25 is None or self._gram.bm25 is None:
            raise ValueError("an index built like another one (live pairs) is not saved")
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
