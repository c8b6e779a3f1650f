"""Quality benchmark: `make run`'s default model (scratch GPT-2 on examples/soccer.json, all defaults)
must answer its training questions (recall token F1 >= 0.9) after at most 3 minutes of training on a
2-core CPU.

    .venv/bin/python bench/quality.py [--data examples/soccer.json] [--size small]

Prints one JSON line: f1 (recall token F1 on the training questions), seconds (wall time of the whole
`train()` call: data pipeline, tokenizer, training, evaluation, checkpoint), plus context.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_F1 = 0.9
TARGET_SECONDS = 180.0


def casual_recall(model_dir: Path, n: int = 200) -> dict[str, float]:
    """Recall when people type the trained questions casually ("who won in 2014"), as the bot serves."""
    from training.data.variants import casual_forms
    from training.generate import GenerationConfig, Generator
    from training.metrics import token_f1

    train_recs = json.loads((model_dir / "split.json").read_text(encoding="utf-8"))["train"][:n]
    gen = Generator.load(model_dir)  # the serving precision (int8 on CPU)
    questions = [(casual_forms(r["question"]) or [r["question"]])[-1] for r in train_recs]
    answers = [g for i in range(0, len(questions), 16)
               for g in gen.generate(questions[i : i + 16], GenerationConfig())]  # fmt: skip
    threshold = gen.confidence_threshold or 0.0
    return {
        "f1": round(
            sum(token_f1(a.text, r["answer"]) for a, r in zip(answers, train_recs, strict=True)) / n, 4
        ),
        "answered": round(sum(a.confidence >= threshold for a in answers) / n, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "examples" / "soccer.json", help="dataset file")
    parser.add_argument("--size", default="small", help="scratch size preset")
    args = parser.parse_args()

    import torch
    import transformers

    from training.config import TrainConfig
    from training.train import train

    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory(prefix="qabot-quality-") as tmp:
        config = TrainConfig(data=[args.data], base="scratch", size=args.size, out=Path(tmp) / "run",
                             progress="json")  # fmt: skip
        start = time.perf_counter()
        out = train(config, emit=lambda event: None)
        seconds = time.perf_counter() - start
        manifest = json.loads((out / "manifest.json").read_text())
        casual = casual_recall(out)
    metrics = manifest["metrics"]
    print(json.dumps({
        "f1": round(metrics["recall_f1"], 4),
        "seconds": round(seconds, 1),
        "exact_match": round(metrics["recall_exact_match"], 4),
        "train_seconds": metrics["train_seconds"],
        "eval_f1": round(metrics.get("f1", 0.0), 4),
        "eval_loss": round(metrics.get("eval_loss") or 0.0, 4),
        "recall_n": metrics["recall_n"],
        "casual_f1": casual["f1"],  # the same training questions typed lower-case without the '?'
        "casual_answered": casual["answered"],  # share of those above the confidence threshold (served)
        "steps": metrics["steps"],
        "size": args.size,
        "tokenizer": manifest["tokenizer"],
        "vocab_size": manifest["vocab_size"],
        "parameters": manifest["parameters"],
        "threads": torch.get_num_threads(),
        "target_met": metrics["recall_f1"] >= TARGET_F1 and seconds <= TARGET_SECONDS,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
