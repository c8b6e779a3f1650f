"""Evaluation of a model on Q&A records: answer-token loss and perplexity, and greedy-generation metrics
(exact match, token F1, ROUGE-L) through the same ``Generator`` the bot answers with.

``evaluate_model`` works on a saved checkpoint (``qabot eval``); ``evaluate_records`` on a model in memory
(the end of training, before the checkpoint is written).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.callbacks import perplexity
from training.checkpoint import SPLIT, CheckpointError, resolve_model_dir
from training.collate import IGNORE_INDEX, encode_records, make_collator
from training.metrics import aggregate, token_f1
from training.prompt import DEFAULT_MAX_NEW_TOKENS
from training.records import Record

SPLITS = ("train", "eval", "all")
EVAL_BATCH_SIZE = 32
RECALL_SAMPLE = 200  # training questions re-asked after training: enough for a stable mean, still quick


def answer_loss(
    model: Any, tokenizer: Any, records: Sequence[Record], batch_size: int = EVAL_BATCH_SIZE
) -> float:
    """Mean cross-entropy per answer token (answer + EOS; the question is context, not scored)."""
    import torch

    if not records:
        return float("nan")
    context = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)
    device = next(model.parameters()).device
    examples = encode_records(records, tokenizer, max_length=context)
    collate = make_collator("pad", tokenizer)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in collate(examples[start : start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            # Token t predicts token t+1: shift, then sum so the mean is over tokens, not batches.
            labels = batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total += float(loss)
            count += int((labels != IGNORE_INDEX).sum())
    model.train(was_training)
    return total / max(count, 1)


def generate_answers(
    generator: Any,
    records: Sequence[Record],
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = EVAL_BATCH_SIZE,
) -> list[Any]:
    """Greedy answers (``Generation`` objects) for every record's question, in order."""
    from training.runtime.generate import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens)
    out: list[Any] = []
    for start in range(0, len(records), batch_size):
        out.extend(generator.generate([r["question"] for r in records[start : start + batch_size]], config))
    return out


def evaluate_records(
    model: Any,
    tokenizer: Any,
    records: Sequence[Record],
    *,
    generator: Any = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    with_details: bool = False,
) -> dict[str, Any]:
    """``{"n", "eval_loss", "perplexity", "exact_match", "f1", "rougeL"}`` for ``records`` (plus
    ``"details"``: question, reference, prediction, confidence, f1 per record, when asked)."""
    if generator is None:
        from training.runtime.generate import Generator

        generator = Generator(model, tokenizer)
    records = list(records)
    loss = answer_loss(model, tokenizer, records)
    generations = generate_answers(generator, records, max_new_tokens)
    predictions = [g.text for g in generations]
    references = [r["answer"] for r in records]
    result: dict[str, Any] = {
        "n": len(records),
        "eval_loss": loss if records else None,
        "perplexity": perplexity(loss) if records else None,
        **aggregate(predictions, references),
    }
    if with_details:
        result["details"] = [
            {
                "question": r["question"],
                "reference": r["answer"],
                "prediction": g.text,
                "confidence": g.confidence,
                "f1": token_f1(g.text, r["answer"]),
            }
            for r, g in zip(records, generations, strict=True)
        ]
    return result


def recall_sample(records: Sequence[Record], n: int = RECALL_SAMPLE, seed: int = 0) -> list[Record]:
    """A fixed random sample of training records, to check the model answers what it was taught."""
    records = list(records)
    if len(records) <= n:
        return records
    return random.Random(seed).sample(records, n)


def read_split(model_dir: Path) -> dict[str, list[Record]]:
    """The checkpoint's recorded ``split.json`` (``{"train": [...], "eval": [...]}``)."""
    path = Path(model_dir) / SPLIT
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CheckpointError(f"{path} is missing") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e})") from e
    return {"train": list(data.get("train", [])), "eval": list(data.get("eval", []))}


def evaluate_model(
    model_dir: str | Path | None = None,
    records: Sequence[Record] | None = None,
    split: str = "eval",
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    precision: str = "fp32",
    with_details: bool = False,
) -> dict[str, Any]:
    """Metrics of a saved checkpoint (default ``models/current``) on ``records``, or, when ``records`` is
    None, on its own recorded ``split`` (train | eval | all)."""
    from training.runtime.generate import Generator

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    real = resolve_model_dir(model_dir)
    if records is None:
        try:
            recorded = read_split(real)
        except CheckpointError as e:
            raise CheckpointError(f"{e}: pass --data to evaluate this model on a dataset") from e
        records = recorded["train"] + recorded["eval"] if split == "all" else recorded[split]
    try:
        generator = Generator.load(real, device="auto", precision=precision)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load the model in {real}: {e}") from e
    result = evaluate_records(
        generator.model,
        generator.tokenizer,
        records,
        generator=generator,
        max_new_tokens=max_new_tokens,
        with_details=with_details,
    )
    return {"model_dir": str(real), "model_version": generator.model_version, "split": split, **result}
