"""qabot's `sft` / `kto` / `dpo` exports train in TRL without glue: each trainer runs two steps on CPU,
offline, on a tiny qabot checkpoint, sees exactly qabot's prompt (through the chat template), and the
folder TRL saves serves with `Generator.load` like any model folder."""

from __future__ import annotations

from pathlib import Path

import pytest

trl = pytest.importorskip("trl", reason="trl is not installed (pip install -e '.[dev]' adds it)")

from storage.db import dispose, open_store  # noqa: E402
from storage.export import export_dataset  # noqa: E402
from tests.storage.seed import seed  # noqa: E402
from tests.training.portable_support import shared_portable_checkpoint  # noqa: E402
from training.prompt import format_answer, format_prompt  # noqa: E402
from training.runtime.generate import GenerationConfig, Generator  # noqa: E402

TRAINERS = {
    "sft": ("SFTTrainer", "SFTConfig", {"assistant_only_loss": True}),
    "kto": ("KTOTrainer", "KTOConfig", {}),
    "dpo": ("DPOTrainer", "DPOConfig", {}),
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    factory = open_store(f"sqlite:///{folder / 'q.db'}")
    try:
        seed(factory)
        paths = {fmt: folder / f"{fmt}.jsonl" for fmt in TRAINERS}
        for fmt, path in paths.items():
            assert export_dataset(factory, fmt, path) > 0
    finally:
        dispose(factory)
    return paths


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def _trainer(fmt: str, checkpoint: Path, data: Path, out: Path):
    from datasets import load_dataset
    from transformers import AutoTokenizer

    trainer_name, config_name, extra = TRAINERS[fmt]
    args = getattr(trl, config_name)(
        output_dir=str(out),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-4,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        **extra,
    )
    return getattr(trl, trainer_name)(
        model=str(checkpoint),
        args=args,
        train_dataset=load_dataset("json", data_files=str(data), split="train"),
        processing_class=AutoTokenizer.from_pretrained(checkpoint),
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(TRAINERS))
def test_trl_trains_on_the_export_in_qabots_prompt(fmt, exports, tmp_path, tmp_path_factory) -> None:
    checkpoint = shared_portable_checkpoint(tmp_path_factory)
    trainer = _trainer(fmt, checkpoint, exports[fmt], tmp_path / "trl")
    tok = trainer.processing_class
    row = trainer.train_dataset[0]  # the export's columns plus TRL's tokenization of them
    if fmt == "sft":  # the whole conversation, rendered by the chat template
        user, assistant = row["messages"]
        text = format_prompt(user["content"]) + format_answer(assistant["content"], tok.eos_token)
        assert tok.decode(row["input_ids"]) == text
    else:  # prompt and answers tokenized apart: the prompt is qabot's, each answer + EOS follows it
        question = row["prompt"][0]["content"]
        assert tok.decode(row["prompt_ids"]) == format_prompt(question)
        for key in ("completion", "chosen", "rejected"):
            if key in row:
                expected = format_answer(row[key][0]["content"], tok.eos_token)
                assert tok.decode(row[f"{key}_ids"]) == expected
    result = trainer.train()
    assert result.global_step == 2
    if fmt == "sft":  # a model trained elsewhere with TRL serves like any save_pretrained folder
        trainer.save_model(str(tmp_path / "trl-sft"))
        generator = Generator.load(tmp_path / "trl-sft", precision="fp32")
        assert generator.model_version == "trl-sft" and generator.manifest == {}
        [answer] = generator.generate(["What is a hat-trick?"], GenerationConfig(max_new_tokens=8))
        assert answer.tokens >= 1
