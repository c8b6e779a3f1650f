"""Building the base model: scratch presets and tokenizers, local pretrained folders, fast hub failure."""

from __future__ import annotations

import time

import pytest
import torch

from training.model import SIZES, ModelLoadError, build_scratch_model, load_base, train_bpe_tokenizer
from training.tokenizer import EOS, load_gpt2_tokenizer

TEXTS = ["Question: Who won?\nAnswer: Germany won.", "Question: How many players?\nAnswer: Eleven."] * 5


def test_bpe_tokenizer_is_byte_level_with_eos_as_pad():
    tok = train_bpe_tokenizer(TEXTS)
    assert tok.eos_token == EOS and tok.pad_token_id == tok.eos_token_id
    unseen = "Zürich 🏟 ¿qué?"  # characters never seen in training still encode (byte fallback) and round-trip
    assert tok.decode(tok(unseen)["input_ids"]) == unseen
    ids = tok("Germany won." + EOS)["input_ids"]
    assert ids[-1] == tok.eos_token_id  # the EOS string in text is one special token
    assert (
        tok("Germany", add_special_tokens=True)["input_ids"]
        == tok("Germany", add_special_tokens=False)["input_ids"]
    )


def test_scratch_presets_match_the_tokenizer():
    tok = train_bpe_tokenizer(TEXTS)
    loaded = load_base("scratch", "tiny", "bpe", texts=TEXTS)
    cfg = loaded.model.config
    assert (cfg.n_layer, cfg.n_embd) == (SIZES["tiny"]["n_layer"], SIZES["tiny"]["n_embd"])
    assert cfg.vocab_size == len(loaded.tokenizer) and cfg.eos_token_id == loaded.tokenizer.eos_token_id
    assert loaded.is_scratch and loaded.tokenizer_name == "bpe"
    assert build_scratch_model("tiny", tok).config.vocab_size == len(tok)


def test_distilgpt2_preset_has_distilgpt2s_parameter_count():
    # GPT-2 small's 124,439,808 parameters less 6 of its 12 blocks (7,087,872 each): distilgpt2's 81.9M.
    with torch.device("meta"):  # shapes only, no 330 MB of weights to initialise
        model = build_scratch_model("distilgpt2", load_gpt2_tokenizer())
    assert model.num_parameters() == 81_912_576


def test_unknown_size_and_tokenizer_are_clear_errors():
    with pytest.raises(ModelLoadError, match="--size"):
        load_base("scratch", "huge", "bpe", texts=TEXTS)
    with pytest.raises(ModelLoadError, match="tokenizer"):
        load_base("scratch", "tiny", "words", texts=TEXTS)


def test_local_save_pretrained_folder_loads_like_a_hub_model(tmp_path):
    """The code path `--base distilgpt2` takes, with a tiny local model instead of the hub."""
    original = load_base("scratch", "tiny", "gpt2")
    original.model.save_pretrained(tmp_path)
    original.tokenizer.save_pretrained(tmp_path)
    loaded = load_base(str(tmp_path))
    assert not loaded.is_scratch and loaded.size is None and loaded.tokenizer_name == "pretrained"
    assert loaded.tokenizer.pad_token_id is not None
    for a, b in zip(original.model.parameters(), loaded.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_folder_without_model_and_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        load_base(str(tmp_path))
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_base(str(tmp_path / "nope" / "model"))


def test_unreachable_hub_fails_fast_naming_the_alternatives(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as err:
        load_base("qabot-test/no-such-model")
    assert time.perf_counter() - start < 10
    assert "--base scratch" in str(err.value) and "save_pretrained" in str(err.value)
