"""bench/community.py end to end on a tiny checkpoint and a short script: it replays through the real
handlers and prints every figure it promises (the numbers themselves are the bench's, not the test's)."""

from __future__ import annotations

import argparse
import json

import pytest

from bench.community import main_async

SCRIPT = {
    "unknown": [
        {"ask": "what colour is the referee's dog?", "answer": "There is no dog. Really.", "how": "reply",
         "where": "channel", "later": ["referee dog colour?"]},
        {"ask": "how heavy is a futsal ball?", "answer": "About 420 g.", "how": "tick_asker",
         "where": "forum", "later": []},
        {"ask": "who was the first black player for england?", "answer": "Viv Anderson.", "how": "command",
         "where": "channel", "later": []},
    ],
    "known": ["who won the 2014 world cup", "what is a hat trick"],
    "chatter": ["thanks!", "+1", "that match was mad"],
}  # fmt: skip
PAIRS = {
    "pairs": [
        {"previous": "who won the 2014 world cup", "question": "and 2018?", "expected": [],
         "kind": "followup", "part": "dev"},
        {"previous": "what is a hat trick", "question": "what is a brace?", "expected": [],
         "kind": "standalone", "part": "test"},
    ]
}  # fmt: skip


@pytest.mark.slow
async def test_the_community_bench_replays_a_script_and_reports_every_figure(tiny_checkpoint, tmp_path):
    (tmp_path / "script.json").write_text(json.dumps(SCRIPT), encoding="utf-8")
    (tmp_path / "pairs.json").write_text(json.dumps(PAIRS), encoding="utf-8")
    args = argparse.Namespace(
        model=tiny_checkpoint, script=tmp_path / "script.json", followups=tmp_path / "pairs.json", trust=False
    )
    out = await main_async(args)
    for key in ("closed_without_teach", "rewordings_answered_at_once", "chatter_replies_per_message",
                "chatter_escalations_per_message", "chatter_before", "followups", "targets"):  # fmt: skip
        assert key in out
    assert out["chatter_messages"] >= len(SCRIPT["chatter"])
    assert set(out["followups"]) == {"dev", "test"}
    json.dumps(out)  # one JSON line
