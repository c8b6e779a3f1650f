"""qabot's int8 engine against CTranslate2 int8 on the same model, and the memory bandwidth each uses.

    .venv/bin/python bench/ctranslate2_peer.py [--runs 10] [--threads N] [--bandwidth-mib 1024]

Needs the bench-only extra: ``pip install -e ".[bench]"`` (ctranslate2; never a runtime dependency).

1. The distilgpt2-size GPT-2 of ``bench/inference.py`` (6 layers x 768, random weights, seed 0: speed does not
   depend on what the weights say). Ours: ``quantize_int8`` + ``Generator(precision="int8")``; peer: the same
   model saved with ``save_pretrained`` and converted by CTranslate2's ``TransformersConverter`` to int8,
   run by ``ctranslate2.Generator`` (``compute_type="int8"``, one batch at a time, as many threads as torch)
   in a process of its own: in ours, its threads slowed our engine 2.2x after its first call (0.18 -> 0.40 s
   for 50 tokens on a 2-core Xeon, for as long as its ``Generator`` existed), which made earlier runs of this
   benchmark compare a handicapped engine.
2. Batch-1 latency for exactly 50 new tokens (greedy, EOS suppressed) and 8-way throughput (8 prompts in one
   call), the two engines alternating run by run after a warm-up; the same prompt tokens on both sides.
   p50/p95, ``batch1_speedup_vs_ct2`` (ct2 p50 / ours p50) and ``batch8_throughput_vs_ct2`` (tokens/s ratio).
3. Memory bandwidth share at batch 1: weight bytes one decoding step reads / the time of one decoding step
   ((p50 for 50 tokens - p50 for 1 token) / 49: prefill excluded), against read bandwidths measured in this
   run: a buffer much larger than the last-level cache (DRAM) and one the size of the weights (which a large
   last-level cache may hold between steps).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEW_TOKENS = 50
BATCH = 8
TARGET = 1.2  # issue 13: at least 1.2x CTranslate2 at batch 1 and at 8-way throughput
QUESTIONS = [
    "Who won the 2014 World Cup?",
    "How many players does a football team have on the pitch?",
    "What is the offside rule?",
    "Which club has won the most Champions League titles?",
    "How long is a football match?",
    "What happens when a player gets a red card?",
    "Who is the all-time top scorer of the World Cup?",
    "When is a penalty kick given?",
]
MISSING = 'ctranslate2 is not installed: this benchmark needs the bench extra, pip install -e ".[bench]"'


from bench.inference import interleaved, machine, percentile, weight_bytes  # noqa: E402


def ct2_weight_bytes(model: Any) -> int:
    """Bytes of weights one CTranslate2 int8 decoding step reads, counted on the fp32 model it was converted
    from: every matrix (the tied lm_head included) as int8 plus one fp32 scale per output row; biases and
    layer norms fp32; embedding tables not counted (a lookup reads one row)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            continue
        for name, p in module.named_parameters(recurse=False):
            if name == "weight" and isinstance(module, torch.nn.Linear):
                total += p.numel() + p.shape[0] * 4
            elif name == "weight" and isinstance(module, Conv1D):  # weight [in, out]
                total += p.numel() + p.shape[1] * 4
            else:
                total += p.numel() * p.element_size()
    return total


def read_bandwidth_gbs(mib: int, repeats: int = 5) -> float:
    """GB/s of a torch sum over a float32 buffer of ``mib`` MiB (best of ``repeats``, after one warm-up)."""
    import torch

    buf = torch.ones(mib * 2**20 // 4, dtype=torch.float32)
    passes = max(1, 1024 // mib)  # small buffers: several passes per timing, so timer noise stays small
    buf.sum()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(passes):
            buf.sum()
        best = min(best, (time.perf_counter() - start) / passes)
    return buf.numel() * 4 / best / 1e9


def serve_peer(conn: Any, ct2_dir: str, threads: int) -> None:
    """The CTranslate2 side, in its own process: loads the model, says its compute type, then generates
    for each ``(batch of prompt tokens, new tokens)`` it receives and answers the lengths; None ends it."""
    import ctranslate2

    peer = ctranslate2.Generator(
        ct2_dir, device="cpu", compute_type="int8", inter_threads=1, intra_threads=threads
    )
    conn.send(peer.compute_type)
    while (message := conn.recv()) is not None:
        batch, new = message
        results = peer.generate_batch(
            batch, max_length=new, min_length=new, sampling_topk=1, include_prompt_in_result=False
        )
        conn.send([len(r.sequences_ids[0]) for r in results])


def run(runs: int, bandwidth_mib: int) -> dict[str, Any]:
    import ctranslate2
    import torch
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    from training.prompt import format_prompt
    from training.runtime.generate import GenerationConfig, Generator
    from training.runtime.quantize import quantize_int8
    from training.tokenizer import load_gpt2_tokenizer

    load_before = os.getloadavg()[0]
    threads = torch.get_num_threads()
    tok = load_gpt2_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=6, n_embd=768, n_head=12)).eval()
    ours_model = quantize_int8(copy.deepcopy(model))
    ours = Generator(ours_model, tok, model_version="bench-6x768", precision="int8")

    with tempfile.TemporaryDirectory(prefix="qabot-ct2-") as tmp:
        hf_dir, ct2_dir = Path(tmp) / "hf", Path(tmp) / "ct2"
        model.save_pretrained(hf_dir)
        tok.save_pretrained(hf_dir)
        start = time.perf_counter()
        ctranslate2.converters.TransformersConverter(str(hf_dir)).convert(str(ct2_dir), quantization="int8")
        convert_s = time.perf_counter() - start
        context = multiprocessing.get_context("spawn")
        conn, child_conn = context.Pipe()
        peer = context.Process(target=serve_peer, args=(child_conn, str(ct2_dir), threads), daemon=True)
        peer.start()
        compute_type = conn.recv()  # the model is loaded into the peer's memory: the folder may go

    # The same prompt tokens on both sides: the Q&A template the engine wraps a question in.
    prompt_ids = [tok(format_prompt(q), add_special_tokens=False)["input_ids"] for q in QUESTIONS]
    prompt_tokens = [tok.convert_ids_to_tokens(ids) for ids in prompt_ids]

    def ours_fn(n: int, new: int) -> Any:
        config = GenerationConfig(max_new_tokens=new, min_new_tokens=new)

        def call(i: int) -> None:
            qs = [QUESTIONS[(i + j) % len(QUESTIONS)] for j in range(n)]
            answers = ours.generate(qs, config)
            assert all(a.tokens == new for a in answers), [a.tokens for a in answers]

        return call

    def peer_fn(n: int, new: int) -> Any:
        def call(i: int) -> None:
            conn.send(([prompt_tokens[(i + j) % len(QUESTIONS)] for j in range(n)], new))
            lengths = conn.recv()
            assert all(length == new for length in lengths), lengths

        return call

    with torch.inference_mode():
        ours1, peer1 = interleaved([ours_fn(1, NEW_TOKENS), peer_fn(1, NEW_TOKENS)], runs)
        ours8, peer8 = interleaved([ours_fn(BATCH, NEW_TOKENS), peer_fn(BATCH, NEW_TOKENS)], runs)
        ours_first, peer_first = interleaved([ours_fn(1, 1), peer_fn(1, 1)], runs)
    conn.send(None)
    peer.join(timeout=60)
    dram_gbs = read_bandwidth_gbs(bandwidth_mib)
    ours_bytes, peer_bytes = weight_bytes(ours_model), ct2_weight_bytes(model)
    cache_gbs = read_bandwidth_gbs(max(1, round(ours_bytes / 2**20)))

    def stats(name: str, times: list[float]) -> dict[str, float]:
        return {
            f"{name}_p50_s": round(statistics.median(times), 4),
            f"{name}_p95_s": round(percentile(times, 0.95), 4),
        }

    result: dict[str, Any] = {
        "machine": machine(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "ctranslate2": ctranslate2.__version__,
        "ct2_compute_type": compute_type,
        "ct2_process": "its own (spawned), commands through a pipe",
        "ct2_conversion": f"TransformersConverter(quantization='int8'), {convert_s:.1f} s",
        "model": "GPT-2 6x768 (distilgpt2 size), random weights, seed 0",
        "new_tokens": NEW_TOKENS,
        "runs": runs,
        # Other work on the machine slows both engines, ours (hundreds of small ops a step) the most.
        "load_avg_1min_before": round(load_before, 2),
        "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }
    for name, times in (
        ("ours_batch1", ours1),
        ("ct2_batch1", peer1),
        ("ours_batch8", ours8),
        ("ct2_batch8", peer8),
    ):
        result.update(stats(name, times))
    result["ours_batch8_tokens_per_s"] = round(BATCH * NEW_TOKENS / statistics.median(ours8), 1)
    result["ct2_batch8_tokens_per_s"] = round(BATCH * NEW_TOKENS / statistics.median(peer8), 1)
    result["batch1_speedup_vs_ct2"] = round(statistics.median(peer1) / statistics.median(ours1), 3)
    result["batch1_speedup_vs_ct2_p95"] = round(percentile(peer1, 0.95) / percentile(ours1, 0.95), 3)
    result["batch8_throughput_vs_ct2"] = round(
        result["ours_batch8_tokens_per_s"] / result["ct2_batch8_tokens_per_s"], 3
    )

    # Bandwidth at batch 1: one decoding step (prefill taken out) reads every weight once.
    result["dram_read_gbs"] = round(dram_gbs, 1)
    result["dram_buffer_mib"] = bandwidth_mib
    result["weight_sized_read_gbs"] = round(cache_gbs, 1)
    for name, full, first, nbytes in (
        ("ours", ours1, ours_first, ours_bytes),
        ("ct2", peer1, peer_first, peer_bytes),
    ):
        step_s = (statistics.median(full) - statistics.median(first)) / (NEW_TOKENS - 1)
        gbs = nbytes / step_s / 1e9
        result[f"{name}_first_token_p50_s"] = round(statistics.median(first), 4)
        result[f"{name}_ms_per_token"] = round(statistics.median(full) / NEW_TOKENS * 1000, 2)
        result[f"{name}_decode_ms_per_step"] = round(step_s * 1000, 2)
        result[f"{name}_weight_mb"] = round(nbytes / 1e6, 1)
        result[f"{name}_gbs"] = round(gbs, 1)
        result[f"{name}_bandwidth_share"] = round(gbs / dram_gbs, 3)
        result[f"{name}_weight_sized_read_share"] = round(gbs / cache_gbs, 3)
    result["targets_met"] = {
        f"batch1_speedup_vs_ct2>={TARGET}": result["batch1_speedup_vs_ct2"] >= TARGET,
        f"batch8_throughput_vs_ct2>={TARGET}": result["batch8_throughput_vs_ct2"] >= TARGET,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed generations per side and batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch and ct2 threads (default: torch's)")
    parser.add_argument(
        "--bandwidth-mib",
        type=int,
        default=1024,
        help="buffer for the DRAM read bandwidth (>> last-level cache)",
    )
    args = parser.parse_args()
    if importlib.util.find_spec("ctranslate2") is None:
        sys.exit(MISSING)

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    print(json.dumps(run(args.runs, args.bandwidth_mib)))


if __name__ == "__main__":
    main()
