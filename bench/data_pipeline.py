"""Benchmark: the dataset cleaning pipeline (``training.data.clean_records``) on 100k synthetic Q&A
pairs with planted near-duplicates, and on templated low-vocabulary catalogues.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/data_pipeline.py [--n 100000] [--templated 20000,200000]

Prints one JSON line: seconds (the clean_records call, tokenizer load included), pairs_per_s, and the
recall / precision of duplicate removal on the planted duplicates. Target: <= 30 s on 2 cores with
recall >= 0.9. Base pairs are random sequences of made-up words (so two bases are never alike);
every planted copy differs from its base by typos, an added "please", or case and punctuation,
so each copy is a real near-duplicate that an exact comparison would miss.

``templated`` holds one entry per catalogue size: distinct records from a few templates over small
vocabularies ("How much does the Acme red steel mug cost?", "What is the capacity of Stadium 12?",
"How many goals did Pele score at the 1970 World Cup?"), where each question has many others over 90%
alike that state different facts, plus 5% planted typo copies (no typo in a number). Each is cleaned in
a child process: seconds (clean_records), peak_rss_mb (the child's VmHWM: Python, the corpus, the
offensive filter's models, the tokenizer and the cleaning), facts_kept (distinct records with a copy
left), facts_filtered (of the others, those a filter removes even alone: facts_kept + facts_filtered
must equal distinct) and recall on the copies. Target: 20k records in <= 30 s and <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import time
from typing import Any

from training.data import CleanOptions, clean_records
from training.data.offensive import offensive_scores
from training.data.options import DEFAULT_NEAR_DUP_THRESHOLD
from training.records import Record, make_record

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--n", type=int, default=100_000, help="total pairs, planted copies included")
parser.add_argument("--dup-fraction", type=float, default=0.1, help="share of pairs that are planted copies")
parser.add_argument(
    "--threshold", type=float, default=DEFAULT_NEAR_DUP_THRESHOLD, help="near-duplicate similarity threshold"
)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument(
    "--templated", default="20000,200000", help="templated catalogue sizes, comma-separated ('' skips)"
)
parser.add_argument("--templated-child", type=int, default=0, help=argparse.SUPPRESS)  # one size, in a child

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


def typo(rng: random.Random, text: str, keep_digits: bool = False) -> str:
    i = rng.choice([k for k, c in enumerate(text) if not (keep_digits and c.isdigit())])
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + rng.choice(string.ascii_lowercase) + text[i:]


def near_copy(rng: random.Random, record: Record, keep_digits: bool = False) -> Record:
    """A copy that differs in 1-2 typos, maybe an extra word, and in case/punctuation. ``keep_digits``:
    no typo in a number, which would make it another fact (another stadium's capacity), not a copy."""
    question = record["question"]
    for _ in range(rng.randint(1, 2)):
        question = typo(rng, question, keep_digits)
    if rng.random() < 0.3:
        question = question.rstrip("?") + " please?"
    if rng.random() < 0.5:
        question = question.upper() if rng.random() < 0.5 else question.replace("?", " ?!")
    answer = typo(rng, record["answer"], keep_digits) if rng.random() < 0.5 else record["answer"]
    return make_record(question, answer)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# A catalogue's vocabulary: 20 words of each kind, some a letter apart (mug / rug), as in real ones.
BRANDS = _words(
    "Acme Zenith Orion Apex Nova Vertex Summit Atlas Titan Polar Lumen Cobalt Falcon Harbor Juniper"
)
BRANDS += _words("Keystone Maple Nimbus Onyx Pioneer")
COLOURS = _words("red blue green black white grey yellow orange purple brown pink silver gold navy beige")
COLOURS += _words("teal olive maroon cream ivory")
MATERIALS = _words("steel wooden plastic glass ceramic bamboo leather cotton wool copper brass marble stone")
MATERIALS += _words("paper rubber nylon linen silk oak pine")
ITEMS = _words(
    "mug chair lamp desk kettle bottle table shelf fan clock vase bowl plate stool bench mirror rug"
)
ITEMS += _words("basket jar tray")
PLAYERS = _words(
    "Pele Messi Kane Mbappe Klose Muller Ronaldo Eusebio Fontaine Kocsis Lineker Rossi Batistuta"
)
PLAYERS += _words("Vava Garrincha Jairzinho Kempes Rahn Schiaffino Stabile")
YEARS = range(1930, 2023, 4)
PRODUCTS = len(BRANDS) * len(COLOURS) * len(MATERIALS) * len(ITEMS)  # 160,000
GOALS = len(PLAYERS) * len(YEARS)  # 480


def templated_record(index: int, rng: random.Random) -> Record:
    """Distinct index -> distinct record: products first, then goals, then stadiums."""
    if index < PRODUCTS:
        index, item = divmod(index, len(ITEMS))
        index, material = divmod(index, len(MATERIALS))
        brand, colour = divmod(index, len(COLOURS))
        name = f"{BRANDS[brand]} {COLOURS[colour]} {MATERIALS[material]} {ITEMS[item]}"
        return make_record(
            f"How much does the {name} cost?", f"The {name} costs {rng.randint(5, 99)} dollars."
        )
    index -= PRODUCTS
    if index < GOALS:
        player, year = PLAYERS[index // len(YEARS)], YEARS[index % len(YEARS)]
        return make_record(
            f"How many goals did {player} score at the {year} World Cup?",
            f"{player} scored {rng.randint(0, 13)} goals at the {year} World Cup.",
        )
    number = index - GOALS + 1
    return make_record(
        f"What is the capacity of Stadium {number}?",
        f"Stadium {number} holds {rng.randint(5, 99)},000 people.",
    )


def templated_run(n: int, seed: int) -> dict[str, Any]:
    """Clean a catalogue of n distinct templated records plus 5% planted copies (run in a child)."""
    rng = random.Random(seed)
    # Half products, a tenth goals (as many as there are), the rest stadiums: each question has many
    # others over 90% alike (another item, colour, year or stadium).
    goals = min(n // 10, GOALS)
    picked = [*rng.sample(range(PRODUCTS), n // 2), *range(PRODUCTS, PRODUCTS + goals)]
    picked += range(PRODUCTS + GOALS, PRODUCTS + GOALS + n - len(picked))  # stadiums 1, 2, ...
    bases = [templated_record(i, rng) for i in picked]
    records = [(r, g) for g, r in enumerate(bases)]
    records += [(near_copy(rng, bases[g], keep_digits=True), g) for g in rng.sample(range(n), n // 20)]
    rng.shuffle(records)
    start = time.perf_counter()
    result = clean_records([r for r, _ in records], CleanOptions())
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    scores = _scores(records, result.records)
    # A fact lost to a filter (the offensive classifier flags some product names), not to de-duplication:
    # its record cleaned alone is removed too.
    options = CleanOptions(token_stats=False)
    filtered = sum(not clean_records([bases[g]], options).records for g in scores["groups_lost"])
    return {
        "distinct": n,
        "records": len(records),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak),
        "facts_kept": n - len(scores["groups_lost"]),
        "facts_filtered": filtered,
        "records_out": len(result.records),
        "recall": scores["recall"],
        "removed": {k: v for k, v in result.report.removed.items() if v},
        "kept_apart": {k: v for k, v in result.report.kept_apart.items() if v},
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which exec resets (ru_maxrss keeps the parent's peak
    from before the fork, here the 100k run's)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def templated_in_child(n: int, seed: int) -> dict[str, Any]:
    """``templated_run`` in a fresh interpreter, so that its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--templated-child", str(n), "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scores(records: list[tuple[Record, int]], kept_records: list[Record]) -> dict[str, Any]:
    """Recall / precision of removal on the planted copies (removing all but one record of a group is
    right; removing the last one too is a false positive) and the groups left without a record."""
    kept = {(r["question"], r["answer"]) for r in kept_records}
    group_size: dict[int, int] = {}
    group_removed: dict[int, int] = {}
    for (_record, group), normalized in zip(records, _normalized(records), strict=True):
        group_size[group] = group_size.get(group, 0) + 1
        if normalized not in kept:
            group_removed[group] = group_removed.get(group, 0) + 1
    planted = sum(size - 1 for size in group_size.values())
    removed = sum(group_removed.values())
    true_pos = sum(min(n, group_size[g] - 1) for g, n in group_removed.items())
    return {
        "planted": planted,
        "recall": round(true_pos / planted, 4) if planted else None,
        "precision": round(true_pos / removed, 4) if removed else None,
        "groups_lost": [g for g, size in group_size.items() if group_removed.get(g, 0) == size],
    }


def main() -> None:
    args = parser.parse_args()
    if args.templated_child:
        print(json.dumps(templated_run(args.templated_child, args.seed)))
        return
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

    scores = _scores(records, result.records)
    line = {
        "bench": "data_pipeline",
        "pairs": len(records),
        "planted_duplicates": scores["planted"],
        "seconds": round(seconds, 2),
        "pairs_per_s": round(len(records) / seconds),
        "recall": scores["recall"],
        "precision": scores["precision"],
        "removed": {k: v for k, v in result.report.removed.items() if v},
        "conflicts": result.report.conflicts,
        "templated": [templated_in_child(int(n), args.seed) for n in args.templated.split(",") if n],
    }
    print(json.dumps(line))


def _normalized(records: list[tuple[Record, int]]) -> list[tuple[str, str]]:
    from training.data import normalize_text

    return [(normalize_text(r["question"]), normalize_text(r["answer"])) for r, _ in records]


if __name__ == "__main__":
    main()
