"""Continuous batching: rows joining and leaving a running batch answer exactly as they would alone."""

from __future__ import annotations

import random

import pytest
import torch

from tests.tiny_checkpoint import TINY_PAIRS, shared_tiny_checkpoint, tiny_model
from training.runtime.batching import DecodedRow, DraftStats
from training.runtime.generate import GenerationConfig, Generator
from training.runtime.quantize import quantize_int8
from training.tokenizer import load_gpt2_tokenizer

QUESTIONS = [q for q, _ in TINY_PAIRS] + [
    "A much longer question that needs a lot more padding than the others do?",
    "Hi?",
    "Which club has won the most titles in the history of the competition so far?",
]


@pytest.fixture(scope="module")
def untrained() -> Generator:
    """Random weights: never says EOS, so every row runs to its own token limit."""
    return Generator(tiny_model(seed=1), load_gpt2_tokenizer())


def alone(gen: Generator, question: str, config: GenerationConfig) -> list[int]:
    prompt = gen.encode_question(question, config.max_new_tokens)
    return gen._decode([prompt], config, 0.0)[0].ids


def run_staggered(
    gen: Generator,
    config: GenerationConfig,
    plan: list[tuple[int, int, int]],
    slots: int = 2,
    drafts: dict[int, list[int]] | None = None,
) -> dict:
    """``plan``: (step at which it joins, question index, own token limit), ``drafts``: by plan key.
    Steps until every row is done; returns key -> (ids, reason)."""
    batch = gen.batch(config, slots=slots)
    out: dict[int, tuple[list[int], str]] = {}
    step = 0
    pending = sorted(enumerate(plan), key=lambda p: p[1][0])
    while pending or len(batch):
        joining = [(key, q, limit) for key, (at, q, limit) in pending if at <= step]
        pending = [p for p in pending if p[1][0] > step]
        if joining:
            prompts = [
                (key, gen.encode_question(QUESTIONS[q], config.max_new_tokens)) for key, q, _ in joining
            ]
            own = [(drafts or {}).get(key) for key, *_ in joining]
            batch.add(prompts, max_new_tokens=[limit for *_, limit in joining], drafts=own)
        for key, row in batch.step():
            out[key] = (row.ids, row.reason)
        step += 1
    return out


def test_rows_joining_midway_decode_as_they_would_alone(untrained: Generator) -> None:
    config = GenerationConfig(max_new_tokens=20)
    rng = random.Random(3)
    # Rows join at many different steps with different limits, so the cache fills, frees slots, grows
    # and drops the columns no live row uses any more.
    plan = [(rng.randrange(0, 40), rng.randrange(len(QUESTIONS)), rng.randrange(3, 21)) for _ in range(24)]
    out = run_staggered(untrained, config, plan)
    assert sorted(out) == list(range(len(plan)))
    expected = {q: alone(untrained, QUESTIONS[q], config) for _, q, _ in plan}
    for key, (_, q, limit) in enumerate(plan):
        ids, reason = out[key]
        assert reason == "length" and len(ids) == limit  # random weights never stop on their own
        assert ids == expected[q][:limit]


def test_a_stream_of_rows_beside_long_ones(untrained: Generator) -> None:
    """Rows keep arriving for many more steps than the cache is long: it moves its live columns to the
    left edge (in place, or into bigger tensors) instead of growing for ever, and no answer changes."""
    config = GenerationConfig(max_new_tokens=30)
    plan = [(0, 3, 30), (25, 5, 30), (50, 6, 30)] + [
        (2 * i, i % len(QUESTIONS), 4 + i % 5) for i in range(45)
    ]
    out = run_staggered(untrained, config, plan, slots=8)
    expected = {q: alone(untrained, QUESTIONS[q], config) for _, q, _ in plan}
    for key, (_, q, limit) in enumerate(plan):
        assert out[key][0] == expected[q][:limit]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_trained_answers_identical_whatever_joins_them(
    tmp_path_factory: pytest.TempPathFactory, precision: str
) -> None:
    gen = Generator.load(shared_tiny_checkpoint(tmp_path_factory), precision=precision)
    config = GenerationConfig(max_new_tokens=24)
    plan = [(at, q, 24) for at, q in [(0, 0), (0, 4), (1, 1), (3, 2), (3, 5), (4, 3), (9, 0), (10, 6)]]
    out = run_staggered(gen, config, plan)
    for key, (_, q, _) in enumerate(plan):
        assert out[key][0] == alone(gen, QUESTIONS[q], config)
    # The trained ones answer what they were taught and stop on their own (EOS, or the stop marker).
    first = gen.finish(DecodedRow(out[0][0], [0.0] * len(out[0][0]), out[0][1], 0.0))
    assert first.text == TINY_PAIRS[0][1]
    runs_on = gen.finish(DecodedRow(out[5][0], [0.0] * len(out[5][0]), out[5][1], 0.0))
    assert out[5][1] == "stop" and runs_on.text == "Me."


def test_dropped_rows_leave_and_the_others_go_on(untrained: Generator) -> None:
    config = GenerationConfig(max_new_tokens=12)
    batch = untrained.batch(config)
    batch.add([(k, untrained.encode_question(QUESTIONS[k], 12)) for k in range(4)])
    batch.step()
    batch.drop([1, 3])
    assert sorted(batch.keys) == [0, 2]
    done: dict = {}
    while len(batch):
        done.update(batch.step())
    assert sorted(done) == [0, 2]
    for k in (0, 2):
        assert done[k].ids == alone(untrained, QUESTIONS[k], config)


def test_other_architectures_take_rows_only_when_empty(untrained: Generator) -> None:
    slow = Generator(untrained.model, untrained.tokenizer, fast=False)
    config = GenerationConfig(max_new_tokens=6)
    batch = slow.batch(config)
    prompt = slow.encode_question("Hi?", 6)
    batch.add([("a", prompt)])
    assert not batch.can_join
    with pytest.raises(RuntimeError, match="cannot add rows"):
        batch.add([("b", prompt)])
    while len(batch):
        (key, row), *_ = batch.step() or [(None, None)]
    assert batch.can_join and key == "a"
    assert row.ids == alone(untrained, "Hi?", config)


def test_int8_rows_joining_midway(untrained: Generator) -> None:
    torch.manual_seed(0)
    gen = Generator(quantize_int8(tiny_model(seed=2)), untrained.tokenizer, precision="int8")
    config = GenerationConfig(max_new_tokens=10)
    out = run_staggered(gen, config, [(0, 0, 10), (2, 3, 10), (2, 4, 6), (5, 1, 10)])
    for key, q in enumerate([0, 3, 4, 1]):
        assert out[key][0] == alone(gen, QUESTIONS[q], config)[: len(out[key][0])]


def test_answer_drafts_change_no_answer(untrained: Generator) -> None:
    """Rows joining midway with drafts of their answers: right ones (said in the join's pass), ones
    right for a while (the rest taken back, the row decodes on from there), wrong ones, none."""
    config = GenerationConfig(max_new_tokens=16)
    rng = random.Random(5)
    plan = [(rng.randrange(0, 20), rng.randrange(len(QUESTIONS)), rng.randrange(4, 17)) for _ in range(16)]
    expected = {q: alone(untrained, QUESTIONS[q], config) for _, q, _ in plan}
    drafts = {}
    for key, (_, q, limit) in enumerate(plan):
        own = expected[q][:limit]
        kind = key % 4
        if kind == 1:  # right up to a random token
            cut = rng.randrange(len(own))
            own = own[:cut] + [(own[cut] + 1) % 50257] + own[cut + 1 :]
        elif kind == 2:
            own = [(t + 7) % 50257 for t in own]
        if kind != 3:
            drafts[key] = own
    out = run_staggered(untrained, config, plan, slots=4, drafts=drafts)
    for key, (_, q, limit) in enumerate(plan):
        assert out[key] == (expected[q][:limit], "length")


def test_a_right_draft_is_said_in_the_join_step(tmp_path_factory: pytest.TempPathFactory) -> None:
    gen = Generator.load(shared_tiny_checkpoint(tmp_path_factory))
    config = GenerationConfig(max_new_tokens=24)
    plain = gen.generate([q for q, _ in TINY_PAIRS], config)
    batch = gen.batch(config)
    prompts = [(i, gen.encode_question(q, 24)) for i, (q, _) in enumerate(TINY_PAIRS)]
    batch.add(prompts, drafts=[gen.draft_ids(a) for _, a in TINY_PAIRS])
    done = dict(batch.step())  # one forward pass: every answer said, through EOS or the stop marker
    assert sorted(done) == list(range(len(TINY_PAIRS))) and not len(batch)
    for i, gen_plain in enumerate(plain):
        got = gen.finish(done[i])
        assert (got.text, got.tokens) == (gen_plain.text, gen_plain.tokens)
        assert got.confidence == pytest.approx(gen_plain.confidence, abs=1e-5)
    assert gen.finish(done[3]).text == "Me."  # stopped at the marker inside its draft


def test_drafts_a_model_keeps_refusing_stop_but_for_probes(untrained: Generator) -> None:
    gen = Generator(untrained.model, untrained.tokenizer)
    config = GenerationConfig(max_new_tokens=4)
    offered = 0
    for _ in range(40):
        batch = gen.batch(config)
        batch.add([(0, gen.encode_question("Hi?", 4))], drafts=[[11, 12, 13, 14]])
        before = gen.draft_stats.share
        batch.step()
        offered += gen.draft_stats.share != before  # the share moves only when a draft was checked
        while len(batch):
            batch.step()
    assert gen.draft_stats.share < DraftStats.MIN_SHARE
    assert 4 <= offered <= 4 + 40 // DraftStats.PROBE_EVERY + 1
