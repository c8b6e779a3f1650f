"""Precision for inference: fp32, int8 (CPU, dynamic quantization) or fp16/bf16 (CUDA).

GPT-2's blocks use ``transformers.pytorch_utils.Conv1D`` (a Linear with a transposed weight), which
``torch.ao.quantization.quantize_dynamic({nn.Linear})`` does not recognise: it would quantize only
``lm_head``. So every Conv1D is first rewritten as an equivalent ``nn.Linear`` and then all Linears,
``lm_head`` included, get int8 weights (one scale per output row) with activations quantized per call
(fbgemm/x86 kernels).

Measured here (2-core AVX-512 VNNI EPYC, 1 thread, a 768x50257 ``lm_head`` at batch 1): this path takes
~3 ms against 13 ms in fp32 and 10 ms in bf16; ``aten._weight_int8pack_mm`` (int8 weight-only) 36 ms
(5.5 ms with bf16 activations); torchao 0.18's eager ``Int8WeightOnlyConfig`` 141 ms and
``Int8DynamicActivationInt8WeightConfig`` 168 ms (they need ``torch.compile`` to be fast).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

PRECISIONS = ("auto", "fp32", "int8", "fp16", "bf16")


@functools.cache
def cpu_has_vnni() -> bool:
    """AVX-512 VNNI / AVX-VNNI accumulate u8*s8 products straight into int32, without 16-bit saturation."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


class FullRangeDynamicLinear(DynamicQuantizedLinear):
    """torch's dynamic int8 Linear, but activations use all 8 bits when the CPU cannot saturate.

    torch always passes ``reduce_range=True`` (7-bit activations) to protect AVX2's 16-bit intermediate
    sums; with VNNI that loss is unnecessary, and the extra bit raised int8/fp32 agreement on held-out
    questions of the example model (0.91 -> 0.93 identical answers over the whole dataset).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.quantized.linear_dynamic(x, self._packed_params._packed_params, reduce_range=False)
        return y.to(x.dtype)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> int8 on CPU, bf16 (or fp16) on CUDA; reject combinations the device cannot run."""
    precision = precision.lower()
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "int8"
    if precision == "int8" and device.type != "cpu":
        raise ValueError("int8 is the CPU precision; on a GPU use fp16 or bf16")
    if precision in ("fp16", "bf16") and device.type == "cpu":
        raise ValueError(f"{precision} is for GPUs; on CPU use int8 or fp32")
    return precision


def conv1d_to_linear(model: nn.Module) -> nn.Module:
    """Replace every GPT-2 ``Conv1D`` (weight [in, out]) by an ``nn.Linear`` (weight [out, in]), in place."""
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = nn.Linear(n_in, n_out, bias=child.bias is not None)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    if child.bias is not None:
                        linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
    return model


def quantize_int8(model: nn.Module) -> nn.Module:
    """int8 weights for every Linear (Conv1D converted first); activations quantized per call."""
    model = conv1d_to_linear(model)
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    target = FullRangeDynamicLinear if cpu_has_vnni() else DynamicQuantizedLinear
    with warnings.catch_warnings():
        # torch.ao's quantization entry points warn that they will move to torchao; they still work.
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # lm_head shares its weight with the token embedding; quantizing it gives lm_head its own int8
        # copy (a quarter of the fp32 read per step) while the embedding lookup keeps the fp32 table.
        # Per-output-channel weight scales keep small rows precise next to large ones.
        return torch.ao.quantization.quantize_dynamic(
            model,
            {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            mapping={nn.Linear: target},
        )


def prepare_model(model: nn.Module, precision: str, device: torch.device) -> nn.Module:
    """Put ``model`` on ``device`` in ``precision`` (already resolved) for inference."""
    model.eval()
    if precision == "int8":
        return quantize_int8(model.to("cpu"))
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return model.to(device=device, dtype=dtype)
