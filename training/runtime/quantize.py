"""Precision for inference: fp32, int8 (CPU) or fp16/bf16 (CUDA).

int8 here is "W8A8": int8 weights with one scale per output row, and int8 activations with one scale per
input row (per token), multiplied by fbgemm's u8 x s8 kernels into int32.

- GPT-2's blocks use ``transformers.pytorch_utils.Conv1D`` (a Linear with a transposed weight), which
  ``quantize_dynamic({nn.Linear})`` would skip: every Conv1D is rewritten as an ``nn.Linear`` first.
- Weights come from the checkpoint's ``int8.safetensors`` when training wrote one (GPTQ,
  ``training/runtime/gptq.py``), else they are rounded to nearest here.
- Activations: with one scale per batch (torch's dynamic int8 Linear) a token's rounding, and so its
  answer, depended on its batch mates and their padding. ``Int8Linear`` scales each row by its own largest
  magnitude (``x = radius * u``, or ``x = center + radius * u``) and quantizes ``u`` in [-1, 1].

Speed against other int8 kernels and logit error, as measured: ``docs/notes.md``.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "int8", "fp16", "bf16")
QMAX = 127  # weights are symmetric int8 in [-127, 127]
TINY = torch.finfo(torch.float32).tiny  # a row's smallest radius: a zero row gives u = 0, not NaN
NO_INT8_KERNELS = "int8 needs an x86 CPU (torch's fbgemm kernels); on this machine use fp32"
# Linears whose inputs are far from centered on zero: GPT-2's MLP output projection reads GELU's output
# (>= -0.17, large positive). Others read LayerNorm or attention outputs, roughly symmetric.
CENTERED_INPUTS = ("mlp.c_proj",)


@functools.cache
def cpu_has_vnni() -> bool:
    """AVX-512 VNNI / AVX-VNNI accumulate u8*s8 products straight into int32, without 16-bit saturation."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def int8_engine() -> str | None:
    """The quantized engine whose kernels ``Int8Linear`` needs (fbgemm's, x86 only), or None."""
    engines = torch.backends.quantized.supported_engines
    return next((e for e in ("x86", "fbgemm") if e in engines), None)


def activation_levels() -> int:
    """Steps either side of a row's center: 8-bit activations with VNNI, 7-bit where AVX2 could saturate."""
    return 127 if cpu_has_vnni() else 63


def row_scales(weight: torch.Tensor) -> torch.Tensor:
    """float32 scale per row of a [out, in] weight: its largest magnitude maps to ``QMAX``."""
    return (weight.detach().abs().amax(dim=1).float() / QMAX).clamp_(min=1e-12)


def round_to_nearest(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8 of a float [out, in] weight: (int8 weight, float32 scale per row)."""
    scale = row_scales(weight)
    q = torch.round(weight.detach().float() / scale[:, None]).clamp_(-QMAX, QMAX).to(torch.int8)
    return q, scale


class Int8Linear(nn.Module):
    """A Linear with int8 weights (scale per output row) and int8 activations (scale per input row)."""

    def __init__(
        self, qweight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, *, centered: bool = False
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.centered = centered
        qweight, scale = qweight.cpu(), scale.detach().float().cpu()
        zeros = torch.zeros(len(scale), dtype=torch.long)
        with warnings.catch_warnings():
            # torch.ao's quantized tensors warn that they will move to torchao; they still work in 2.13.
            warnings.filterwarnings("ignore", category=UserWarning)
            packed = torch._make_per_channel_quantized_tensor(qweight, scale.double(), zeros, 0)
            self._packed = torch.ops.quantized.linear_prepack(packed, None)
        self.register_buffer("row_sums", (qweight.float() * scale[:, None]).sum(dim=1) if centered else None)
        self.register_buffer("bias", None if bias is None else bias.detach().float().cpu().clone())
        levels = activation_levels()
        self.x_scale, self.x_zero = 1.0 / levels, levels  # u in [-1, 1] -> [0, 2 * levels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plain, centered = _row_scaled()
        if self.centered:
            return centered(x, self._packed, self.x_scale, self.x_zero, self.bias, self.row_sums)
        return plain(x, self._packed, self.x_scale, self.x_zero, self.bias)

    def extra_repr(self) -> str:
        sizes = f"in_features={self.in_features}, out_features={self.out_features}"
        return f"{sizes}, bias={self.bias is not None}, centered={self.centered}"


def _plain(
    x: torch.Tensor,
    packed: torch.classes.quantized.LinearPackedParamsBase,
    x_scale: float,
    x_zero: int,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """``Int8Linear`` for inputs roughly centered on zero: x = radius * u, W x = radius * (W u)."""
    radius = x.abs().amax(dim=-1, keepdim=True).clamp_(min=1.1754943508222875e-38)  # TINY
    u = x / radius
    y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(u, x_scale, x_zero, packed)
    if bias is None:
        return y.mul_(radius)
    return torch.addcmul(bias, y, radius)


def _centered(
    x: torch.Tensor,
    packed: torch.classes.quantized.LinearPackedParamsBase,
    x_scale: float,
    x_zero: int,
    bias: torch.Tensor | None,
    row_sums: torch.Tensor,
) -> torch.Tensor:
    """``Int8Linear`` for inputs far from centered: x = center + radius * u,
    W x = radius * (W u) + center * W.sum(1)."""
    lo, hi = x.amin(dim=-1, keepdim=True), x.amax(dim=-1, keepdim=True)  # (aminmax is slower)
    center = (hi + lo).mul_(0.5)
    radius = (hi - lo).mul_(0.5).clamp_(min=1.1754943508222875e-38)  # TINY
    u = (x - center).div_(radius)
    y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(u, x_scale, x_zero, packed)
    shift = center * row_sums
    if bias is not None:
        shift += bias
    return shift.addcmul_(y, radius)


@functools.cache
def _row_scaled() -> tuple[Any, Any]:
    """``_plain`` and ``_centered``, compiled by TorchScript. The per-row scaling is 6 to 13 small tensor
    ops per Linear, and at batch 1 their Python overhead was 17% of a decoding step (0.68 of 4.0 ms per
    token, distilgpt2-size, 2-core Xeon); scripted, 3.45 ms per token with the same numbers. TorchScript is
    deprecated in favour of ``torch.compile`` (which, over the whole decoder, was slower here and changed
    tokens); where torch cannot script them any more, the same functions run eagerly."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(_plain), torch.jit.script(_centered)
    except Exception as e:  # a torch without TorchScript: the same math, op by op
        log.warning("int8 layers run without TorchScript (%s): a little slower, same answers", e)
        return _plain, _centered


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@functools.cache
def fp32_linear() -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """The fastest fp32 ``F.linear`` for a few rows at a time on this CPU: oneDNN's (the kernel
    ``torch.compile`` emits for CPU linears) where torch has it, else ``F.linear`` (MKL's sgemm). Both are
    fp32 throughout. Measured here (2-core EPYC): the sentence encoder's 12x384 by 384x1536 in 132 against
    258 us, 48 tokens 340 against 891 us (encoding 16 questions 26 against 44 ms, the example's 334 in 0.66
    against 1.03 s, embeddings equal within 5e-7); GPT-2's 768x50257 ``lm_head`` at 1 row 4.2 against
    10.0 ms, at 8 rows 7.5 against 17.7 ms. Checked once on a probe (a torch without oneDNN, or whose
    private op changed, falls back)."""
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(shape, generator=g) for shape in ((2, 3, 8), (5, 8), (5,)))
    try:
        if torch.allclose(_onednn_linear(x, w, b), F.linear(x, w, b), rtol=1e-5, atol=1e-5):
            return _onednn_linear
    except (AttributeError, RuntimeError, NotImplementedError) as e:
        log.debug("oneDNN linear unavailable (%s): MKL's", e)
    return F.linear


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> int8 on CPU, bf16 (or fp16) on CUDA; reject combinations the device cannot run."""
    precision = precision.lower()
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "int8" if int8_engine() else "fp32"
    if precision == "int8" and device.type != "cpu":
        raise ValueError("int8 is the CPU precision; on a GPU use fp16 or bf16")
    if precision == "int8" and not int8_engine():
        raise ValueError(NO_INT8_KERNELS)
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
                linear = nn.Linear(n_in, n_out, bias=child.bias is not None, device=child.weight.device)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    if child.bias is not None:
                        linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
    return model


Int8Weights = Mapping[str, tuple[torch.Tensor, torch.Tensor]]


def quantize_int8(model: nn.Module, weights: Int8Weights | None = None) -> nn.Module:
    """Every Linear (Conv1D converted first) -> ``Int8Linear``, in place; CPU only.

    ``weights`` maps a Linear's module name to its (int8 weight, scale), e.g. GPTQ's from the checkpoint;
    Linears it does not name are rounded to nearest. ``lm_head`` gets its own int8 copy of the weight it
    shares with the token embedding (a quarter of the fp32 read per step); the lookup keeps fp32.
    """
    engine = int8_engine()
    if engine is None:
        raise ValueError(NO_INT8_KERNELS)
    torch.backends.quantized.engine = engine
    model = conv1d_to_linear(model.to("cpu"))
    weights = weights or {}
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    unknown = sorted(set(weights) - {n for n, _ in linears})
    if unknown:
        raise ValueError(f"int8 weights for layers the model does not have: {', '.join(unknown[:3])}")
    for name, linear in linears:
        qweight, scale = weights[name] if name in weights else round_to_nearest(linear.weight)
        if qweight.shape != linear.weight.shape:
            shapes = f"{tuple(qweight.shape)}, the model's is {tuple(linear.weight.shape)}"
            raise ValueError(f"the int8 weight of {name} has shape {shapes}")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        centered = any(name.endswith(s) for s in CENTERED_INPUTS)
        setattr(parent, child, Int8Linear(qweight, scale, linear.bias, centered=centered))
    return model


def prepare_model(
    model: nn.Module, precision: str, device: torch.device, int8_weights: Int8Weights | None = None
) -> nn.Module:
    """Put ``model`` on ``device`` in ``precision`` (already resolved) for inference."""
    model.eval()
    if precision == "int8":
        return quantize_int8(model, int8_weights)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return model.to(device=device, dtype=dtype)
