"""Label masking and batching: loss on the answer and its EOS only, padding masked by position."""

from __future__ import annotations

import pytest

from training.collate import IGNORE_INDEX, encode_example, encode_records, make_collator
from training.model import train_bpe_tokenizer
from training.prompt import extract_answer, format_prompt
from training.tokenizer import load_gpt2_tokenizer

RECORDS = [
    {"question": "Who won the 2014 World Cup?", "answer": "Germany."},
    {
        "question": "How many players are on a football team at kick-off?",
        "answer": "Eleven players, one keeper.",
    },
]


@pytest.fixture(scope="module", params=["gpt2", "bpe"])
def tokenizer(request):
    if request.param == "gpt2":
        return load_gpt2_tokenizer()
    return train_bpe_tokenizer([r["question"] + " " + r["answer"] for r in RECORDS * 3])


def test_question_tokens_are_masked_and_answer_plus_eos_labelled(tokenizer):
    q, a = RECORDS[0]["question"], RECORDS[0]["answer"]
    ex = encode_example(tokenizer, q, a, max_length=128)
    n_prompt = len(tokenizer(format_prompt(q), add_special_tokens=False)["input_ids"])
    assert ex["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert ex["labels"][n_prompt:] == ex["input_ids"][n_prompt:]
    assert ex["input_ids"][-1] == tokenizer.eos_token_id
    assert ex["labels"][-1] == tokenizer.eos_token_id  # the model must learn to stop


def test_loss_on_prompt_labels_everything(tokenizer):
    ex = encode_example(tokenizer, "Q?", "A.", max_length=64, loss_on_prompt=True)
    assert ex["labels"] == ex["input_ids"]


def test_prompt_contract_round_trip(tokenizer):
    q, a = RECORDS[1]["question"], RECORDS[1]["answer"]
    ex = encode_example(tokenizer, q, a, max_length=128)
    prompt = format_prompt(q)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    # Tokenizing prompt alone (as generation does) gives exactly the training example's prefix.
    assert tokenizer.decode(ex["input_ids"][:n_prompt]) == prompt
    continuation = tokenizer.decode(ex["input_ids"][n_prompt:-1])
    assert extract_answer(continuation) == a


def test_pad_collator_masks_padding_by_position_not_by_pad_id(tokenizer):
    batch = make_collator("pad", tokenizer)(encode_records(RECORDS, tokenizer, max_length=128))
    short = int(batch["attention_mask"].sum(1).argmin())
    n_real = int(batch["attention_mask"][short].sum())
    assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(1).max())  # dynamic, not 512
    assert (batch["labels"][short, n_real:] == IGNORE_INDEX).all()
    assert (batch["input_ids"][short, n_real:] == tokenizer.pad_token_id).all()
    # pad id == eos id, yet the real EOS at the end of the answer keeps its label
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert int(batch["labels"][short, n_real - 1]) == tokenizer.eos_token_id


def test_flatten_collator_keeps_examples_apart(tokenizer):
    examples = encode_records(RECORDS, tokenizer, max_length=128)
    batch = make_collator("flatten", tokenizer)(examples)
    lengths = [len(e["input_ids"]) for e in examples]
    assert batch["input_ids"].shape == (1, sum(lengths))
    assert batch["position_ids"][0, lengths[0]] == 0  # positions restart at the second example
    assert batch["labels"][0, lengths[0]] == IGNORE_INDEX  # no loss across the boundary


def test_too_long_example_keeps_answer_marker_and_drops_eos():
    tok = load_gpt2_tokenizer()
    ex = encode_example(tok, "word " * 100, "answer " * 100, max_length=32)
    assert len(ex["input_ids"]) == 32
    assert "Answer:" in tok.decode(ex["input_ids"])
    assert ex["input_ids"][-1] != tok.eos_token_id
