"""Training throughput: the seed recipe against `qabot train`'s pipeline, same data, same GPT-2 configs.

    .venv/bin/python bench/train_throughput.py [--seed-steps 3] [--data examples/soccer.json]

Seed recipe (DESIGN's list of faults): "Question: q\\nAnswer: a" without EOS, padded to 512, labels =
input_ids (pads and question included), batch 8, lr 3e-5. Ours: the prompt contract with EOS, labels on
the answer only, dynamic padding with length-grouped batches, the scratch defaults' batch size, learning
rate and schedule (``training.train``'s own TrainingArguments). Within each part below both recipes use
the same tokenizer and GPT-2 config, so only the recipe differs; both run through HF Trainer.

1. Throughput at distilgpt2's size (6x768) with GPT-2's tokenizer: a few steps of each recipe; real
   (non-pad) tokens per second, the first step excluded as warm-up. ``ratio`` = ours / seed.
2. Loss race at the ``small`` preset with the dataset-trained BPE (what ``--base scratch`` uses): both
   recipes train on the same number of real tokens (one epoch's worth by default), then the
   answer-token loss on the eval split: ``eval_loss_seed`` vs ``eval_loss_ours``. (At distilgpt2's size
   a seed step takes about a minute on 2 CPU cores, so a meaningful token budget would take an hour.)
   The padding-free collator (``flatten``) runs the same budget for the collator comparison.
One JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED_LENGTH, SEED_BATCH, SEED_LR = 512, 8, 3e-5
EVAL_RECORDS = 32


class CountingCollator:
    """Wraps a collator and records the real (attention-masked) tokens of every batch."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.tokens = inner, []

    def __call__(self, features: list[Any]) -> dict[str, Any]:
        from training.collate import count_real_tokens

        batch = self.inner(features)
        self.tokens.append(count_real_tokens(batch))
        return batch


def _timer(counter: CountingCollator, budget: int | None) -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Step end times; stops training once ``budget`` real tokens were seen."""

        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            self.ends.append(time.perf_counter())
            if budget is not None and sum(counter.tokens) >= budget:
                control.should_training_stop = True

        def tokens_per_s(self) -> float:
            steps = len(self.ends)
            if steps < 2:
                return float("nan")
            return sum(counter.tokens[1:steps]) / (self.ends[-1] - self.ends[0])

    return StepTimer()


def seed_dataset(records: list[dict], tokenizer: Any) -> list[dict]:
    rows = []
    for r in records:
        enc = tokenizer(f"Question: {r['question']}\nAnswer: {r['answer']}", padding="max_length",
                        max_length=SEED_LENGTH, truncation=True)  # fmt: skip
        rows.append({**enc, "labels": list(enc["input_ids"])})
    return rows


def seed_collate(features: list[dict]) -> dict[str, Any]:
    import torch

    return {k: torch.tensor([f[k] for f in features]) for k in ("input_ids", "attention_mask", "labels")}


def run(
    recipe: str, arch: dict, tokenizer: Any, train_recs: list, eval_recs: list, steps: int,
    budget: int | None, work: Path,
) -> dict[str, Any]:  # fmt: skip
    """Train a fresh GPT-2 of ``arch`` with one recipe; throughput, real tokens, steps, eval loss."""
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from training.collate import encode_records, make_collator
    from training.config import TrainConfig
    from training.evaluate import answer_loss
    from training.train import _training_arguments

    set_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                                       bos_token_id=tokenizer.eos_token_id, **arch))  # fmt: skip
    if recipe == "seed":
        dataset, collator = seed_dataset(train_recs, tokenizer), CountingCollator(seed_collate)
        args = TrainingArguments(output_dir=str(work / recipe), per_device_train_batch_size=SEED_BATCH,
                                 learning_rate=SEED_LR, max_steps=steps, use_cpu=True, report_to="none",
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True)  # fmt: skip
    else:
        kind = "flatten" if recipe == "flatten" else "pad"
        config = TrainConfig(base="scratch", max_steps=steps, collator=kind, progress="json").resolved()
        dataset = encode_records(train_recs, tokenizer, SEED_LENGTH)
        collator = CountingCollator(make_collator(kind, tokenizer))
        args = _training_arguments(config, work / recipe, len(dataset), has_eval=False)
        args.save_strategy, args.logging_strategy = "no", "no"
    timer = _timer(collator, budget)
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[timer]
    )
    trainer.remove_callback(PrinterCallback)  # it prints the final stats dict to stdout
    trainer.train()
    return {
        "tokens_per_s": timer.tokens_per_s(),
        "real_tokens": sum(collator.tokens),
        "steps": len(timer.ends),
        "eval_loss": answer_loss(trainer.model, tokenizer, eval_recs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "examples" / "soccer.json")
    parser.add_argument("--seed-steps", type=int, default=2, help="seed steps, distilgpt2 size (>= 2)")
    parser.add_argument("--ours-steps", type=int, default=6, help="our steps, distilgpt2 size (>= 2)")
    parser.add_argument("--loss-epochs", type=float, default=1.0, help="real-token budget of the loss race")
    args = parser.parse_args()

    import torch
    import transformers

    from training.config import SCRATCH_DEFAULTS
    from training.data import prepare_dataset, split_records
    from training.model import SIZES, train_bpe_tokenizer
    from training.prompt import format_example
    from training.tokenizer import load_gpt2_tokenizer

    transformers.logging.set_verbosity_error()
    records = prepare_dataset([args.data]).records
    train_recs, eval_recs = split_records(records)
    eval_recs = eval_recs[:EVAL_RECORDS]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result: dict[str, Any] = {"device": device, "threads": torch.get_num_threads()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qabot-bench-") as tmp:
        work = Path(tmp)
        # 1. Throughput at distilgpt2's size with GPT-2's tokenizer (the seed's model), a few steps each.
        gpt2 = load_gpt2_tokenizer()
        arch = SIZES["distilgpt2"]
        seed = run("seed", arch, gpt2, train_recs, eval_recs, args.seed_steps, None, work)
        ours = run("ours", arch, gpt2, train_recs, eval_recs, args.ours_steps, None, work)
        result["distilgpt2"] = {"seed": seed, "ours": ours}
        result["ratio"] = ours["tokens_per_s"] / seed["tokens_per_s"]
        # 2. Loss race at the `small` preset with the dataset-trained BPE (`qabot train --base scratch`'s
        # defaults): both recipes see the same number of real tokens (~--loss-epochs of the train split).
        texts = ["".join(format_example(r["question"], r["answer"], "")) for r in train_recs]
        bpe = train_bpe_tokenizer(texts)
        arch = SIZES["small"]
        per_epoch = sum(len(bpe(t)["input_ids"]) + 1 for t in texts)
        budget = int(per_epoch * args.loss_epochs)
        seed_steps = math.ceil(budget / (per_epoch / len(texts) * SEED_BATCH)) + 2  # the budget stops it
        seed = run("seed", arch, bpe, train_recs, eval_recs, seed_steps, budget, work)
        ours_batch = int(SCRATCH_DEFAULTS["batch_size"])
        cap = math.ceil(budget / (per_epoch / len(texts) * ours_batch)) + 2  # the budget stops it first
        ours = run("ours", arch, bpe, train_recs, eval_recs, cap, budget, work)
        flat = run("flatten", arch, bpe, train_recs, eval_recs, cap, budget, work)
        result["small"] = {"seed": seed, "ours": ours, "ratio": ours["tokens_per_s"] / seed["tokens_per_s"],
                           "flatten_tokens_per_s": flat["tokens_per_s"]}  # fmt: skip
    result["eval_loss_seed"] = result["small"]["seed"]["eval_loss"]
    result["eval_loss_ours"] = result["small"]["ours"]["eval_loss"]
    result["collator"] = {
        "pad_tokens_per_s": ours["tokens_per_s"],
        "flatten_tokens_per_s": flat["tokens_per_s"],
    }
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(_rounded(result)))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    main()
