"""Offensive-filter benchmark: benign technical sentences kept, insults caught.

    .venv/bin/python bench/offensive_filter.py [--set tests/training/fixtures/offensive_set.jsonl]

The set is held out: 70 benign sentences from medicine, building, cooking, sports and biology that use
words word lists flag (slope, hemp, fat, oral, erect, test, cock, balls, screw, strip, breast, sex,
kill ...) and 30 insults. The filter's threshold and context rule were chosen on its reference sentences
(``training/data/offensive_references.jsonl``), never on this set. Prints one JSON line: the kept and
caught shares of qabot's filter (classifier + context), of the classifier alone at 0.8 and at qabot's
threshold, and of better-profanity (the old filter) when it is still installed; targets are >= 99% kept
and >= 95% caught.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_KEPT = 0.99
TARGET_CAUGHT = 0.95
CLASSIFIER_ONLY_THRESHOLD = 0.8  # the cut alt-profanity-check is usually run at


def shares(flags: list[bool], labels: list[str]) -> dict:
    """Kept share of the benign texts and caught share of the insults, given one flag per text."""
    benign = [f for f, label in zip(flags, labels, strict=True) if label == "benign"]
    insults = [f for f, label in zip(flags, labels, strict=True) if label == "insult"]
    return {
        "benign_kept": round(1 - sum(benign) / len(benign), 4),
        "insults_caught": round(sum(insults) / len(insults), 4),
        "false_positives": sum(benign),
        "missed": len(insults) - sum(insults),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=ROOT / "tests/training/fixtures/offensive_set.jsonl")
    args = parser.parse_args()

    from training.data.offensive import DEFAULT_THRESHOLD, classifier_scores, offensive_scores

    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line]
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]

    start = time.perf_counter()
    qabot = shares([s is not None for s in offensive_scores(texts)], labels)
    qabot["seconds"] = round(time.perf_counter() - start, 2)
    qabot["threshold"] = DEFAULT_THRESHOLD
    qabot["meets_targets"] = qabot["benign_kept"] >= TARGET_KEPT and qabot["insults_caught"] >= TARGET_CAUGHT
    scores = classifier_scores(texts)
    result = {
        "set": str(args.set.relative_to(ROOT) if args.set.is_relative_to(ROOT) else args.set),
        "benign": labels.count("benign"),
        "insults": labels.count("insult"),
        "targets": {"benign_kept": TARGET_KEPT, "insults_caught": TARGET_CAUGHT},
        "qabot": qabot,
        "classifier_only_0.8": shares([s >= CLASSIFIER_ONLY_THRESHOLD for s in scores], labels),
        f"classifier_only_{DEFAULT_THRESHOLD:g}": shares([s >= DEFAULT_THRESHOLD for s in scores], labels),
    }
    try:
        from better_profanity import profanity
    except ImportError:
        result["better_profanity"] = "not installed (pip install better-profanity to compare)"
    else:
        result["better_profanity"] = shares([profanity.contains_profanity(t) for t in texts], labels)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
