"""int8 inference: per-row activation quantization, GPTQ weights and the checkpoint's int8.safetensors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.tiny_checkpoint import TINY_PAIRS, shared_tiny_checkpoint, tiny_model
from training.checkpoint import CheckpointError
from training.runtime.generate import GenerationConfig, Generator
from training.runtime.gptq import INT8_FILE, gptq_quantize, read_int8_weights, write_int8_weights
from training.runtime.quantize import (
    QMAX,
    TINY,
    Int8Linear,
    _centered,
    _plain,
    _row_scaled,
    quantize_int8,
    round_to_nearest,
)
from training.tokenizer import load_gpt2_tokenizer


def int8_linear(n_in: int = 64, n_out: int = 48, *, centered: bool = False, seed: int = 0) -> tuple:
    torch.manual_seed(seed)
    linear = torch.nn.Linear(n_in, n_out)
    qweight, scale = round_to_nearest(linear.weight)
    return linear, Int8Linear(qweight, scale, linear.bias, centered=centered)


@pytest.mark.parametrize("centered", [False, True])
def test_int8_linear_is_close_to_fp32(centered: bool) -> None:
    linear, q = int8_linear(centered=centered)
    x = torch.randn(3, 5, 64) + (2.0 if centered else 0.0)  # one-sided rows are what `centered` is for
    with torch.inference_mode():
        ref, out = linear(x), q(x)
    assert out.shape == ref.shape
    assert (out - ref).norm() / ref.norm() < 0.02


@pytest.mark.parametrize("centered", [False, True])
def test_a_row_gets_the_same_result_alone_as_in_any_batch(centered: bool) -> None:
    # One scale per row: a row's rounding must not depend on the other rows, even a much larger one.
    _, q = int8_linear(centered=centered)
    x = torch.randn(4, 64)
    x[0] *= 50.0
    with torch.inference_mode():
        batch = q(x)
        for i in range(len(x)):
            assert torch.equal(q(x[i : i + 1]), batch[i : i + 1])


def test_constant_and_zero_rows_are_exact_not_nan() -> None:
    linear, centered = int8_linear(centered=True)
    _, plain = int8_linear()
    x = torch.stack([torch.zeros(64), torch.full((64,), 0.5)])
    with torch.inference_mode():
        out_c, out_p = centered(x), plain(x)
    assert torch.isfinite(out_c).all() and torch.isfinite(out_p).all()
    assert torch.allclose(out_c[0], linear.bias) and torch.allclose(out_p[0], linear.bias)
    assert torch.allclose(out_c[1], linear.bias + 0.5 * centered.row_sums, atol=1e-6)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_the_scripted_layers_compute_what_the_eager_functions_do(centered: bool, bias: bool) -> None:
    plain, shifted = _row_scaled()
    # Scripting must not fail quietly here (it would only cost speed): this torch scripts them.
    assert isinstance(plain, torch.jit.ScriptFunction) and isinstance(shifted, torch.jit.ScriptFunction)
    torch.manual_seed(1)
    linear = torch.nn.Linear(64, 48, bias=bias)
    q = Int8Linear(*round_to_nearest(linear.weight), linear.bias, centered=centered)
    x = torch.randn(5, 64) + (2.0 if centered else 0.0)
    x[2] = 0.0
    args = (x, q._packed, q.x_scale, q.x_zero, q.bias)
    with torch.inference_mode():
        scripted = shifted(*args, q.row_sums) if centered else plain(*args)
        eager = _centered(*args, q.row_sums) if centered else _plain(*args)
        assert torch.equal(scripted, eager) and torch.equal(q(x), eager)
    assert TINY == 1.1754943508222875e-38  # the literal the scripted functions clamp with


def test_round_to_nearest_is_symmetric_per_row() -> None:
    weight = torch.randn(8, 16) * torch.logspace(-3, 1, 8)[:, None]  # rows of very different sizes
    qweight, scale = round_to_nearest(weight)
    assert qweight.dtype == torch.int8 and qweight.abs().amax(dim=1).eq(QMAX).all()
    assert ((qweight.float() * scale[:, None] - weight).abs() <= scale[:, None] / 2 + 1e-7).all()


def test_gptq_lowers_the_output_error_of_rounding() -> None:
    torch.manual_seed(0)
    weight = torch.randn(96, 64) * 0.05
    mixing = torch.eye(64) + 0.3 * torch.randn(64, 64)  # correlated inputs, as real activations are
    x = torch.randn(4096, 64) @ mixing
    moments = x.T @ x / len(x)
    q_gptq, s_gptq = gptq_quantize(weight, moments)
    q_rtn, s_rtn = round_to_nearest(weight)
    test_x = torch.randn(1024, 64) @ mixing

    def error(q: torch.Tensor, s: torch.Tensor) -> float:
        return float(((test_x @ (weight - q.float() * s[:, None]).T) ** 2).mean())

    assert q_gptq.dtype == torch.int8 and torch.equal(s_gptq, s_rtn)
    assert error(q_gptq, s_gptq) < 0.8 * error(q_rtn, s_rtn)


@pytest.fixture
def gptq_checkpoint(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """The shared tiny checkpoint plus the int8.safetensors training writes."""
    folder = tmp_path / "tiny-gptq"
    shutil.copytree(shared_tiny_checkpoint(tmp_path_factory), folder)
    generator = Generator.load(folder, precision="fp32")
    records = [{"question": q, "answer": a} for q, a in TINY_PAIRS]
    summary = write_int8_weights(folder, tiny_model_from(folder), generator.tokenizer, records)
    assert summary["method"] == "gptq" and summary["calibration_texts"] == len(records)
    return folder


def tiny_model_from(folder: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder)).eval()


def unpacked(module: Int8Linear) -> torch.Tensor:
    return torch.ops.quantized.linear_unpack(module._packed)[0].int_repr()


@pytest.mark.slow
def test_int8_load_uses_the_checkpoints_gptq_weights(gptq_checkpoint: Path) -> None:
    weights = read_int8_weights(gptq_checkpoint)
    assert weights is not None and {"lm_head", "transformer.h.0.attn.c_attn"} <= weights.keys()
    int8 = Generator.load(gptq_checkpoint, precision="int8")
    for name, (qweight, _) in weights.items():
        assert torch.equal(unpacked(int8.model.get_submodule(name)), qweight), name
    fp32 = Generator.load(gptq_checkpoint, precision="fp32")
    questions, config = [q for q, _ in TINY_PAIRS], GenerationConfig(max_new_tokens=24)
    assert [r.text for r in int8.generate(questions, config)] == [
        r.text for r in fp32.generate(questions, config)
    ]


@pytest.mark.slow
def test_a_corrupt_int8_file_is_a_clear_checkpoint_error(gptq_checkpoint: Path) -> None:
    (gptq_checkpoint / INT8_FILE).write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=f"{INT8_FILE}.*delete it"):
        Generator.load(gptq_checkpoint, precision="int8")
    Generator.load(gptq_checkpoint, precision="fp32")  # fp32 never reads it


@pytest.mark.slow
def test_an_int8_file_of_another_model_names_the_layer(gptq_checkpoint: Path) -> None:
    tensors = load_file(str(gptq_checkpoint / INT8_FILE))
    tensors["lm_head.weight"] = tensors["lm_head.weight"][:, :32].contiguous()
    save_file(tensors, str(gptq_checkpoint / INT8_FILE))
    with pytest.raises(CheckpointError, match="lm_head has shape"):
        Generator.load(gptq_checkpoint, precision="int8")


@pytest.mark.slow
def test_int8_scales_holding_nan_are_a_clear_checkpoint_error(gptq_checkpoint: Path) -> None:
    tensors = load_file(str(gptq_checkpoint / INT8_FILE))
    tensors["lm_head.scale"][0] = float("nan")
    save_file(tensors, str(gptq_checkpoint / INT8_FILE))
    with pytest.raises(CheckpointError, match="lm_head's scales hold NaN or infinite values; delete it"):
        Generator.load(gptq_checkpoint, precision="int8")


def test_int8_answers_do_not_depend_on_their_batch_mates() -> None:
    # One activation scale per batch would move each answer's log-probabilities by 1e-4..0.2 with its
    # batch mates (and could change its text); with one per row only the fp32 parts' last bits may differ.
    int8 = Generator(quantize_int8(tiny_model(seed=0).eval()), load_gpt2_tokenizer(), precision="int8")
    questions = ["Who?", "A much longer question, so that the batch is padded on the left?", "Why not?"]
    config = GenerationConfig(max_new_tokens=24)
    batch = int8.generate(questions, config)
    alone = [int8.generate([q], config)[0] for q in questions]
    assert [(r.text, r.tokens) for r in batch] == [(r.text, r.tokens) for r in alone]
    for b, a in zip(batch, alone, strict=True):
        assert b.mean_logprob == pytest.approx(a.mean_logprob, abs=1e-6)


def test_no_training_records_means_no_int8_file(tmp_path: Path) -> None:
    summary = write_int8_weights(tmp_path, tiny_model(), load_gpt2_tokenizer(), [])
    assert summary["file"] is None and not (tmp_path / INT8_FILE).exists()
    assert read_int8_weights(tmp_path) is None  # Generator.load then rounds to nearest


def test_without_fbgemm_kernels_auto_is_fp32_and_int8_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # ARM builds of torch have qnnpack only, which cannot run Int8Linear's fbgemm op.
    import training.runtime.quantize

    monkeypatch.setattr(training.runtime.quantize, "int8_engine", lambda: None)
    cpu = torch.device("cpu")
    assert training.runtime.quantize.resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="x86 CPU"):
        training.runtime.quantize.resolve_precision("int8", cpu)
    with pytest.raises(ValueError, match="x86 CPU"):
        quantize_int8(tiny_model())


def test_seven_bit_activations_where_the_cpu_could_saturate(monkeypatch: pytest.MonkeyPatch) -> None:
    import training.runtime.quantize

    monkeypatch.setattr(training.runtime.quantize, "activation_levels", lambda: 63)  # AVX2 without VNNI
    linear, q = int8_linear(centered=True)
    assert (q.x_scale, q.x_zero) == (1 / 63, 63)
    x = torch.randn(4, 64) + 1.0
    with torch.inference_mode():
        ref, out = linear(x), q(x)
    assert (out - ref).norm() / ref.norm() < 0.04


def test_fp32_linear_falls_back_to_f_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN's product only where it works and gives F.linear's numbers; else F.linear itself."""
    import torch.nn.functional as F

    from training.runtime import quantize

    def broken(*args: object) -> None:
        raise RuntimeError("no oneDNN here")

    for fake in (broken, lambda x, w, b: F.linear(x, w, b) + 1e-3):
        quantize.fp32_linear.cache_clear()
        monkeypatch.setattr(quantize, "_onednn_linear", fake)
        assert quantize.fp32_linear() is F.linear
    monkeypatch.undo()
    quantize.fp32_linear.cache_clear()
    assert quantize.fp32_linear() in (F.linear, quantize._onednn_linear)
