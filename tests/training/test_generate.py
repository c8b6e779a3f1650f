"""Generator: greedy determinism, stopping, batching, limits, precision — on tiny local GPT-2 models."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers.utils import logging as transformers_logging

from tests.tiny_checkpoint import TINY_PAIRS, shared_tiny_checkpoint, tiny_model
from training.checkpoint import CheckpointError
from training.retrieval.index import RetrievalIndex
from training.runtime.generate import GenerationConfig, Generator, trim_to_sentence
from training.runtime.quantize import conv1d_to_linear, resolve_precision
from training.tokenizer import load_gpt2_tokenizer

QUESTIONS = [q for q, _ in TINY_PAIRS]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def fp32(checkpoint: Path) -> Generator:
    return Generator.load(checkpoint, precision="fp32")


@pytest.fixture(scope="module")
def untrained() -> Generator:
    """Random weights: never says EOS on purpose, so it runs to the token limit."""
    return Generator(tiny_model(seed=1), load_gpt2_tokenizer())


@pytest.mark.slow
def test_trained_model_answers_and_stops_at_eos(fp32: Generator) -> None:
    results = fp32.generate(QUESTIONS[:3], GenerationConfig(max_new_tokens=40))
    assert [r.text for r in results] == [a for _, a in TINY_PAIRS[:3]]
    for r in results:
        assert not r.truncated
        assert r.tokens < 40  # stopped on its own, long before the limit
        assert r.model_version == "tiny-run"


@pytest.mark.slow
def test_greedy_is_deterministic(fp32: Generator) -> None:
    first = fp32.generate(["What is a hat trick?"])[0]
    second = fp32.generate(["What is a hat trick?"])[0]
    assert (first.text, first.tokens, first.mean_logprob) == (second.text, second.tokens, second.mean_logprob)


@pytest.mark.slow
def test_stops_at_template_marker_and_returns_only_the_answer(fp32: Generator) -> None:
    result = fp32.generate(["Who runs on?"])[0]
    assert result.text == "Me."  # the model goes on with "\nQuestion: next"; that part is cut
    assert not result.truncated
    assert result.tokens < 10


@pytest.mark.slow
def test_confidence_is_exp_of_mean_logprob(fp32: Generator, untrained: Generator) -> None:
    sure = fp32.generate(["Who won the 2014 World Cup?"])[0]
    unsure = untrained.generate(["Who won the 2014 World Cup?"], GenerationConfig(max_new_tokens=8))[0]
    for r in (sure, unsure):
        assert 0.0 <= r.confidence <= 1.0
        assert r.mean_logprob <= 0.0
        assert math.isclose(r.confidence, math.exp(r.mean_logprob), rel_tol=1e-9)
    assert sure.confidence > 0.5 > unsure.confidence


@pytest.mark.slow
def test_batch_answers_equal_single_answers(fp32: Generator, untrained: Generator) -> None:
    questions = [*QUESTIONS, "A much longer question that needs a lot more padding in the batch?"]
    for gen in (fp32, untrained):
        config = GenerationConfig(max_new_tokens=12)
        batch = gen.generate(questions, config)
        single = [gen.generate([q], config)[0] for q in questions]
        assert [r.text for r in batch] == [r.text for r in single]
        assert [r.tokens for r in batch] == [r.tokens for r in single]
        for b, s in zip(batch, single, strict=True):
            assert b.mean_logprob == pytest.approx(s.mean_logprob, abs=1e-4)


def test_token_limit_counts_new_tokens_only_and_marks_truncated(untrained: Generator) -> None:
    short, long_ = untrained.generate(["Hi?", "word " * 40], GenerationConfig(max_new_tokens=7))
    assert short.tokens == long_.tokens == 7
    assert short.truncated and long_.truncated


@pytest.mark.slow
def test_min_new_tokens_ignores_eos_until_reached(fp32: Generator) -> None:
    result = fp32.generate(["Eleven?"], GenerationConfig(max_new_tokens=12, min_new_tokens=12))[0]
    assert result.tokens == 12


def test_trim_to_last_complete_sentence() -> None:
    assert trim_to_sentence("Germany won. Then they went") == "Germany won."
    assert trim_to_sentence('He said "yes." And then') == 'He said "yes."'
    assert trim_to_sentence("Is it? Yes! Maybe") == "Is it? Yes!"
    assert trim_to_sentence("no sentence end at all") == "no sentence end at all"
    assert trim_to_sentence("It costs 3.5 euros and") == "It costs 3.5 euros and"


def test_question_longer_than_context_keeps_its_end(untrained: Generator, caplog) -> None:
    question = "filler " * 400 + "the real question at the end?"
    with caplog.at_level(logging.WARNING):
        ids = untrained.encode_question(question, max_new_tokens=16)
        result = untrained.generate([question], GenerationConfig(max_new_tokens=16))[0]
    assert len(ids) <= untrained.context - 16
    assert "the real question at the end?" in untrained.tokenizer.decode(ids)
    assert "longer than the context" in caplog.text
    assert result.tokens == 16


def test_over_long_question_logs_only_qabots_warning(caplog, capfd, monkeypatch) -> None:
    # As in a checkpoint, model_max_length is the context; a fresh tokenizer (transformers warns once each).
    tokenizer = load_gpt2_tokenizer()
    generator = Generator(tiny_model(seed=1), tokenizer)
    tokenizer.model_max_length = generator.context
    transformers_logging.get_logger()  # configures transformers' root logger (no propagation outside CI)
    monkeypatch.setattr(logging.getLogger("transformers"), "propagate", True)  # so caplog sees its records
    with caplog.at_level(logging.WARNING):
        generator.encode_question("filler " * 400 + "the real question?", max_new_tokens=16)
    assert [r.name for r in caplog.records] == ["training.runtime.generate"]
    assert "longer than the context allows" in caplog.records[0].getMessage()
    assert "Token indices sequence length" not in caplog.text + capfd.readouterr().err


def test_sampling_controls_and_several_sequences(untrained: Generator) -> None:
    config = GenerationConfig(
        max_new_tokens=10,
        temperature=0.9,
        top_k=40,
        top_p=0.9,
        repetition_penalty=1.3,
        no_repeat_ngram_size=2,
        num_return_sequences=3,
        seed=7,
    )
    first = untrained.generate(["Hi?", "Who?"], config)
    again = untrained.generate(["Hi?", "Who?"], config)
    assert len(first) == 6
    assert [r.text for r in first] == [r.text for r in again]  # seeded sampling is reproducible


def test_no_repeat_ngram_blocks_repeats(untrained: Generator) -> None:
    prompt = untrained.encode_question("Hi?", max_new_tokens=30)

    def generated(no_repeat: int) -> list[int]:
        config = GenerationConfig(max_new_tokens=30, no_repeat_ngram_size=no_repeat)
        row = untrained._decode([prompt], config, time.perf_counter())[0]
        assert row.reason == "length" and len(row.ids) == 30  # random weights never choose EOS
        return row.ids

    assert len(set(generated(0))) < 30  # left alone, this model repeats itself
    ids = generated(1)  # size 1: no token twice, and none that the prompt already has
    assert len(set(ids)) == 30 and not set(ids) & set(prompt)


@pytest.mark.slow
def test_load_reads_manifest_and_defaults_to_int8_on_cpu(checkpoint: Path) -> None:
    gen = Generator.load(checkpoint)
    assert gen.precision == "int8"
    assert gen.confidence_threshold is None
    assert gen.model_version == "tiny-run"
    assert gen.manifest["base"] == "scratch"


def _truncate(folder: Path, name: str) -> None:
    (folder / name).write_bytes((folder / name).read_bytes()[:1000])


def _other_size(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "n_embd": 32}))


def _index_without_words(folder: Path) -> None:
    RetrievalIndex.build([{"question": q, "answer": a} for q, a in TINY_PAIRS]).save(folder)
    shutil.rmtree(folder / "retrieval" / "words")


def _index_rows_disagree(folder: Path) -> None:
    """records.json one question longer than its BM25 views: loaded, every search hit an IndexError."""
    RetrievalIndex.build([{"question": q, "answer": a} for q, a in TINY_PAIRS]).save(folder)
    path = folder / "retrieval" / "records.json"
    payload = json.loads(path.read_text())
    payload["records"].append({"question": "Who is new here?", "answer": "Nobody.", "origin": "trained"})
    path.write_text(json.dumps(payload))


def _index_vectors_disagree(folder: Path) -> None:
    RetrievalIndex.build([{"question": q, "answer": a} for q, a in TINY_PAIRS]).save(folder)
    np.save(folder / "retrieval" / "vectors.npy", np.ones((len(TINY_PAIRS) - 1, 384), dtype=np.float32))


def _nan_weight(folder: Path) -> None:
    """A model whose weights hold a NaN answered with "confidence": NaN, which is not JSON."""
    weights = load_file(folder / "model.safetensors")
    weights["transformer.h.0.attn.c_attn.weight"][0, 0] = float("nan")
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


def _edit_manifest(folder: Path, **fields) -> None:
    """A manifest edited by hand: read at every question, so refused at load."""
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), **fields}))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: _truncate(d, "model.safetensors"), r"damaged: model.safetensors is damaged \(Safetensor"),
        (_other_size, r"damaged: config.json does not fit model.safetensors"),
        (_index_without_words, r"damaged: retrieval/ is damaged or unreadable \(FileNotFoundError"),
        (
            _index_rows_disagree,
            r"damaged: retrieval/ .*\(ValueError: records.json holds 5 questions but the BM25",
        ),
        (
            _index_vectors_disagree,
            r"damaged: retrieval/ .*\(ValueError: records.json holds 4 questions but vectors",
        ),
        (
            _nan_weight,
            r"damaged: model.safetensors holds NaN or infinite values, first in transformer.h.0.attn",
        ),
        (
            lambda d: _edit_manifest(d, confidence_threshold="abc"),
            r"damaged/manifest.json: confidence_threshold must be a number from 0 to 1, not 'abc'",
        ),
        (
            lambda d: _edit_manifest(d, zones=[1, 2]),
            r"damaged/manifest.json: zones must be an object of thresholds, not \[1, 2\]",
        ),
    ],
    ids=[
        "truncated-weights",
        "config-of-another-size",
        "index-words-missing",
        "index-rows-disagree",
        "index-vectors-disagree",
        "nan-weights",
        "confidence-threshold-a-word",
        "zones-a-list",
    ],
)
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_damaged_checkpoint_is_a_checkpoint_error_naming_the_file(
    checkpoint: Path, tmp_path: Path, damage, message: str, precision: str
) -> None:
    folder = shutil.copytree(checkpoint, tmp_path / "damaged")
    damage(folder)
    with pytest.raises(CheckpointError, match=message) as err:
        Generator.load(folder, precision=precision)
    assert str(err.value).endswith("retrain or pick another model") and "\n" not in str(err.value)


@pytest.mark.slow
def test_int8_answers_match_fp32(checkpoint: Path, fp32: Generator) -> None:
    int8 = Generator.load(checkpoint, precision="int8")
    config = GenerationConfig(max_new_tokens=24)
    assert [r.text for r in int8.generate(QUESTIONS, config)] == [
        r.text for r in fp32.generate(QUESTIONS, config)
    ]


def test_conv1d_conversion_keeps_outputs() -> None:
    model = tiny_model(seed=3).eval()
    ids = torch.tensor([[464, 3290, 318, 257, 1332, 13]])
    with torch.inference_mode():
        before = model(ids).logits
        after = conv1d_to_linear(model)(ids).logits
    assert torch.allclose(before, after, atol=1e-4)


def test_precision_choices() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == "int8"
    assert resolve_precision("FP32", cpu) == "fp32"
    with pytest.raises(ValueError, match="GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="CPU"):
        resolve_precision("int8", cuda)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int4", cpu)


def test_empty_batch_returns_nothing(untrained: Generator) -> None:
    assert untrained.generate([]) == []


@pytest.mark.slow
def test_lean_gpt2_path_matches_the_model_forward(checkpoint: Path) -> None:
    fast = Generator.load(checkpoint, precision="fp32")
    slow = Generator(fast.model, fast.tokenizer, model_version=fast.model_version, fast=False)
    assert fast.fast and not slow.fast
    questions = [*QUESTIONS, "A longer question, so the batch has padding on the left?"]
    for config in (
        GenerationConfig(max_new_tokens=16),
        GenerationConfig(max_new_tokens=16, min_new_tokens=16),
    ):
        a, b = fast.generate(questions, config), slow.generate(questions, config)
        assert [r.text for r in a] == [r.text for r in b]
        for x, y in zip(a, b, strict=True):
            assert x.mean_logprob == pytest.approx(y.mean_logprob, abs=1e-4)
