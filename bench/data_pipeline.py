"""Benchmark: the dataset cleaning pipeline (``training.data.clean_records``) on 100k synthetic Q&A
pairs with planted near-duplicates.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/data_pipeline.py [--n 100000] [--seed 0]

Prints one JSON line: seconds (the clean_records call, tokenizer load included), pairs_per_s, and the
recall / precision of duplicate removal on the planted duplicates. Target: <= 30 s on 2 cores with
recall >= 0.9. Base pairs are random sequences of made-up words (so two bases are never alike);
every planted copy differs from its base by typos, a dropped or added word, or case and punctuation,
so each copy is a real near-duplicate that an exact comparison would miss.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time

from training.data import CleanOptions, clean_records
from training.data.offensive import offensive_scores
from training.records import Record, make_record

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--n", type=int, default=100_000, help="total pairs, planted copies included")
parser.add_argument("--dup-fraction", type=float, default=0.1, help="share of pairs that are planted copies")
parser.add_argument("--threshold", type=float, default=0.9, help="near-duplicate similarity threshold")
parser.add_argument("--seed", type=int, default=0)

OPENERS = ("what is", "who was", "how many", "when did", "why does", "where is", "which", "how do")
# English letter frequencies (per 1000), so made-up words share letter n-grams about as often as
# English words do.
LETTER_WEIGHTS = dict(
    zip(
        string.ascii_lowercase,
        (82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10, 24, 2, 20, 1),
        strict=True,
    )
)


def make_vocab(rng: random.Random, size: int = 20000) -> list[str]:
    letters, weights = list(LETTER_WEIGHTS), list(LETTER_WEIGHTS.values())
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        # Scored in batches (one call per word would take minutes); kept words keep the filters out of
        # the measurement.
        drawn = ("".join(rng.choices(letters, weights, k=rng.randint(2, 9))) for _ in range(size))
        batch = [w for w in drawn if not (w in seen or seen.add(w))]
        flags = offensive_scores(batch)
        words += [w for w, flag in zip(batch, flags, strict=True) if flag is None]
    return sorted(words[:size])


def base_pair(rng: random.Random, vocab: list[str]) -> Record:
    question = f"{rng.choice(OPENERS)} {' '.join(rng.choices(vocab, k=rng.randint(5, 10)))}?"
    answer = " ".join(rng.choices(vocab, k=rng.randint(6, 18))).capitalize() + "."
    return make_record(question.capitalize(), answer)


def typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + rng.choice(string.ascii_lowercase) + text[i:]


def near_copy(rng: random.Random, record: Record) -> Record:
    """A copy that differs in 1-2 typos, maybe an extra word, and in case/punctuation."""
    question = record["question"]
    for _ in range(rng.randint(1, 2)):
        question = typo(rng, question)
    if rng.random() < 0.3:
        question = question.rstrip("?") + " please?"
    if rng.random() < 0.5:
        question = question.upper() if rng.random() < 0.5 else question.replace("?", " ?!")
    answer = typo(rng, record["answer"]) if rng.random() < 0.5 else record["answer"]
    return make_record(question, answer)


def main() -> None:
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocab = make_vocab(rng)
    n_copies = int(args.n * args.dup_fraction)
    bases = [base_pair(rng, vocab) for _ in range(args.n - n_copies)]
    records = [(r, g) for g, r in enumerate(bases)]
    for _ in range(n_copies):
        group = rng.randrange(len(bases) // 10)  # copies cluster on 10% of bases, some get several
        records.append((near_copy(rng, bases[group]), group))
    rng.shuffle(records)

    start = time.perf_counter()
    result = clean_records([r for r, _ in records], CleanOptions(near_dup_threshold=args.threshold))
    seconds = time.perf_counter() - start

    kept = {(r["question"], r["answer"]) for r in result.records}
    group_size: dict[int, int] = {}
    group_removed: dict[int, int] = {}
    for (_record, group), normalized in zip(records, _normalized(records), strict=True):
        group_size[group] = group_size.get(group, 0) + 1
        if normalized not in kept:
            group_removed[group] = group_removed.get(group, 0) + 1
    planted = sum(size - 1 for size in group_size.values())
    removed = sum(group_removed.values())
    # Removing all but one record of a group is right; removing the last one too is a false positive.
    true_pos = sum(min(n, group_size[g] - 1) for g, n in group_removed.items())
    line = {
        "bench": "data_pipeline",
        "pairs": len(records),
        "planted_duplicates": planted,
        "seconds": round(seconds, 2),
        "pairs_per_s": round(len(records) / seconds),
        "recall": round(true_pos / planted, 4) if planted else None,
        "precision": round(true_pos / removed, 4) if removed else None,
        "removed": {k: v for k, v in result.report.removed.items() if v},
        "conflicts": result.report.conflicts,
    }
    print(json.dumps(line))


def _normalized(records: list[tuple[Record, int]]) -> list[tuple[str, str]]:
    from training.data import normalize_text

    return [(normalize_text(r["question"]), normalize_text(r["answer"])) for r, _ in records]


if __name__ == "__main__":
    main()
