"""Incremental decoders: one prefill, then one token per step, with a KV cache and row dropping.

``GPT2Decoder`` is a lean forward pass for GPT-2-architecture models (the ones qabot trains): a
preallocated (static) KV cache written in place, one fused ``scaled_dot_product_attention`` per layer, a
boolean padding mask built once, and logits for the last position only. At batch 1 on a small CPU the
int8 matrix products take only a few milliseconds per token, so the Python and tensor bookkeeping of a
general-purpose forward (mask construction, cache concatenation, output objects) is a large share of a
step; this path removes most of it. ``HFDecoder`` runs any other causal LM through its own forward.
Both expose ``start(ids, mask) -> logits``, ``step(next_ids) -> logits`` and ``select(rows)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """Left padding shifts tokens right; positions count real tokens so a padded row sees what it
    would see alone (and gives the same answer)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


class HFDecoder:
    """Any ``transformers`` causal LM, through its forward with a ``DynamicCache``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache = None

    def start(self, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        self.mask = mask
        self.pos = positions_from_mask(mask)
        return self._forward(ids, self.pos)

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        self.pos = self.pos[:, -1:] + 1
        return self._forward(next_ids[:, None], self.pos)

    def select(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)
        self.mask, self.pos = self.mask[rows], self.pos[rows]

    def _forward(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        out = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=pos,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.cache = out.cache
        return out.logits[:, -1, :]


def supports_fast_path(model: Any) -> bool:
    """GPT-2 with the standard attention options (the ones ``GPT2Decoder`` implements)."""
    cfg = model.config
    return (
        getattr(cfg, "model_type", None) == "gpt2"
        and hasattr(model, "transformer")
        and getattr(cfg, "scale_attn_weights", True)
        and not getattr(cfg, "scale_attn_by_inverse_layer_idx", False)
        and not getattr(cfg, "add_cross_attention", False)
    )


class GPT2Decoder:
    """GPT-2 blocks run directly on their (possibly int8-quantized) submodules with a static KV cache."""

    def __init__(self, model: Any) -> None:
        cfg = model.config
        self.tr, self.lm_head = model.transformer, model.lm_head
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        self.eps = cfg.layer_norm_epsilon
        act = getattr(cfg, "activation_function", "gelu_new")
        # gelu_new is GPT-2's tanh approximation; F.gelu computes it as one fused op.
        self.act = (
            (lambda x: F.gelu(x, approximate="tanh")) if act in ("gelu_new", "gelu_pytorch_tanh") else None
        )
        self.act_module = None if self.act else self.tr.h[0].mlp.act

    def start(self, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        b, t = ids.shape
        total = t + max_new_tokens
        dtype = self.tr.wte.weight.dtype
        shape = (b, self.n_head, total, self.head_dim)
        self.k = [ids.new_zeros(shape, dtype=dtype) for _ in self.tr.h]
        self.v = [ids.new_zeros(shape, dtype=dtype) for _ in self.tr.h]
        self.valid = torch.zeros((b, total), dtype=torch.bool, device=ids.device)
        self.valid[:, :t] = mask.bool()
        self.t = t
        self.pos = positions_from_mask(mask)
        self.padded = not bool(mask.all())  # without padding, decoding steps need no mask at all
        # Prefill mask, explicit (with is_causal=True the logits drifted from the model's own forward
        # here): causal and not padding; every query may also see itself, so the (unused) rows of
        # padding positions never attend to nothing (which would give NaN).
        causal = torch.ones((t, t), dtype=torch.bool, device=ids.device).tril()
        attn = causal[None] & self.valid[:, None, :t]
        attn |= torch.eye(t, dtype=torch.bool, device=ids.device)[None]
        return self._forward(ids, self.pos, 0, attn[:, None])

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        self.valid[:, self.t] = True
        self.pos = self.pos[:, -1:] + 1
        start, self.t = self.t, self.t + 1
        mask = self.valid[:, None, None, : self.t] if self.padded else None
        return self._forward(next_ids[:, None], self.pos, start, mask)

    def select(self, rows: torch.Tensor) -> None:
        self.k = [k[rows] for k in self.k]
        self.v = [v[rows] for v in self.v]
        self.valid, self.pos = self.valid[rows], self.pos[rows]

    def _forward(
        self, ids: torch.Tensor, pos: torch.Tensor, start: int, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        b, t = ids.shape
        end = start + t
        h = self.tr.wte(ids) + self.tr.wpe(pos)
        for i, block in enumerate(self.tr.h):
            x = block.ln_1(h)
            q, k, v = block.attn.c_attn(x).split(self.n_head * self.head_dim, dim=2)
            q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
            self.k[i][:, :, start:end] = k.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
            self.v[i][:, :, start:end] = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
            a = F.scaled_dot_product_attention(
                q, self.k[i][:, :, :end], self.v[i][:, :, :end], attn_mask=attn_mask
            )
            h = h + block.attn.c_proj(a.transpose(1, 2).reshape(b, t, -1))
            x = block.mlp.c_fc(block.ln_2(h))
            x = self.act(x) if self.act else self.act_module(x)
            h = h + block.mlp.c_proj(x)
        return self.lm_head(self.tr.ln_f(h[:, -1:, :]))[:, -1, :]
