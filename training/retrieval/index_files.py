"""How a retrieval index's parts are written into a checkpoint folder (``retrieval/``) and read back.

The folder holds the records (with the format, the encoder's name, the blend and the terms' version), the
BM25 views (bm25s folders), the word alterations, and the vectors with a tuned encoder's adapter. Reading
checks that every part describes the same questions: a file replaced by hand or copied from another run
is refused with a clear error, not an IndexError on the first question. ``RetrievalIndex.save`` and
``load`` (``training.retrieval.index``) assemble the parts.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from training.checkpoint import number_in
from training.retrieval.alterations import Alterations
from training.retrieval.embedder import Embedder
from training.retrieval.lexical import TERMS_VERSION, BM25View
from training.retrieval.vectors import Vectors

INDEX_DIR = "retrieval"
RECORDS_FILE = "records.json"
VECTORS_FILE = "vectors.npy"
PAIR_VECTORS_FILE = "pair_vectors.npy"
# The BM25 views' folders; the pair words view (questions with their answers) is absent from an index
# saved before it existed, and then rebuilt from the records. A missing required one is damage.
VIEW_DIRS = {"word": "words", "gram": "grams", "pair_words": "pair_words"}
REQUIRED_VIEWS = ("word", "gram")
FORMATS = (1, 2)  # 2 added the pair vectors and the blend weights; a format-1 index keeps its old blend
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Saved:
    """What an index folder holds: its payload (format, encoder name, blend, terms' version), records,
    the BM25 views saved with the current terms (None: rebuild it from the records), and vectors."""

    payload: dict[str, Any]
    records: list[dict[str, Any]]
    views: dict[str, BM25View | None]
    vectors: Vectors | None
    alterations: Alterations
    path: Path


def write(
    folder: str | Path,
    payload: dict[str, Any],
    views: dict[str, BM25View],
    alterations: Alterations,
    vectors: Vectors | None,
    embedder: Embedder | None,
) -> Path:
    """Write an index's parts into ``folder/retrieval/`` (replacing what was there)."""
    if any(view.bm25 is None for view in views.values()):
        raise ValueError("an index built like another one (live pairs) is not saved")
    out = Path(folder) / INDEX_DIR
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    payload = {"format": FORMAT_VERSION, **payload, "terms": TERMS_VERSION}
    (out / RECORDS_FILE).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    for name, view in views.items():
        view.bm25.save(str(out / VIEW_DIRS[name]), show_progress=False)  # type: ignore[union-attr]
    if alterations:
        alterations.save(out)
    if vectors is not None:
        np.save(out / VECTORS_FILE, vectors.questions)
        if vectors.pairs is not None:
            np.save(out / PAIR_VECTORS_FILE, vectors.pairs)
        if embedder is not None:  # a tuned encoder's adapter travels with its vectors
            embedder.save(out)
    return out


def read(folder: str | Path) -> Saved | None:
    """The parts saved in checkpoint ``folder``, checked, or None when it has no index."""
    path = Path(folder) / INDEX_DIR
    if not (path / RECORDS_FILE).is_file():
        return None
    payload = json.loads((path / RECORDS_FILE).read_text(encoding="utf-8"))
    if payload.get("format") not in FORMATS:
        raise ValueError(f"{path}: retrieval index format {payload.get('format')!r} is not supported")
    records = payload.pop("records")
    _check_blend(payload.get("blend"))
    current = payload.get("terms", 1) == TERMS_VERSION  # else queries' terms would not meet its own
    views: dict[str, BM25View | None] = {
        name: BM25View(bm25s.BM25.load(str(path / folder_name)))
        if current and (name in REQUIRED_VIEWS or (path / folder_name).is_dir())
        else None
        for name, folder_name in VIEW_DIRS.items()
    }
    vectors = None
    if (path / VECTORS_FILE).is_file():
        pairs = path / PAIR_VECTORS_FILE
        vectors = Vectors(np.load(path / VECTORS_FILE), np.load(pairs) if pairs.is_file() else None)
    if payload.get("embedder") and vectors is None:  # served by words alone on zones cut for meaning too
        raise ValueError(
            f"{RECORDS_FILE} names the encoder {payload['embedder']} but {VECTORS_FILE} is missing"
        )
    _check_rows(records, views, vectors)
    # An index saved before alterations were learned has none: its queries are searched as typed.
    return Saved(payload, records, views, vectors, Alterations.load(path), path)


BLEND_KEYS = ("question", "pair", "lexical")


def _check_blend(blend: Any) -> None:
    """A ValueError unless the saved blend (absent in a format-1 index) weighs every view with a number
    from 0 to 1 and some view above 0: anything else would load and then fail, or score nothing, at the
    first question."""
    if blend is None:
        return
    ok = isinstance(blend, dict) and set(blend) == set(BLEND_KEYS)
    ok = ok and all(number_in(w, 0.0, 1.0) for w in blend.values())
    if not ok or not any(blend.values()):
        raise ValueError(
            f"{RECORDS_FILE}: the blend must weigh {sorted(BLEND_KEYS)} from 0 to 1, not {blend!r}"
        )


def _check_rows(records: Any, views: dict[str, BM25View | None], vectors: Vectors | None) -> None:
    """A ValueError unless every part of a saved index describes the same questions: a records.json, a
    BM25 view or a vectors file that disagrees with the others in rows (a file replaced by hand, or copied
    from another run) would load and then fail every question with an IndexError."""
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("question"), str) and isinstance(r.get("answer"), str)
        for r in records
    ):
        raise ValueError(f"{RECORDS_FILE} does not hold a list of question/answer records")
    rows = {
        f"the BM25 view {VIEW_DIRS[name]}/": len(view) for name, view in views.items() if view is not None
    }
    for name, view in views.items():
        if view is not None and not np.isfinite(view.rows.data).all():
            raise ValueError(f"the BM25 view {VIEW_DIRS[name]}/ holds NaN or infinite weights")
    if vectors is not None:
        for name, matrix in ((VECTORS_FILE, vectors.questions), (PAIR_VECTORS_FILE, vectors.pairs)):
            if matrix is None:
                continue
            if matrix.ndim != 2 or matrix.shape[1] != vectors.questions.shape[-1]:
                raise ValueError(f"{name} is not a matrix of {VECTORS_FILE}'s width (shape {matrix.shape})")
            if not np.isfinite(matrix.sum()):  # unit vectors: a sum cannot overflow; NaN and inf show
                raise ValueError(f"{name} holds NaN or infinite values")
            rows[name] = matrix.shape[0]
    for name, n in rows.items():
        if n != len(records):
            raise ValueError(f"{RECORDS_FILE} holds {len(records)} questions but {name} {n}")
