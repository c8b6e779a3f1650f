"""GPTQ int8 weights for CPU serving, computed once when a checkpoint is written.

Rounding each weight to the nearest int8 step independently ignores that a layer's inputs are correlated.
GPTQ (Frantar et al., 2022) quantizes a weight matrix one input column at a time and spreads each
column's rounding error over the columns not yet quantized, weighted by the inverse of the inputs'
second-moment matrix ``H = E[x x^T]`` measured on calibration text (the checkpoint's own training
examples), which minimises the error of the layer's *output* rather than of its weights.

The result is ``int8.safetensors`` in the checkpoint folder: for every Linear (GPT-2's Conv1D counted as
Linear), ``<module>.weight`` (int8 [out, in]) and ``<module>.scale`` (float32 [out]). ``Generator.load``
uses it for ``--precision int8``; a checkpoint without it is rounded to nearest at load time. What it
gains over rounding to nearest, as measured: ``docs/notes.md``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.checkpoint import CheckpointError
from training.prompt import format_example
from training.runtime.quantize import QMAX, Int8Weights, conv1d_to_linear, row_scales

INT8_FILE = "int8.safetensors"
MAX_CALIBRATION = 256  # training examples fed through the model to measure each layer's inputs
DAMPING = 0.01  # of the mean diagonal of H, added to its diagonal so that it inverts stably
BLOCK = 128  # columns updated lazily together (the algorithm's "lazy batch" for speed)


@torch.no_grad()
def input_moments(model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int = 16) -> dict:
    """``E[x x^T]`` of the input of every ``nn.Linear`` of ``model`` over the tokens of ``texts``."""
    device = next(model.parameters()).device
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    keep: list[torch.Tensor] = []  # the current batch's non-padding positions, flattened

    def hook(name: str) -> Any:
        def record(module: nn.Module, inputs: tuple, output: Any) -> None:
            x = inputs[0].reshape(-1, inputs[0].shape[-1])[keep[0]].float()
            if name not in sums:
                sums[name] = torch.zeros(x.shape[1], x.shape[1], device=device)
                counts[name] = 0
            sums[name].addmm_(x.T, x)
            counts[name] += x.shape[0]

        return record

    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    handles = [m.register_forward_hook(hook(n)) for n, m in linears]
    context = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)
    try:
        rows = sorted((ids[:context] for ids in tokenizer(list(texts))["input_ids"] if ids), key=len)
        for i in range(0, len(rows), batch_size):  # similar lengths together: little padding
            batch = rows[i : i + batch_size]
            width = max(len(ids) for ids in batch)
            # Right padding with token 0 (the tokenizer may have no pad token); the mask drops it.
            input_ids = torch.tensor([ids + [0] * (width - len(ids)) for ids in batch], device=device)
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch], device=device)
            keep[:] = [mask.reshape(-1).bool()]
            model(input_ids=input_ids, attention_mask=mask)
    finally:
        for handle in handles:
            handle.remove()
    return {name: sums[name] / max(counts[name], 1) for name in sums}


def gptq_quantize(weight: torch.Tensor, moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 [out, in] weight and float32 scale per row, minimising ``E||W x - Q x||^2`` column by column."""
    w = weight.detach().float().clone()
    scale = row_scales(w)
    h = moments.float().clone()
    n = h.shape[0]
    dead = torch.diagonal(h) == 0  # an input never active in calibration: nothing to compensate with
    h[dead, dead] = 1.0
    h += DAMPING * torch.diagonal(h).mean() * torch.eye(n, device=h.device)
    # The upper Cholesky factor of H^-1 holds, row by row, how the remaining columns absorb an error.
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.empty_like(w)
    for start in range(0, n, BLOCK):
        end = min(start + BLOCK, n)
        block = w[:, start:end].clone()
        errors = torch.empty_like(block)
        hb = hinv[start:end, start:end]
        for j in range(end - start):
            column = block[:, j]
            rounded = torch.round(column / scale).clamp_(-QMAX, QMAX) * scale
            q[:, start + j] = rounded
            error = (column - rounded) / hb[j, j]
            block[:, j:] -= error[:, None] * hb[j, j:][None, :]
            errors[:, j] = error
        w[:, end:] -= errors @ hinv[start:end, end:]
    return torch.round(q / scale[:, None]).clamp_(-QMAX, QMAX).to(torch.int8).cpu(), scale.cpu()


def gptq_weights(model: nn.Module, tokenizer: Any, texts: Sequence[str]) -> Int8Weights:
    """GPTQ int8 weights for every Linear of (a Conv1D->Linear copy of) ``model``."""
    work = conv1d_to_linear(copy.deepcopy(model)).eval()
    moments = input_moments(work, tokenizer, texts)
    out = {}
    for name, module in work.named_modules():
        if isinstance(module, nn.Linear) and name in moments:
            h = moments.pop(name)  # released layer by layer
            try:
                out[name] = gptq_quantize(module.weight, h)
            except torch.linalg.LinAlgError:
                continue  # H not invertible even damped: this layer is rounded to nearest at load
    return out


def write_int8_weights(folder: Path, model: nn.Module, tokenizer: Any, records: Sequence[dict]) -> dict:
    """Compute and save ``int8.safetensors`` from ``records`` (the training split); its manifest entry."""
    from safetensors.torch import save_file

    started = time.perf_counter()
    texts = ["".join(format_example(r["question"], r["answer"], tokenizer.eos_token)) for r in records]
    texts = texts[:MAX_CALIBRATION]
    weights = gptq_weights(model, tokenizer, texts) if texts else {}
    tensors = {}
    for name, (qweight, scale) in weights.items():
        tensors[f"{name}.weight"] = qweight.contiguous()
        tensors[f"{name}.scale"] = scale.contiguous()
    if tensors:
        save_file(tensors, str(Path(folder) / INT8_FILE), metadata={"method": "gptq"})
    return {
        "file": INT8_FILE if tensors else None,
        "method": "gptq" if tensors else "round-to-nearest at load",
        "layers": len(weights),
        "calibration_texts": len(texts),
        "seconds": round(time.perf_counter() - started, 1),
    }


def read_int8_weights(folder: Path) -> Int8Weights | None:
    """The checkpoint's GPTQ int8 weights, or None when it has none."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(folder) / INT8_FILE
    if not path.is_file():
        return None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is unreadable ({e}); delete it to round weights at load time") from e
    weights = {}
    for key, qweight in tensors.items():
        if not key.endswith(".weight"):
            continue
        name = key.removesuffix(".weight")
        scale = tensors.get(f"{name}.scale")
        matrix = qweight.dtype == torch.int8 and qweight.dim() == 2
        if not matrix or scale is None or scale.shape != qweight.shape[:1]:
            raise CheckpointError(f"{path}: {name} is not an int8 weight with one scale per row")
        if not torch.isfinite(scale).all():
            problem = f"{name}'s scales hold NaN or infinite values"
            raise CheckpointError(f"{path}: {problem}; delete it to round weights at load time")
        weights[name] = (qweight, scale)
    return weights
