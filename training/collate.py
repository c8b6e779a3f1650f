"""Turning records into training examples and batches.

Each record becomes ``prompt + completion`` from the prompt contract (``training.prompt.format_example``),
with EOS after the answer. Labels are ``-100`` on the prompt tokens (unless ``loss_on_prompt``), so the loss
is on the answer and its EOS only. Batches are padded dynamically to the longest example in the batch (or
not padded at all, ``flatten``); padding positions get label ``-100`` by *position*, never by comparing to
the pad id: pad = eos here, and the EOS that ends an answer must stay labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.prompt import format_example
from training.records import Record

IGNORE_INDEX = -100  # the label value torch's cross-entropy skips
COLLATORS = ("pad", "flatten")
# bench/train_throughput.py on the 2-core CPU, `small` preset: dynamic padding with length grouping ran
# at ~9,500 real tokens/s, padding-free flattening at ~6,400 (sdpa builds a dense block-diagonal mask over
# the whole flattened row). GPU was not measured (no device); flatten may win there with flash attention.
DEFAULT_COLLATOR = "pad"


def encode_example(
    tokenizer: Any, question: str, answer: str, max_length: int, loss_on_prompt: bool = False
) -> dict[str, list[int]]:
    """Token ids and labels for one record.

    Prompt and completion are tokenized separately, exactly as generation tokenizes the prompt alone and
    continues from it (the completion starts with a space, so byte-level BPE splits there anyway).
    """
    prompt, completion = format_example(question, answer, tokenizer.eos_token)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(answer_ids) > max_length:
        # Keep the end of the prompt (it holds "Answer:") and as much answer as fits; a cut answer loses
        # its EOS, since the model must not learn to stop mid-sentence.
        prompt_ids = prompt_ids[-max(1, max_length // 2) :]
        answer_ids = answer_ids[: max_length - len(prompt_ids)]
    prompt_labels = prompt_ids if loss_on_prompt else [IGNORE_INDEX] * len(prompt_ids)
    return {"input_ids": prompt_ids + answer_ids, "labels": list(prompt_labels) + answer_ids}


def encode_records(
    records: Sequence[Record], tokenizer: Any, max_length: int, loss_on_prompt: bool = False
) -> list[dict[str, list[int]]]:
    """``encode_example`` for every record (a plain list works as a Trainer dataset)."""
    return [
        encode_example(tokenizer, r["question"], r["answer"], max_length, loss_on_prompt) for r in records
    ]


def make_collator(kind: str, tokenizer: Any, on_gpu: bool = False) -> Any:
    """``pad`` (dynamic padding; pair it with length-grouped sampling) or ``flatten`` (padding-free:
    one row per batch, ``position_ids`` restart per example so attention stays within each example)."""
    if kind == "pad":
        from transformers import DataCollatorForSeq2Seq

        # Pads input_ids with the pad id and attention_mask with 0, and labels with -100 by position.
        # Multiples of 8 keep tensor cores busy on GPU; on CPU they would only add padding.
        return DataCollatorForSeq2Seq(
            tokenizer,
            padding="longest",
            label_pad_token_id=IGNORE_INDEX,
            pad_to_multiple_of=8 if on_gpu else None,
            return_tensors="pt",
        )
    if kind == "flatten":
        from transformers import DataCollatorWithFlattening

        return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    raise ValueError(f"unknown collator {kind!r}; choose one of {', '.join(COLLATORS)}")


def count_real_tokens(batch: dict[str, Any]) -> int:
    """Non-padding tokens in a collated batch (what throughput should count)."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())
