"""Builds tiny GPT-2 checkpoints for tests: a few seconds of training, no network.

``build_tiny_checkpoint`` overfits a 2-layer, 64-wide GPT-2 on a handful of Q&A pairs through the real
prompt contract, so generation tests see a model that answers and stops at EOS like a trained one would.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from training.checkpoint import MANIFEST, library_versions, utc_now, write_json
from training.prompt import format_example
from training.tokenizer import load_gpt2_tokenizer

TINY_PAIRS = [
    ("Who won the 2014 World Cup?", "Germany won it."),
    ("How many players are on a team?", "Eleven players."),
    ("What is a hat trick?", "Three goals by one player."),
    # Teaches the model to run on into a new turn, so tests can see generation stop at the marker.
    ("Who runs on?", "Me.\nQuestion: next"),
]


def tiny_model(seed: int = 0, n_positions: int = 128) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=n_positions, vocab_size=50257)
    return GPT2LMHeadModel(config)


def train_tiny(model: GPT2LMHeadModel, tokenizer, pairs=TINY_PAIRS, steps: int = 120) -> GPT2LMHeadModel:
    """Overfit ``pairs`` (loss on the answer only) so greedy decoding reproduces them and stops."""
    rows = []
    for q, a in pairs:
        prompt, completion = format_example(q, a, tokenizer.eos_token)
        p_ids = tokenizer(prompt)["input_ids"]
        c_ids = tokenizer(completion)["input_ids"]
        rows.append((p_ids + c_ids, [-100] * len(p_ids) + c_ids))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([r[0] + [tokenizer.eos_token_id] * (width - len(r[0])) for r in rows])
    labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
    mask = (labels != -100) | (torch.arange(width) < torch.tensor([len(r[0]) for r in rows])[:, None])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask.long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    return model


_shared: dict[str, Path] = {}


def shared_tiny_checkpoint(factory) -> Path:
    """One trained tiny checkpoint per test session (``factory``: pytest's tmp_path_factory); read-only."""
    if "dir" not in _shared:
        _shared["dir"] = build_tiny_checkpoint(factory.mktemp("models") / "tiny-run")
    return _shared["dir"]


def build_tiny_checkpoint(
    folder: Path, *, trained: bool = True, confidence_threshold: float | None = None, seed: int = 0
) -> Path:
    """Write a complete qabot checkpoint folder (model, tokenizer, manifest.json) and return it."""
    tokenizer = load_gpt2_tokenizer()
    model = tiny_model(seed)
    if trained:
        train_tiny(model, tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_json(
        folder / MANIFEST,
        {
            "base": "scratch",
            "size": "tiny-test",
            "tokenizer": "gpt2",
            "dataset": {"records_out": len(TINY_PAIRS)},
            "hyperparameters": {},
            "metrics": {},
            "confidence_threshold": confidence_threshold,
            "versions": library_versions(),
            "created_at": utc_now(),
            "model_version": folder.name,
        },
    )
    return folder
