"""Offensive language in Q&A text: a classifier proposes, a sentence encoder checks the context.

1. ``alt-profanity-check`` (a linear SVM over TF-IDF words, trained on real toxic comments; its model ships
   inside the package, so it works offline) scores each piece of a few sentences. It weighs words, not
   meanings: "the cock pheasant", "a bastard file" or "the penis and scrotum" in a medical answer score as
   high as insults (0.9+), so a score at or above ``threshold`` only makes a piece a candidate.
2. The bundled all-MiniLM-L6-v2 encoder (``training.retrieval.embedder``) compares each candidate with
   labelled
   reference sentences (``offensive_references.jsonl``: benign technical sentences that use such words,
   and insults); the candidate is offensive when it is closer to an insult than to any benign sentence.
   Without the encoder, stage 1 decides alone.

The threshold (0.5) and the context rule were chosen on the reference sentences only (leave-one-out);
``bench/offensive_filter.py`` measures them on a separate held-out set
(``tests/training/fixtures/offensive_set.jsonl``). Words in ``allowed`` are removed before scoring.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.data.facts import fold

# Chosen on the reference sentences (leave-one-out): every benign one kept and every insult caught at
# 0.3-0.5; 0.5 sends fewer pieces to the encoder. The classifier alone keeps at most 95% of the benign
# references at any cut from 0.5 to 0.95.
DEFAULT_THRESHOLD = 0.5
REFERENCES = Path(__file__).with_name("offensive_references.jsonl")
# Long texts are scored in pieces of a few sentences: a single insult in a long answer would otherwise be
# diluted by the rest (the classifier's TF-IDF vector is normalised over the whole text). A piece has at
# least MIN_PIECE_WORDS words, because a sentence alone can lack the context that makes it harmless
# ("2. Shoot." in a list of penalty steps scores 0.75 on its own).
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
MIN_PIECE_WORDS = 8
# Letters written as digits or symbols inside a word ("b1tch", "l0ser", "a$$"); standalone numbers stay.
_LEET_WORD_RE = re.compile(r"(?<![\w@$])(?=[\w@$]*[A-Za-z])(?=[\w@$]*[0-9@$])[\w@$]+")
_LEET = str.maketrans("013457@$", "oieastas")


# The classifier knows English only: "filho da puta" or "va te faire foutre" scores as harmless. Insults and
# swearing in the other languages members write in, each unambiguous (not "con", "bicha", "corno", "burro",
# "debile", "abruti" or "coño", which folds to "cono", a training cone; nor "arrombado", "broken into"), and
# their chat abbreviations. Matched whole-word with accents and case ignored, each word also with a plural
# ending, words apart by any spaces or a hyphen, a letter repeated for emphasis read once ("merdaaaa"); a
# match is offensive whatever the encoder says, which knows no more of those languages than the classifier.
_INSULTS = (
    # Portuguese
    "filho da puta|filha da puta|puta que pariu|vai se foder|vai se fuder|vai te foder|vai tomar no cu"
    "|foda se|fodase|caralho|babaca|otario|desgracado|cuzao|viado|vai a merda|merda|bosta|puta|puto"
    "|bastardo|fdp|vtnc|vsf|pqp"
    # Spanish
    "|hijo de puta|hija de puta|hijoputa|hijueputa|vete a la mierda|mierda|gilipollas|cabron|cabrona"
    "|pendejo|pendeja|pelotudo|pelotuda|imbecil|idiota|estupido|estupida|maricon|joder|chinga tu madre"
    "|concha de tu madre|malparido|soplapollas|lameculos|hdp|ptm"
    # French
    "|fils de pute|connard|connasse|encule|enfoire|va te faire foutre|ta gueule|salope|putain|merde"
    "|nique ta mere|cretin|ntm|ptn"
    # Italian
    "|vaffanculo|fanculo|stronzo|stronza|stronzi|cazzo|figlio di puttana|coglione|coglioni|puttana|minchia"
    # German
    "|arschloch|arschlocher|hurensohn|hurensohne|fick dich|scheiss|scheisse|scheissschiri|wichser|fotze"
    "|missgeburt"
)


def _pattern(phrase: str) -> str:
    return r"[\s-]+".join(re.escape(word) + "(?:e?s)?" for word in phrase.split())


_INSULT_RE = re.compile(rf"(?<!\w)(?:{'|'.join(_pattern(p) for p in _INSULTS.split('|'))})(?!\w)")
_EMPHASIS = re.compile(r"([a-z])\1{2,}")  # "merdaaaa": no word above has a letter 3 times in a row


def insults_in_another_language(text: str) -> bool:
    """Whether ``text`` holds one of ``_INSULTS`` (Portuguese, Spanish, French, Italian, German)."""
    return _INSULT_RE.search(_EMPHASIS.sub(r"\1", fold(text))) is not None


def _deleet(match: re.Match[str]) -> str:
    return match[0].translate(_LEET)


def prepare(text: str, allowed: frozenset[str] = frozenset()) -> str:
    """The text as scored: allowed words removed, letter substitutions inside words undone."""
    if allowed:
        text = _allowed_re(allowed).sub(" ", text)
    return _LEET_WORD_RE.sub(_deleet, text)


@functools.cache
def _allowed_re(allowed: frozenset[str]) -> re.Pattern[str]:
    words = "|".join(re.escape(w) for w in sorted(allowed, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)


def pieces(text: str) -> list[str]:
    """The pieces of ``text`` scored one by one: runs of its sentences (lines, split after . ! or ?) of at
    least MIN_PIECE_WORDS words each; a short text is one piece."""
    out: list[str] = []
    words = 0
    for sentence in _SENTENCE_RE.split(text):
        if not sentence.strip():
            continue
        if out and words < MIN_PIECE_WORDS:
            out[-1] += " " + sentence
        else:
            out.append(sentence)
            words = 0
        words += len(sentence.split())
    if len(out) > 1 and words < MIN_PIECE_WORDS:  # a short tail joins the piece before it
        tail = out.pop()
        out[-1] += " " + tail
    return out


@functools.cache
def _classifier() -> Any:
    # Importing profanity_check loads its model (~2 s): only when something is scored.
    from profanity_check import predict_prob

    return predict_prob


def load_classifier_soon() -> None:
    """Load the classifier in a daemon thread, so that the first text scored (a bot's first chat message)
    does not wait ~1.6 s for it on the thread that answers."""
    threading.Thread(target=_classifier, name="qabot-offensive-load", daemon=True).start()


def classifier_scores(texts: Sequence[str]) -> list[float]:
    """alt-profanity-check's probability that each text is offensive (stage 1 alone)."""
    return [float(p) for p in _classifier()(list(texts))] if texts else []


class _Context:
    """Stage 2: the encoder and the embedded reference sentences."""

    def __init__(self, embedder: Any, references: list[dict[str, str]]) -> None:
        import numpy as np

        self.embedder = embedder
        vectors = embedder.encode([r["text"] for r in references])
        insult = np.array([r["label"] == "insult" for r in references])
        self.insults, self.benign = vectors[insult], vectors[~insult]

    def margins(self, texts: Sequence[str]) -> list[float]:
        """Similarity to the nearest insult minus similarity to the nearest benign sentence."""
        vectors = self.embedder.encode(list(texts))
        near_insult = (vectors @ self.insults.T).max(axis=1)
        near_benign = (vectors @ self.benign.T).max(axis=1)
        return [float(m) for m in near_insult - near_benign]


@functools.cache
def _context() -> _Context | None:
    from training.retrieval.embedder import BUNDLED, Embedder, bundled_path

    path = bundled_path()
    if path is None:
        return None
    references = [json.loads(line) for line in REFERENCES.read_text(encoding="utf-8").splitlines() if line]
    return _Context(Embedder(BUNDLED, path), references)


def context_available() -> bool:
    """Whether stage 2 runs (the bundled sentence encoder is installed)."""
    return _context() is not None


def offensive_scores(
    texts: Sequence[str],
    allowed: frozenset[str] = frozenset(),
    threshold: float = DEFAULT_THRESHOLD,
    context: bool = True,
) -> list[float | None]:
    """For each text, the classifier score of its most offensive sentence when the filter calls it
    offensive (1.0 for an insult in another language: ``_INSULTS``), else None. ``context=False`` skips
    stage 2 (the classifier alone decides)."""
    owners: list[int] = []
    scored: list[str] = []
    prepared = [prepare(text, allowed) for text in texts]
    for owner, text in enumerate(prepared):
        for piece in pieces(text):
            owners.append(owner)
            scored.append(piece)
    scores = classifier_scores(scored)
    candidates = [i for i, score in enumerate(scores) if score >= threshold]
    checker = _context() if context and candidates else None
    if checker is not None:
        margins = checker.margins([scored[i] for i in candidates])
        candidates = [i for i, margin in zip(candidates, margins, strict=True) if margin >= 0.0]
    result: list[float | None] = [None] * len(texts)
    for i in candidates:
        best = result[owners[i]]
        result[owners[i]] = scores[i] if best is None else max(best, scores[i])
    for i in set(owners):
        if result[i] is None and insults_in_another_language(prepared[i]):
            result[i] = 1.0
    return result


def is_offensive(
    *texts: str, allowed: frozenset[str] = frozenset(), threshold: float = DEFAULT_THRESHOLD
) -> bool:
    """Whether any of ``texts`` is offensive (see the module docstring)."""
    return any(score is not None for score in offensive_scores(texts, allowed, threshold))
