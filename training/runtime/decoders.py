"""Incremental decoders: one prefill, then one token per step, with a KV cache and row dropping.

``GPT2Decoder`` is a lean forward pass for GPT-2-architecture models (the ones qabot trains): a
preallocated (static) KV cache written in place, one fused ``scaled_dot_product_attention`` per layer, a
boolean padding mask built once, and logits for the last position only. At batch 1 on a small CPU the
int8 matrix products take only a few milliseconds per token, so the Python and tensor bookkeeping of a
general-purpose forward (mask construction, cache concatenation, output objects) is a large share of a
step; this path removes most of it. ``HFDecoder`` runs any other causal LM through its own forward.
Both expose ``step(next_ids, join) -> logits`` (one token for every live row, and the prompts of rows
that join: a new batch is a step with no live rows) and ``evict(rows) -> order``; only ``GPT2Decoder``
lets rows join a batch that is still decoding (continuous batching, ``training.runtime.batching``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.runtime.quantize import fp32_linear


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """Left padding shifts tokens right; positions count real tokens so a padded row sees what it
    would see alone (and gives the same answer)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


class HFDecoder:
    """Any ``transformers`` causal LM, through its forward with a ``DynamicCache``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache = None

    can_join = False  # a general cache has no room for rows that start later: one batch at a time
    drafts = False  # nor a way to take back tokens a row did not say

    def _start(self, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        self.mask = mask
        self.pos = positions_from_mask(mask)
        return self._forward(ids, self.pos)

    def step(
        self, next_ids: torch.Tensor | None, join: tuple | None = None, *, slots: int = 0
    ) -> torch.Tensor:
        if join is not None:  # only into an empty batch (can_join is False)
            if next_ids is not None:
                raise RuntimeError("this decoder cannot add rows to a running batch")
            return self._start(*join)
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        self.pos = self.pos[:, -1:] + 1
        return self._forward(next_ids[:, None], self.pos)

    def evict(self, rows: list[int]) -> list[int]:
        gone = set(rows)
        order = [i for i in range(self.mask.shape[0]) if i not in gone]
        if gone and order:
            keep = torch.tensor(order, device=self.mask.device)
            self.cache.batch_select_indices(keep)
            self.mask, self.pos = self.mask[keep], self.pos[keep]
        return order

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
    """GPT-2 blocks run directly on their (possibly int8-quantized) submodules with a static KV cache.

    The cache is one preallocated tensor per layer, ``(slots, heads, time, head_dim)``: live rows occupy
    slots ``[0, n)`` and share one time axis, each row's tokens ending at the write position ``t`` (a
    row's earlier columns are masked out by ``valid``). Rows that join later (``join``) are prefilled
    into free slots, right-aligned at ``t``; a finished row leaves by moving the last live slot into its
    place (``evict``), so a step never copies the cache. When the time axis runs out of room, the
    columns no live row uses any more are dropped (``_fit``).
    """

    can_join = True
    drafts = True  # a joining row may bring a draft of its answer (``step``'s ``tail``, ``rewind``)

    def __init__(self, model: Any) -> None:
        cfg = model.config
        self.tr, self.lm_head = model.transformer, model.lm_head
        head = model.lm_head
        if (
            type(head) is nn.Linear
            and head.weight.device.type == "cpu"
            and head.weight.dtype == torch.float32
        ):
            # fp32 on a CPU (evaluation, the retrain gate, machines without int8 kernels): the largest
            # product of a step, on oneDNN's kernel where torch has it (2.4x MKL's at one row).
            linear, weight = fp32_linear(), head.weight.detach()
            bias = None if head.bias is None else head.bias.detach()
            self.lm_head = lambda x: linear(x, weight, bias)
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        act = getattr(cfg, "activation_function", "gelu_new")
        # gelu_new is GPT-2's tanh approximation; F.gelu computes it as one fused op.
        self.act = (
            (lambda x: F.gelu(x, approximate="tanh")) if act in ("gelu_new", "gelu_pytorch_tanh") else None
        )
        self.act_module = None if self.act else self.tr.h[0].mlp.act
        self.n = 0  # live rows
        self.valid: torch.Tensor | None = None  # (slots, time): which cache columns hold a row's tokens

    # -- the cache -------------------------------------------------------------------------------------

    def _allocate(self, slots: int, cap: int, device: torch.device) -> None:
        dtype = self.tr.wte.weight.dtype
        shape = (slots, self.n_head, cap, self.head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.tr.h]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.tr.h]
        self.valid = torch.zeros((slots, cap), dtype=torch.bool, device=device)
        self.pos = torch.zeros((slots, 1), dtype=torch.long, device=device)

    def _fit(self, slots: int, left: int, right: int) -> None:
        """Make room for ``slots`` rows, ``left`` columns before ``t`` and ``right`` after it: move the
        live columns to the left edge (dropping those no live row uses any more), in place when they
        fit, else into tensors with room for ``right`` twice over (so the next rows do not move it)."""
        n, t = self.n, self.t
        slots_now, cap = self.valid.shape
        if slots <= slots_now and left <= t and t + right <= cap:
            return
        used = self.valid[:n, :t].any(0).nonzero()
        first = int(used[0]) if len(used) else t
        span = t - first
        new_t = max(span, left)
        if slots <= slots_now and new_t + right <= cap:  # shift left in place
            for cache in (*self.k, *self.v):
                cache[:n, :, new_t - span : new_t] = cache[:n, :, first:t].clone()
            live = self.valid[:n, first:t].clone()
            self.valid[:n] = False
            self.valid[:n, new_t - span : new_t] = live
            self.t = new_t
            return
        old = (self.k, self.v, self.valid, self.pos)
        self._allocate(max(slots, slots_now), max(cap, new_t + 2 * right), self.valid.device)
        for new, prev in zip((*self.k, *self.v), (*old[0], *old[1]), strict=True):
            new[:n, :, new_t - span : new_t] = prev[:n, :, first:t]
        self.valid[:n, new_t - span : new_t] = old[2][:n, first:t]
        self.pos[:n] = old[3][:n]
        self.t = new_t

    # -- rows ------------------------------------------------------------------------------------------

    def step(
        self,
        next_ids: torch.Tensor | None,
        join: tuple[torch.Tensor, torch.Tensor, int] | None = None,
        *,
        slots: int = 0,
        tail: int = 1,
    ) -> torch.Tensor:
        """One token for every live row (``next_ids``, in slot order) and, in the same forward pass,
        the prompts of rows that ``join`` (left-padded ids, their mask, their token limit): the weights
        are read once for both. Returns the next-token logits of the live rows, then of the new ones:
        for each new row, those of its last ``tail`` positions (a prompt that ends with a draft of its
        answer: what the model says after each draft token, see ``rewind``)."""
        n = self.n
        if (next_ids is None) != (n == 0):
            raise ValueError("next_ids must give one token per live row")
        groups = []
        if join is not None:
            ids, mask, max_new = join
            b, w = ids.shape
            if n == 0:  # a new batch: its prompts end at column w - 1
                keep = self.valid.shape[0] if self.valid is not None else 0
                self._allocate(max(b, slots, keep), w + max_new, ids.device)
                self.t = w - 1
            else:  # room for the prompts before the column written now, and for their whole answers
                self._fit(n + b, w - 1, max_new + 1)
        t = self.t
        if t >= self.valid.shape[1]:
            self._fit(n, 0, 1)  # only if a caller asked for more tokens than it made room for
            t = self.t
        if n:
            self.valid[:n, t] = True
            self.pos[:n] += 1
            mask_n = self.valid[:n, None, None, : t + 1] if self._padded else None
            ks, vs = [k[:n] for k in self.k], [v[:n] for v in self.v]
            groups.append((next_ids[:, None], self.pos[:n], t, mask_n, ks, vs, 1))
        if join is not None:
            groups.append((*self._prompt_group(ids, mask, n, t + 1), tail))
            n += b
        self.n, self.t = n, t + 1
        if join is not None:  # a plain step leaves it as it was: its column is valid for every row
            self._padded = not bool(self.valid[:n, : t + 1].all())
        return self._forward(groups)

    def _prompt_group(self, ids: torch.Tensor, mask: torch.Tensor, lo: int, end: int) -> tuple:
        """The forward-pass group of prompts prefilled into slots ``lo..``, right-aligned at ``end``."""
        b, w = ids.shape
        hi = lo + b
        self.valid[lo:hi] = False
        self.valid[lo:hi, end - w : end] = mask.bool()
        pos = positions_from_mask(mask)
        self.pos[lo:hi] = pos[:, -1:]
        # Prefill mask, explicit (with is_causal=True the logits drifted from the model's own forward
        # here): causal and not padding; every query may also see itself, so the (unused) rows of
        # padding positions never attend to nothing (which would give NaN).
        causal = torch.ones((w, w), dtype=torch.bool, device=ids.device).tril()
        attn = causal[None] & mask.bool()[:, None, :]
        attn |= torch.eye(w, dtype=torch.bool, device=ids.device)[None]
        ks = [k[lo:hi, :, end - w : end] for k in self.k]
        vs = [v[lo:hi, :, end - w : end] for v in self.v]
        return ids, pos, 0, attn[:, None], ks, vs

    def rewind(self, rows: list[int], counts: list[int]) -> None:
        """Take back the last ``counts[i]`` tokens of live row ``rows[i]`` (the end of a draft the model
        did not say): their columns are masked out and the row's next token takes the first one's
        position, so it decodes on exactly as if they had never been there."""
        t = self.t
        for r, c in zip(rows, counts, strict=True):
            if c:
                self.valid[r, t - c : t] = False
                self.pos[r] -= c
                self._padded = True

    def evict(self, rows: list[int]) -> list[int]:
        """Remove live ``rows``; the last live slot moves into each hole. Returns, per slot now live,
        the slot it held before (so callers can reorder what they keep per row alike)."""
        order = list(range(self.n))
        t = self.t
        for r in sorted(rows, reverse=True):
            last = len(order) - 1
            if r != last:
                for cache in (*self.k, *self.v):
                    cache[r, :, :t] = cache[last, :, :t]
                self.valid[r] = self.valid[last]
                self.pos[r] = self.pos[last]
                order[r] = order[last]
            order.pop()
        self.n = len(order)
        if rows and self.n:
            self._padded = not bool(self.valid[: self.n, :t].all())
        return order

    def _forward(self, groups: list[tuple]) -> torch.Tensor:
        """Groups of rows ``(ids, positions, start column, attention mask, k views, v views, tail)``
        through the blocks together: one matrix product per layer for all their tokens (selective
        batching, as in Orca), attention per group over its own cache. The logits of each row's last
        ``tail`` positions, group after group."""
        e = self.n_head * self.head_dim
        shapes = [g[0].shape for g in groups]
        sizes = [b * t for b, t in shapes]
        hs = [(self.tr.wte(g[0]) + self.tr.wpe(g[1])).reshape(-1, e) for g in groups]
        h = torch.cat(hs) if len(hs) > 1 else hs[0]
        for i, block in enumerate(self.tr.h):
            qkv = block.attn.c_attn(block.ln_1(h))
            parts = []
            for (b, t), part, group in zip(shapes, qkv.split(sizes), groups, strict=True):
                start, mask, ks, vs = group[2:6]
                end = start + t
                q, k, v = (x.view(b, t, self.n_head, self.head_dim).transpose(1, 2) for x in part.split(e, 1))
                ks[i][:, :, start:end] = k
                vs[i][:, :, start:end] = v
                a = F.scaled_dot_product_attention(q, ks[i][:, :, :end], vs[i][:, :, :end], attn_mask=mask)
                parts.append(a.transpose(1, 2).reshape(b * t, e))
            h = h + block.attn.c_proj(torch.cat(parts) if len(parts) > 1 else parts[0])
            x = block.mlp.c_fc(block.ln_2(h))
            x = self.act(x) if self.act else self.act_module(x)
            h = h + block.mlp.c_proj(x)
        last, off = [], 0
        for (b, t), group in zip(shapes, groups, strict=True):  # each row's last tokens
            tail = group[6]
            last.append(h[off : off + b * t].view(b, t, e)[:, t - tail :].reshape(b * tail, e))
            off += b * t
        return self.lm_head(self.tr.ln_f(torch.cat(last) if len(last) > 1 else last[0]))
