"""A checkpoint works in plain transformers as qabot serves it: greedy generation config with stop strings,
``model_max_length`` = the context, a chat template that renders the prompt, a model card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.tiny_checkpoint import TINY_PAIRS, tiny_model
from tests.training.portable_support import MAX_NEW_TOKENS, shared_portable_checkpoint
from tests.training.train_support import tiny_config, write_dataset
from training.interop import prepare_for_transformers
from training.prompt import STOP_STRINGS, extract_answer, format_answer, format_prompt
from training.runtime.generate import GenerationConfig, Generator
from training.tokenizer import load_gpt2_tokenizer

QUESTIONS = ["What is offside?", "  padded question?  ", "two\nlines", "braces {{ x }} and {% y %}", "é ü ß"]


@pytest.fixture(scope="module")
def tokenizer():
    tok = load_gpt2_tokenizer()
    prepare_for_transformers(tiny_model(n_positions=96), tok, MAX_NEW_TOKENS)
    return tok


@pytest.fixture(scope="module")
def portable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_portable_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def pipe(portable: Path):
    from transformers import pipeline

    return pipeline("text-generation", model=str(portable))


@pytest.mark.parametrize("question", QUESTIONS)
def test_chat_template_renders_the_training_prompt(tokenizer, question: str) -> None:
    user = [{"role": "user", "content": question}]
    rendered = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    assert rendered == format_prompt(question)
    turn = [{"role": "system", "content": "ignored"}, *user, {"role": "assistant", "content": " An answer. "}]
    full = tokenizer.apply_chat_template(turn, tokenize=False)
    assert full == format_prompt(question) + format_answer(" An answer. ", tokenizer.eos_token)


def test_chat_template_marks_the_answer_for_assistant_only_loss(tokenizer) -> None:
    messages = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "The answer."}]
    out = tokenizer.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    answer = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(answer) == format_answer("The answer.", tokenizer.eos_token)


def test_generation_config_and_context_are_qabots() -> None:
    model, tok = tiny_model(n_positions=96), load_gpt2_tokenizer()
    prepare_for_transformers(model, tok, 33)
    g = model.generation_config
    assert g.do_sample is False and g.max_new_tokens == 33 and g.stop_strings == list(STOP_STRINGS)
    assert g.eos_token_id == g.pad_token_id == tok.eos_token_id
    assert tok.model_max_length == 96 and tok.truncation_side == "left"


@pytest.mark.slow
def test_pipeline_answers_as_the_generator_does(portable: Path, pipe) -> None:
    generator = Generator.load(portable, precision="fp32")
    questions = [q for q, _ in TINY_PAIRS]
    expected = [
        g.text for g in generator.generate(questions, GenerationConfig(max_new_tokens=MAX_NEW_TOKENS))
    ]
    assert (
        expected[:3] == [a for _, a in TINY_PAIRS[:3]] and expected[3] == "Me."
    )  # the last one hits a stop string
    # The tokenizer is passed because transformers applies stop strings only with it.
    for question, answer in zip(questions, expected, strict=True):
        chat = pipe([{"role": "user", "content": question}], tokenizer=pipe.tokenizer)
        assert extract_answer(chat[0]["generated_text"][-1]["content"]) == answer
        text = pipe(format_prompt(question), tokenizer=pipe.tokenizer, return_full_text=False)
        assert extract_answer(text[0]["generated_text"]) == answer


@pytest.mark.slow
def test_over_long_prompt_is_named_and_hole_keeps_its_end(portable: Path, pipe, caplog) -> None:
    from transformers.utils import logging as hf_logging

    # transformers warns about an over-long input once per tokenizer, and only at warning verbosity: an
    # in-process `python -m training` run earlier in the session sets it to error, and the pipeline call
    # below would then use up the one warning silently.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    hf_logging.enable_propagation()
    try:
        tok = pipe.tokenizer
        context = pipe.model.config.n_positions
        assert tok.model_max_length == context
        prompt = format_prompt("Who won the 2014 World Cup? " * 60)
        ids = tok(prompt, truncation=True)["input_ids"]
        assert len(ids) == context and tok.decode(ids).endswith("\nAnswer:")  # the end is what matters
        with caplog.at_level(logging.WARNING):
            n = len(tok(prompt)["input_ids"])
        assert f"maximum sequence length for this model ({n} > {context})" in caplog.text
        # The pipeline's own remedy, which needs model_max_length: keep the end, leave room for the answer.
        out = pipe(prompt, tokenizer=tok, return_full_text=False, handle_long_generation="hole")
        assert isinstance(out[0]["generated_text"], str)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.disable_propagation()  # transformers' default


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.train import train

    data = write_dataset(tmp_path_factory.mktemp("data") / "cup.json")
    return train(tiny_config(data, tmp_path_factory.mktemp("models") / "run-portable"))


@pytest.mark.slow
def test_trained_checkpoint_carries_decoding_context_template_and_card(trained: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    manifest = json.loads((trained / "manifest.json").read_text())
    context = json.loads((trained / "config.json").read_text())["n_positions"]
    g = GenerationConfig.from_pretrained(trained)
    assert g.do_sample is False and g.max_new_tokens == 12 and g.stop_strings == list(STOP_STRINGS)
    tok = AutoTokenizer.from_pretrained(trained)
    assert tok.model_max_length == context == manifest["context"]
    user = [{"role": "user", "content": "What is VAR?"}]
    assert tok.apply_chat_template(user, add_generation_prompt=True, tokenize=False) == format_prompt(
        "What is VAR?"
    )
    # The template itself, with a real newline (JSON escapes it once, never as a literal backslash-n).
    assert manifest["prompt_template"] == f"Question: {{question}}\nAnswer: {{answer}}{tok.eos_token}"
    assert manifest["zones"] and manifest["retrieval"]["records"] == 24
    report = json.loads((trained / "data_report.json").read_text())
    assert report["tokens"]["tokenizer"] == "bpe" and report["tokens"]["context"] == context
    assert report["tokens_gpt2"]["tokenizer"] == "gpt2"
    card = (trained / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: text-generation\n")
    for expected in (manifest["dataset"]["sha256"], "## Intended use and limits", "pipeline(", "qabot ask",
                     "answer_score", "Question: {question}", "tokenizer=pipe.tokenizer"):  # fmt: skip
        assert expected in card, expected


def test_model_card_lists_only_the_metrics_a_run_recorded() -> None:
    """--recall-sample 0 records no recall metrics: the card leaves them out instead of failing."""
    from training.model_card import render_model_card

    card = render_model_card({"model_version": "run", "metrics": {"f1": 0.25, "eval_n": 4, "steps": 2}})
    assert "| f1 | 0.25" in card and "recall_f1" not in card
