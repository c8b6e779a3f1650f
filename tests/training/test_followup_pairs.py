"""The follow-up pairs of issue 29 (examples/followups.json): schema, every expected question a question
of examples/soccer.json, at least 40 follow-ups split into dev and test, stand-alone questions in both
parts, and no conversation in both parts. Fast: no model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"previous", "question", "expected", "kind", "lang", "part"}


def test_followup_pairs_schema_counts_and_parts() -> None:
    data = json.loads((ROOT / "examples" / "followups.json").read_text(encoding="utf-8"))
    records = json.loads((ROOT / "examples" / "soccer.json").read_text(encoding="utf-8"))
    known = {r["question"] for r in records}
    assert isinstance(data["about"], str) and data["about"]
    pairs = data["pairs"]
    for p in pairs:
        assert set(p) == FIELDS, p
        assert p["kind"] in ("followup", "standalone") and p["part"] in ("dev", "test"), p
        assert p["lang"] in ("en", "pt", "es", "fr"), p
        assert p["previous"].strip() and p["question"].strip(), p
        assert all(e in known for e in p["expected"]), p  # exactly a question of soccer.json
        assert p["kind"] == "standalone" or p["expected"], p  # a follow-up always has an answer
    counts = Counter((p["kind"], p["part"]) for p in pairs)
    assert counts["followup", "dev"] + counts["followup", "test"] >= 40, counts
    assert min(counts.values()) >= 10 and len(counts) == 4, counts
    conversations = Counter((p["previous"].lower(), p["question"].lower()) for p in pairs)
    assert max(conversations.values()) == 1  # none asked twice, so none in both parts


def test_followup_confirmation_set_is_new_and_well_formed() -> None:
    """examples/followups_confirm.json: the same schema, part 'confirm' only (reported, never tuned on), at
    least 40 follow-ups and 15 stand-alone questions, and no conversation of examples/followups.json."""
    data = json.loads((ROOT / "examples" / "followups_confirm.json").read_text(encoding="utf-8"))
    old = json.loads((ROOT / "examples" / "followups.json").read_text(encoding="utf-8"))["pairs"]
    records = json.loads((ROOT / "examples" / "soccer.json").read_text(encoding="utf-8"))
    known = {r["question"] for r in records}
    pairs = data["pairs"]
    for p in pairs:
        assert set(p) == FIELDS and p["part"] == "confirm", p
        assert p["kind"] in ("followup", "standalone") and p["lang"] in ("en", "pt", "es", "fr"), p
        assert all(e in known for e in p["expected"]), p
        assert p["kind"] == "standalone" or p["expected"], p
    counts = Counter(p["kind"] for p in pairs)
    assert counts["followup"] >= 40 and counts["standalone"] >= 15, counts
    conversations = Counter((p["previous"].lower(), p["question"].lower()) for p in pairs + old)
    assert max(conversations.values()) == 1
