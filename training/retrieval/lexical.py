"""The lexical side of retrieval: what a question's terms are, and BM25 over them.

- ``word_terms``: lower-cased, accents folded, English stopwords removed, Snowball-stemmed (PyStemmer)
  content words;
- ``gram_terms``: character 3-grams of those words, so a typo still shares most of its grams;
- ``BM25View``: one BM25 index (``bm25s``) over per-question term lists, with the self-scores and idf
  that ``training.retrieval.index`` normalises and blends with.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import bm25s
import numpy as np
import Stemmer
from scipy import sparse

NGRAM = 3
_WORD = re.compile(r"\w+", re.UNICODE)
# Lucene's English stopword list (bm25s' default): articles, auxiliaries and prepositions only. Question
# words stay: "who won" and "when was it won" want different answers, and idf keeps their weight low.
STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
# What a question asks for, not what it is about ("what is offside" is about offside).
QUESTION_WORDS = frozenset(
    {"what", "whats", "when", "who", "whos", "whose", "whom", "which", "how", "where", "why"}
)
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


# What ``word_terms`` and ``gram_terms`` make of a text; an index saved with an older version has its
# term views rebuilt from its records on load (``training.retrieval.index``). 2: accents folded.
TERMS_VERSION = 2


# What a number counts or measures rather than dates ("in 90 minutes", "the 18 yard box", "the 23 man squad",
# "in 18 months", "60 per cent", "in 34 appearances", "the 11 a side game"): a regex of the word after it.
MEASURES = (
    r"(?:min|minute|hour|hr|day|week|month|year|yr|season|game|match|matche|round|goal|point|pt|team|man|men|"
    r"side|player|appearance|app|cap|kilo|pound|lb|lap|second|sec|yard|yd|metre|meter|m|mile|foot|feet|inch|"
    r"inche|km|kg|mph|degree|percent|per|time|law|place|st|nd|rd|th|a\s+side)s?"
)
_TOURNAMENTS = r"(?:final|finals|world|wc|cup|euro|euros|tournament|olympics|copa|season)"
# A year typed short, as people do in chat: two digits after an apostrophe ("Italia '90", "the '66 team"),
# "in" ("how did england win it in 66") with no measure after (two words may come between: "in 38 league
# games", "in 26 world cup matches"), or "the" before a tournament ("the 74 final", not "the 24 euro
# teams"); not a score, a range or a large number ("66-0", "23-man", "45+2", "60 000").
_SHORT_YEAR = re.compile(
    r"(?<=['’])(\d\d)(?![\w'’])"
    rf"|(?<=\bin )(\d\d)(?![\w'’%]|[-/–:.,+]\s?\d|[-–]\w|\s\d|\s+(?:\w+\s+){{0,2}}{MEASURES}\b)"
    rf"|(?<=\bthe )(\d\d)(?=\s+{_TOURNAMENTS}\b(?!\s+{MEASURES}\b))",
    re.I,
)
# A year the dataset writes short ("Italia '90", "Mexico '86"): people's "in 90" is searched as written.
WRITTEN_SHORT = re.compile(r"['’](\d\d)(?![\w'’])")
# A year typed in full, not a count ("1990 goals") and not already followed by its short form.
_FULL_YEAR = re.compile(rf"(?<![\w'’])(?:18|19|20)(\d\d)(?![\w'’]|[-/–]\d|\s+['’]\d\d|\s+{MEASURES}\b)", re.I)
_CENTURIES = ("18", "19", "20")


def dataset_years(
    text: str,
    written_short: Callable[[str], bool],
    in_full: Callable[[str], bool],
    asked_in_full: Callable[[str], bool],
) -> str:
    """``text`` with its years as the dataset writes them. A year typed short is written in full where the
    dataset has it in full, in one century only: "how did england win it in 66" searched "66", which
    shares no term with "1966". A year typed in full that no question has in full, but one writes short,
    gets its short form beside it ("who won the 1990 world cup" for "Italia '90": an answer may still say
    1990), when the dataset's years ending so are in that one century ("1886" is no "'86" where the
    dataset has both 1886 and 1986). ``in_full``: whether the dataset has a term (in a question or an
    answer: "who won the ucl in 05" for the Miracle of Istanbul's 2005); ``asked_in_full``: whether a
    question has it; ``written_short``: whether the dataset writes a year short (``WRITTEN_SHORT``)."""

    def full(m: re.Match[str]) -> str:
        short = m[1] or m[2] or m[3]
        if written_short(short):
            return short
        options = [century + short for century in _CENTURIES if in_full(century + short)]
        return options[0] if len(options) == 1 else short

    def with_short(m: re.Match[str]) -> str:
        year, short = m[0], m[1]
        if not written_short(short) or asked_in_full(year):
            return year
        centuries = [century + short for century in _CENTURIES if in_full(century + short)]
        return f"{year} '{short}" if centuries == [year] else year

    return _FULL_YEAR.sub(with_short, _SHORT_YEAR.sub(full, text))


def _fold(text: str) -> str:
    """Lower case without accents: people type "Aguero" and "superclasico" for "Agüero", "Superclásico"."""
    if text.isascii():  # nothing to fold (most text): ten times faster
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def content_words(text: str) -> list[str]:
    """``text``'s words as the views see them: folded, stopwords and single letters left out."""
    # Apostrophes are folded ("what's" -> "whats", "d'Or" -> "dor") rather than split off.
    words = _WORD.findall(_fold(text).replace("'", "").replace("\u2019", ""))
    return [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def stem(word: str) -> str:
    """A folded word's Snowball stem (what ``word_terms`` keeps of it)."""
    return _stem(word)


def word_terms(text: str) -> list[str]:
    """The distinct stemmed content words of ``text``, in order."""
    return stem_terms(content_words(text))


_QUESTION_STEMS = frozenset(stem(w) for w in QUESTION_WORDS)


def content_terms(terms: Sequence[str]) -> list[str]:
    """``terms`` (``word_terms``'s) without the question words."""
    return [t for t in terms if t not in _QUESTION_STEMS]


def stem_terms(words: Sequence[str]) -> list[str]:
    """The distinct stems of ``content_words``' ``words``, in order."""
    return list(dict.fromkeys(_stem(w) for w in words))


def gram_terms(text: str) -> list[str]:
    """The distinct character 3-grams of ``text``'s content words, word edges marked (``#pen``)."""
    return word_grams(content_words(text))


def word_grams(words: Sequence[str]) -> list[str]:
    """The distinct character 3-grams of ``content_words``' ``words``, word edges marked."""
    grams: dict[str, None] = {}
    for word in words:
        padded = f"#{word}#"
        for i in range(max(1, len(padded) - NGRAM + 1)):
            grams[padded[i : i + NGRAM]] = None
    return list(grams)


class BM25View:
    """One BM25 index over per-question term lists, with what normalisation needs.

    bm25s keeps the weights column by column (term -> questions), which is what scoring every question
    for a query needs; a row-major copy (question -> terms) scores a few candidate questions exactly.

    A view built ``like`` another (``BM25View.build(terms, like=base)``) weighs its few questions with the
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
    def build(cls, terms: Sequence[list[str]], like: BM25View | None = None) -> BM25View:
        if like is not None:
            return cls._like(terms, like)
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG
        bm25 = bm25s.BM25()
        bm25.index([t or [_PLACEHOLDER] for t in terms], show_progress=False)
        return cls(bm25)

    @classmethod
    def _like(cls, terms: Sequence[list[str]], base: BM25View) -> BM25View:
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
        owner, terms, weights = self._entries(rows, ids)
        raw = np.bincount(owner, weights=weights, minlength=len(rows))
        covered = np.bincount(owner, weights=self.idf[terms], minlength=len(rows))
        return raw / self.self_scores[rows], covered / total

    def raw(self, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """For the questions ``rows`` only: their plain BM25 scores for the query terms ``ids``."""
        if not len(ids):
            return np.zeros(len(rows), dtype=np.float32)
        owner, _, weights = self._entries(rows, ids)
        return np.bincount(owner, weights=weights, minlength=len(rows))

    def _entries(self, rows: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The questions ``rows``' entries for the terms ``ids``: (position in ``rows``, term, weight)."""
        # Gathered straight from the CSR arrays: a handful of small numpy calls, where scipy's fancy
        # indexing costs ~1 ms per call in overhead.
        indptr = self.rows.indptr
        starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
        owner = np.repeat(np.arange(len(rows)), lengths)
        positions = np.arange(lengths.sum()) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        terms = self.rows.indices[positions]
        hit = np.isin(terms, ids)
        return owner[hit], terms[hit], self.rows.data[positions][hit]

    def exact_slots(
        self, rows: np.ndarray, slots: Sequence[Sequence[Sequence[str]]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``exact`` for a query whose words may have alternatives (``training.retrieval.alterations``):
        per part of the query (a slot), its alternatives as term lists, the one typed first. A question
        scores, per slot, its best alternative (the most weight in it), so a word with three alternatives
        adds no more than one of them typed would; a term counts in the first slot that has it only, so
        the normalised score stays at most 1 (every known word typed). Coverage: the share of the chosen
        alternatives' idf mass (the typed one's, where none matched) that the question contains."""
        raw, covered, total = self._slot_scores(rows, slots)
        coverage = np.divide(covered, total, out=np.zeros(len(rows)), where=total > 0)
        return raw / self.self_scores[rows], coverage

    def raw_slots(self, rows: np.ndarray, slots: Sequence[Sequence[Sequence[str]]]) -> np.ndarray:
        """``raw`` for a query whose words may have alternatives: each slot's best alternative counts."""
        return self._slot_scores(rows, slots)[0]

    def _slot_scores(
        self, rows: np.ndarray, slots: Sequence[Sequence[Sequence[str]]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per question of ``rows``: (plain BM25 score, idf mass covered, idf mass asked) over ``slots``."""
        claimed: set[str] = set()
        options: list[list[tuple[np.ndarray, float]]] = []  # per slot: (term ids, idf mass) per alternative
        for slot in slots:
            mine: set[str] = set()
            choices = []
            for alternative in slot:
                kept = [t for t in dict.fromkeys(alternative) if t not in claimed]
                mine.update(kept)
                ids = self.ids(kept)
                choices.append((ids, self.weight_total(kept, ids)))
            claimed |= mine
            options.append(choices)
        n = len(rows)
        every = [ids for choices in options for ids, _ in choices]
        union = np.unique(np.concatenate(every)) if every else np.zeros(0, dtype=np.int64)
        weights = np.zeros((n, len(union)), dtype=np.float64)
        if n and len(union):
            owner, terms, data = self._entries(rows, union)
            weights[owner, np.searchsorted(union, terms)] = data
        raw, covered, total = np.zeros(n), np.zeros(n), np.zeros(n)
        for choices in options:
            best_raw, best_covered, best_mass = np.zeros(n), np.zeros(n), np.full(n, choices[0][1])
            for ids, mass in choices:
                w = weights[:, np.searchsorted(union, ids)]
                r = w.sum(axis=1)
                better = r > best_raw
                best_raw = np.where(better, r, best_raw)
                best_covered = np.where(better, (w > 0) @ self.idf[ids].astype(np.float64), best_covered)
                best_mass = np.where(better, mass, best_mass)
            raw, covered, total = raw + best_raw, covered + best_covered, total + best_mass
        return raw, covered, total
