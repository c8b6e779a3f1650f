"""Inference speed and int8 fidelity: the seed's fp32 ``model.generate`` against qabot's answer engine.

    .venv/bin/python bench/inference.py [--model DIR] [--runs 10] [--skip-int8]

1. Batch-1 latency for exactly 50 new tokens on a distilgpt2-size GPT-2 (6 layers x 768, random weights:
   speed does not depend on what the weights say). Seed: fp32 ``model.generate`` (its KV cache on, as the
   seed had it); engine: the bot's whole answer path (``bot.answering.answer_path``: retrieval over the
   example's known questions with the sentence encoder, then ``Generator`` with int8 weights and its lean
   decoder answering the matched question), the two alternating run by run. p50/p95 and ``latency_speedup``.
2. 8 and 32 concurrent askers through the ``Answerer`` (50 tokens each) against the seed answering them
   one by one (timed just before each crowd; median of 3): aggregate tokens/s and
   ``concurrency_speedup_8`` / ``_32``.
3. int8 against fp32 greedy answers on the trained example model (by default a scratch model trained on
   examples/soccer.json in this run, ~90 s; or ``--model DIR``), over the dataset's questions in batches
   of 16: ``int8_identical`` (share of identical answers) and ``int8_token_f1`` (mean token F1 between
   them), split into trained and held-out questions, and as served (fallback below the threshold).
   Then the int8 answers again, each question given its dataset answer as a draft
   (``training.runtime.batching``): ``draft_identical`` (same text and token count; must be 1.0) and
   ``draft_speedup`` (seconds for all the answers without drafts / with them).
4. Memory traffic: weight bytes read per decoding step / step time, against the ~33 GB/s this 2-core
   machine reads (``bandwidth_share``).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import functools
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEW_TOKENS = 50
MEASURED_BANDWIDTH_GBS = 33.0  # read bandwidth measured on the project's 2-core machine (issue 4)
QUESTIONS = [
    "Who won the 2014 World Cup?",
    "How many players does a football team have on the pitch?",
    "What is the offside rule?",
    "Which club has won the most Champions League titles?",
]


def machine() -> str:
    """The CPU model and core count, and torch's threads: what a benchmark line was measured on."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = f"{names[0]} x{len(names)}" if names else cpu
    return f"{cpu}, {torch.get_num_threads()} torch threads"


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def interleaved(fns: list[Any], runs: int) -> list[list[float]]:
    """Seconds per call of each of ``fns``, alternating them run by run, so that a machine that slows down
    or speeds up during the benchmark (a shared VM does) affects every side alike."""
    for fn in fns:
        fn(0)  # warm-up: first-call allocations and kernel selection
    out: list[list[float]] = [[] for _ in fns]
    for i in range(runs):
        for fn, times in zip(fns, out, strict=True):
            start = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - start)
    return out


def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def weight_bytes(model: Any) -> int:
    """Bytes of weights one decoding step reads: every matrix product's weights (int8 or float)."""
    import torch

    from training.runtime.quantize import Int8Linear

    total = 0
    for module in model.modules():
        if isinstance(module, Int8Linear):  # int8 weight + fp32 row sums (+ fp32 bias)
            total += module.in_features * module.out_features
            total += sum(b.numel() * b.element_size() for b in module.buffers(recurse=False))
        elif isinstance(module, torch.nn.Embedding):
            continue  # a lookup reads one row, not the table (a tied lm_head is counted as the Linear)
        else:
            total += sum(p.numel() * p.element_size() for p in module.parameters(recurse=False))
    return total


def latency_and_concurrency(runs: int) -> dict[str, Any]:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from bot.answering import torch_thread
    from bot.answering.answer_path import BatchSettings, answer_batch
    from bot.answering.answerer import Answerer
    from bot.answering.knowledge import Knowledge
    from training.prompt import format_prompt
    from training.retrieval.embedder import Embedder
    from training.retrieval.index import RetrievalIndex
    from training.retrieval.zones import ZoneThresholds
    from training.runtime.generate import GenerationConfig, Generator
    from training.runtime.quantize import quantize_int8
    from training.tokenizer import load_gpt2_tokenizer

    def build() -> tuple[Any, Any]:
        torch.manual_seed(0)
        seed_model = GPT2LMHeadModel(GPT2Config(n_layer=6, n_embd=768, n_head=12)).eval()
        return seed_model, quantize_int8(copy.deepcopy(seed_model))

    # Every torch call of this process on one thread, as in the bot (see bot/answering/torch_thread.py).
    tok = load_gpt2_tokenizer()
    seed_model, engine_model = torch_thread.call(build)
    # The retrieval in front of the engine: the example's questions plus the bench's, every question
    # answered (zones wide open) so each one pays for retrieval and for 50 generated tokens.
    known = json.loads((ROOT / "examples" / "soccer.json").read_text(encoding="utf-8"))
    known += [{"question": q, "answer": "-"} for q in QUESTIONS]
    embedder = torch_thread.call(Embedder.load, "auto")
    index = torch_thread.call(RetrievalIndex.build, known, embedder)
    engine = Generator(engine_model, tok, model_version="bench-6x768", precision="int8", index=index)
    engine.manifest["zones"] = ZoneThresholds(0.0, 0.0, 0.0).to_dict()
    exact = GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    path = BatchSettings(config=exact, zones=engine.zones, threshold=None, fallback="-")
    knowledge = Knowledge(index)

    def seed(i: int) -> None:
        enc = tok(format_prompt(QUESTIONS[i % len(QUESTIONS)]), return_tensors="pt")
        with torch.no_grad():
            out = seed_model.generate(
                **enc,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=tok.eos_token_id,
            )
        assert out.shape[1] - enc["input_ids"].shape[1] == NEW_TOKENS

    def ours(i: int) -> None:
        answer = answer_batch(engine, knowledge, [QUESTIONS[i % len(QUESTIONS)].lower()], path)[0]
        assert answer.tokens == NEW_TOKENS and answer.zone == "answer"

    on_thread = [functools.partial(torch_thread.call, fn) for fn in (seed, ours)]
    seed_s, ours_s = interleaved(on_thread, runs)
    result: dict[str, Any] = {
        "seed_p50_s": round(statistics.median(seed_s), 4),
        "seed_p95_s": round(percentile(seed_s, 0.95), 4),
        "engine_p50_s": round(statistics.median(ours_s), 4),
        "engine_p95_s": round(percentile(ours_s, 0.95), 4),
    }
    result["latency_speedup"] = round(result["seed_p50_s"] / result["engine_p50_s"], 2)
    result["latency_speedup_p95"] = round(result["seed_p95_s"] / result["engine_p95_s"], 2)
    retrieval_s = [torch_thread.call(timed, knowledge.search_many, [q.lower()]) for q in QUESTIONS * 10]
    result["retrieval_p50_ms"] = round(statistics.median(retrieval_s) * 1000, 2)
    result["retrieval_encoder"] = embedder.name if embedder else None

    # One by one, the seed serves NEW_TOKENS per question in its median latency.
    result["seed_tokens_per_s"] = round(NEW_TOKENS / result["seed_p50_s"], 1)

    async def crowd(n: int) -> float:
        async with Answerer(engine, max_batch_size=32, batch_wait_ms=5, timeout_s=600, config=exact,
                            max_new_tokens=NEW_TOKENS) as answerer:  # fmt: skip
            await answerer.answer(QUESTIONS[0])  # warm-up
            start = time.perf_counter()
            answers = await asyncio.gather(*(answerer.answer(f"{QUESTIONS[i % 4]} ({i})") for i in range(n)))
            wall = time.perf_counter() - start
        return sum(a.tokens for a in answers) / wall

    for n in (8, 32):
        rates, ratios = [], []
        for _ in range(3):  # each crowd against the seed timed just before it
            seed_tps = NEW_TOKENS / statistics.median(interleaved(on_thread[:1], 3)[0])
            rates.append(asyncio.run(crowd(n)))
            ratios.append(rates[-1] / seed_tps)
        result[f"engine_tokens_per_s_{n}"] = round(statistics.median(rates), 1)
        result[f"concurrency_speedup_{n}"] = round(statistics.median(ratios), 2)

    # Memory traffic at batch 1: weights read per step / time per step (prefill amortised in; so a floor).
    step_s = result["engine_p50_s"] / NEW_TOKENS
    engine_gbs = weight_bytes(engine_model) / step_s / 1e9
    seed_gbs = weight_bytes(seed_model) / (result["seed_p50_s"] / NEW_TOKENS) / 1e9
    result.update(
        engine_weight_mb=round(weight_bytes(engine_model) / 1e6, 1),
        seed_weight_mb=round(weight_bytes(seed_model) / 1e6, 1),
        engine_ms_per_token=round(step_s * 1000, 2),
        engine_gbs=round(engine_gbs, 1),
        seed_gbs=round(seed_gbs, 1),
        bandwidth_share=round(engine_gbs / MEASURED_BANDWIDTH_GBS, 2),
        bandwidth_bound_ms_per_token=round(
            weight_bytes(engine_model) / (MEASURED_BANDWIDTH_GBS * 1e9) * 1000, 2
        ),
    )
    return result


def trained_model_dir(arg: Path | None, tmp: Path) -> tuple[Path, str]:
    """``--model``, or the example model trained from scratch in this run, as ``make run`` trains it: same
    data and seed every run, in a child process (training on this process's main thread would leave it
    an OpenMP team beside the torch thread's, and every answer timed afterwards slower:
    bot/answering/torch_thread.py; measured here, a decoding step of make run's model 3.3-3.9 ms instead of
    0.55-0.9 ms)."""
    from bot.launcher import train_example
    from training.checkpoint import resolve_model_dir

    if arg is not None:
        return resolve_model_dir(arg), str(arg)
    out = tmp / "run"
    if train_example(ROOT / "examples" / "soccer.json", out, ROOT / "examples" / "soccer_synonyms.json") != 0:
        raise SystemExit("training the example model failed (its messages are above)")
    return resolve_model_dir(out), "scratch model trained on examples/soccer.json in this run"


def int8_fidelity(model_arg: Path | None, limit: int) -> dict[str, Any]:
    """Greedy answers of the same checkpoint loaded in fp32 and in int8, over the dataset's questions."""
    from training.metrics import token_f1
    from training.runtime.generate import GenerationConfig, Generator
    from training.runtime.gptq import INT8_FILE

    with tempfile.TemporaryDirectory(prefix="qabot-bench-") as tmp:
        model_dir, source = trained_model_dir(model_arg, Path(tmp))
        records = json.loads((ROOT / "examples" / "soccer.json").read_text(encoding="utf-8"))
        answers = {}
        for r in records:
            answers.setdefault(r["question"], r["answer"])
        questions = list(answers)[:limit]
        split_file = model_dir / "split.json"
        trained_on = set()
        if split_file.is_file():
            trained_on = {r["question"] for r in json.loads(split_file.read_text(encoding="utf-8"))["train"]}
        # The same checkpoint without its GPTQ file: int8 weights rounded to nearest at load (the baseline).
        rtn_dir = Path(tmp) / "rtn"
        shutil.copytree(model_dir, rtn_dir, ignore=shutil.ignore_patterns(INT8_FILE))
        config = GenerationConfig(max_new_tokens=64)
        out = {}
        for key, folder, precision in (("fp32", model_dir, "fp32"), ("int8", model_dir, "int8"),
                                       ("rtn", rtn_dir, "int8")):  # fmt: skip
            gen = Generator.load(folder, device="cpu", precision=precision)
            start = time.perf_counter()
            out[key] = [g for i in range(0, len(questions), 16)
                        for g in gen.generate(questions[i : i + 16], config)]  # fmt: skip
            if key == "int8":
                plain_s = time.perf_counter() - start
                threshold = gen.confidence_threshold
                weights = (gen.manifest.get("int8") or {}).get("method") or "round-to-nearest at load"
                drafts = [answers[q] for q in questions]
                drafted, draft_s = answers_with_drafts(gen, questions, drafts, config)
    pairs = list(zip(out["fp32"], out["int8"], strict=True))
    rtn_same = sum(a.text == b.text for a, b in zip(out["fp32"], out["rtn"], strict=True))

    def share(keep: list[bool]) -> float | None:
        chosen = [a.text == b.text for (a, b), k in zip(pairs, keep, strict=True) if k]
        return round(sum(chosen) / len(chosen), 4) if chosen else None

    def served(g: Any) -> str:  # what the bot shows: the fallback below the calibrated threshold
        return "<fallback>" if threshold is not None and g.confidence < threshold else g.text

    seen = [q in trained_on for q in questions]
    same = [(a.text, a.tokens) == (b.text, b.tokens) for a, b in zip(out["int8"], drafted, strict=True)]
    return {
        "int8_identical": share([True] * len(pairs)),
        "int8_token_f1": round(sum(token_f1(b.text, a.text) for a, b in pairs) / len(pairs), 4),
        "int8_identical_trained_questions": share(seen),
        "int8_identical_heldout_questions": share([not s for s in seen]),
        "int8_identical_served": round(sum(served(a) == served(b) for a, b in pairs) / len(pairs), 4),
        "int8_questions": len(pairs),
        "int8_identical_round_to_nearest": round(rtn_same / len(pairs), 4),
        "int8_model": source,
        "int8_weights": weights,
        "draft_identical": round(sum(same) / len(same), 4),
        "draft_speedup": round(plain_s / draft_s, 2),
        "draft_answers_s": round(draft_s, 2),
        "no_draft_answers_s": round(plain_s, 2),
    }


def answers_with_drafts(gen: Any, questions: list[str], drafts: list[str], config: Any) -> tuple[list, float]:
    """The same answers with each question's dataset answer as its draft (what the bot gives the model
    for a matched trained question), in the same batches; and the seconds they took."""
    start = time.perf_counter()
    out = [g for i in range(0, len(questions), 16)
           for g in gen.generate(questions[i : i + 16], config, drafts[i : i + 16])]  # fmt: skip
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="trained checkpoint for the int8 check")
    parser.add_argument("--runs", type=int, default=10, help="timed generations per side for latency")
    parser.add_argument("--questions", type=int, default=400, help="questions for the int8 check")
    parser.add_argument("--skip-int8", action="store_true", help="skip the trained-model int8 check")
    args = parser.parse_args()

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    result: dict[str, Any] = {
        "machine": machine(),
        "torch": torch.__version__,
        "new_tokens": NEW_TOKENS,
    }
    result.update(latency_and_concurrency(args.runs))
    if args.skip_int8:
        result["int8_note"] = "skipped (--skip-int8)"
    else:
        result.update(int8_fidelity(args.model, args.questions))
    result["targets_met"] = {
        "latency_speedup>=4": result["latency_speedup"] >= 4,
        "concurrency_speedup_8>=15": result["concurrency_speedup_8"] >= 15,
        "int8_identical>=0.95": result.get("int8_identical", 0) >= 0.95,
        "draft_identical==1": result.get("draft_identical", 0) == 1.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
