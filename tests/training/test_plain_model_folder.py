"""`Generator.load` and `qabot ask --model` on a plain `save_pretrained` folder: no manifest, a warning,
default thresholds, named after its folder; and a folder without a tokenizer is a clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.tiny_checkpoint import tiny_model
from training.checkpoint import CheckpointError
from training.retrieval.zones import ZoneThresholds
from training.runtime.generate import GenerationConfig, Generator
from training.tokenizer import load_gpt2_tokenizer


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hub") / "someones-model"
    tiny_model(n_positions=64).save_pretrained(folder)
    load_gpt2_tokenizer().save_pretrained(folder)
    return folder


def test_generator_loads_a_plain_folder_with_defaults(plain: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        generator = Generator.load(plain, precision="fp32")
    assert generator.model_version == "someones-model" and generator.manifest == {}
    assert generator.confidence_threshold is None and generator.zones == ZoneThresholds()
    assert generator.index is None
    assert "no manifest.json" in caplog.text
    [result] = generator.generate(["What is offside?"], GenerationConfig(max_new_tokens=4))
    assert result.tokens == 4 and result.model_version == "someones-model"


def test_ask_accepts_a_plain_folder(plain: Path) -> None:
    result = CliRunner().invoke(
        app, ["ask", "--model", str(plain), "--precision", "fp32", "What is offside?"]
    )
    assert result.exit_code == 0, result.output


def test_a_folder_without_its_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "weights-only"
    tiny_model(n_positions=64).save_pretrained(folder)
    with pytest.raises(CheckpointError, match="tokenizer"):
        Generator.load(folder, precision="fp32")
