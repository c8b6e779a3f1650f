"""Duplicate removal: exact duplicates by comparison key (with a conflict policy), then near-duplicates.

Exact: records whose questions share a ``comparison_key`` are one question. If their answers also share
a key they are plain duplicates; if not, the question is a *conflict* and the policy picks the answer
kept: ``first`` or ``last`` occurrence, or the ``longest`` answer.

Near: two records are near-duplicates when both their questions and their answers are at least
``threshold`` similar (rapidfuzz's normalized Indel similarity on comparison keys), hold the same
numbers, and do not differ in a name or a word (``training.data.facts``: the questions' words, and the
answers' yes / no, negations and number words): "How many goals did Pele score at the 1958 World Cup?"
is 96% like the 1970 one and another fact. Candidate pairs come from MinHash LSH over the questions'
character 5-grams (signatures and banding computed with numpy), within blocks of equal numbers, each
record meeting at most WINDOW others per band: memory and time grow linearly even when every question is
like thousands of others (a templated catalogue).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from training.data.facts import (
    DIFFERENCES,
    NUMBER,
    NUMBER_RUN,
    QuestionFacts,
    Vocabulary,
    fact_difference,
    numbers_of,
    question_facts,
)
from training.data.options import CONFLICT_POLICIES, DEFAULT_NEAR_DUP_THRESHOLD
from training.records import Record

# 21 bands of 3 rows: a pair of questions whose 5-gram sets have Jaccard similarity 0.5 becomes a
# candidate with probability 1 - (1 - 0.5**3)**21 = 0.94, at 0.6 with 0.99 (one typo in a 60-character
# question leaves ~0.85); verification then applies the real threshold, so these trade only speed
# for recall.
NUM_PERM = 64
BANDS, ROWS = 21, 3
# Character 5-grams: short enough that one typo changes only five of them, long enough that two
# unrelated questions rarely share many (3-grams such as "the" and "ing" are everywhere).
SHINGLE = 5
# In a band bucket each record meets the next WINDOW records in alphabetical order of the questions: a
# small bucket is compared in full, while one that holds thousands of templated questions ("How much does
# the Acme red mug cost?" and every other brand, colour and item) costs WINDOW comparisons per record
# instead of one per member. A mistyped copy sorts next to its original unless the typo is early in the
# question, and then it still meets it in the bands its typo did not touch.
WINDOW = 8
VERIFY_CHUNK = 1 << 18  # candidate pairs similarity-checked per rapidfuzz call
APART_EXAMPLES = 5
CLUSTER_CHECKS = 8  # records already merged into a kept one that a newcomer is checked against


@dataclass
class ExactResult:
    keep: list[int]  # indices into the input, in input order
    duplicates: list[tuple[int, int]]  # (removed index, kept index)
    conflicts: list[tuple[int, list[int]]] = field(default_factory=list)  # (kept, dropped indices)


def dedupe_exact(
    records: Sequence[Record], question_keys: Sequence[str], answer_keys: Sequence[str], policy: str = "first"
) -> ExactResult:
    """Keep one record per question key; a question whose records disagree on the answer is a conflict."""
    if policy not in CONFLICT_POLICIES:
        raise ValueError(f"conflict policy must be one of {', '.join(CONFLICT_POLICIES)}, not {policy!r}")
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(question_keys):
        groups.setdefault(key, []).append(i)
    keep: list[int] = []
    result = ExactResult(keep, [])
    for members in groups.values():
        if len(members) == 1:
            keep.append(members[0])
            continue
        if policy == "first":
            kept = members[0]
        elif policy == "last":
            kept = members[-1]
        else:  # longest answer; the earliest among equals
            kept = max(members, key=lambda i: (len(records[i]["answer"]), -i))
        keep.append(kept)
        result.duplicates.extend((i, kept) for i in members if i != kept)
        dropped = [i for i in members if answer_keys[i] != answer_keys[kept]]
        if dropped:
            result.conflicts.append((kept, dropped))
    keep.sort()
    return result


# Odd 64-bit constants for mixing code points into a shingle hash (from splitmix64 / Murmur3's fmix64).
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_CHUNK = 1 << 14  # shingles per block while applying permutations: 4 MB, stays in cache


def _shingle_hashes(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, starts): 64-bit hashes of every key's character SHINGLE-grams (keys padded with a
    space on each side so word edges count, and to at least one shingle), and the index in ``hashes``
    where each key's shingles begin."""
    padded = [f" {k} ".ljust(SHINGLE) for k in keys]
    # All keys in one UTF-32 buffer, separated by NUL (which normalized text never holds), so the
    # shingles of every key are hashed in a few array operations.
    cps = np.frombuffer("\0".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    width = len(cps) - SHINGLE + 1
    valid = np.ones(width, dtype=bool)
    h = np.zeros(width, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around multiplication is the point of the mixing
        for offset in range(SHINGLE):
            window = cps[offset : offset + width]
            valid &= window != 0  # shingles that span a NUL belong to no key
            h = (h ^ window) * _MIX[offset % len(_MIX)]
        h ^= h >> np.uint64(31)
        h *= _MIX[1]
        h ^= h >> np.uint64(29)
    counts = np.fromiter((len(p) - SHINGLE + 1 for p in padded), dtype=np.int64, count=len(padded))
    return h[valid], np.cumsum(counts) - counts


def minhash_signatures(keys: Sequence[str], num_perm: int = NUM_PERM, seed: int = 1) -> np.ndarray:
    """An (n, num_perm) uint32 array: MinHash signatures of each key's set of character 5-grams.

    Permutation k maps a 32-bit shingle hash h to a_k * h + b_k mod 2**32 (a_k odd, so a bijection on
    already well-mixed hashes; datasketch's "affine32" scheme). All keys are done at once with numpy,
    in cache-sized blocks: datasketch's per-key MinHash objects cost ~100 us each, which at 100k
    records was most of the pipeline's time."""
    if not keys:
        return np.empty((0, num_perm), dtype=np.uint32)
    hashes, starts = _shingle_hashes(keys)
    hashes = (hashes >> np.uint64(32)).astype(np.uint32)
    ends = np.r_[starts[1:], len(hashes)]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**31, size=num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32)
    sigs = np.empty((len(keys), num_perm), dtype=np.uint32)
    # Blocks of whole keys holding about _CHUNK shingles each.
    cuts = np.searchsorted(ends, np.arange(_CHUNK, len(hashes), _CHUNK))
    key_bounds = sorted({0, len(keys), *cuts.tolist()})
    blocks = list(zip(key_bounds[:-1], key_bounds[1:], strict=True))
    buffer = np.empty((max(ends[k1 - 1] - starts[k0] for k0, k1 in blocks), num_perm), np.uint32)
    for k0, k1 in blocks:
        lo, hi = starts[k0], ends[k1 - 1]
        permuted = buffer[: hi - lo]
        np.multiply(hashes[lo:hi, None], a, out=permuted)
        np.add(permuted, b, out=permuted)
        sigs[k0:k1] = np.minimum.reduceat(permuted, starts[k0:k1] - lo, axis=0)
    return sigs


def candidate_pairs(
    sigs: np.ndarray, blocks: np.ndarray | None = None, rank: np.ndarray | None = None
) -> np.ndarray:
    """Pairs (i, j), i < j, of rows that agree on every row of at least one band and share a block
    (``blocks``: an id per row; rows in different blocks never pair); shape (m, 2).

    Within a band's bucket each row meets only the WINDOW rows after it in ``rank`` order (the questions'
    alphabetical order), so a bucket of b rows yields at most WINDOW * b pairs, never b**2 / 2."""
    n = len(sigs)
    blocks = np.zeros(n, dtype=np.uint64) if blocks is None else blocks.astype(np.uint64)
    rank = np.arange(n) if rank is None else rank
    weights = np.asarray(_MIX, dtype=np.uint64)[np.arange(ROWS) % len(_MIX)] + np.arange(
        ROWS, dtype=np.uint64
    )
    codes = np.empty(0, dtype=np.int64)  # i * n + j of each distinct pair found so far
    for band in range(BANDS):
        with np.errstate(over="ignore"):  # one 64-bit value per band; a rare collision only adds a pair
            bucket = (sigs[:, band * ROWS : (band + 1) * ROWS] * weights).sum(axis=1, dtype=np.uint64)
            bucket ^= blocks * _MIX[2]
        order = np.lexsort((rank, bucket))
        ranked = bucket[order]
        found = [codes]
        for step in range(1, min(WINDOW, n - 1) + 1):
            same = np.flatnonzero(ranked[step:] == ranked[:-step])
            i, j = order[same], order[same + step]
            found.append(np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j))
        codes = np.concatenate(found)
        codes.sort()  # merged band by band (sort, then drop repeats): memory stays O(pairs found)
        first = np.ones(len(codes), dtype=bool)
        first[1:] = codes[1:] != codes[:-1]
        codes = codes[first]
    return np.stack([codes // n, codes % n], axis=1)


@dataclass
class NearResult:
    keep: list[int]
    duplicates: list[tuple[int, int, float]]  # (removed index, kept index it resembles, similarity)
    # Pairs kept although alike (training.data.facts), by difference: a kept question that is an earlier
    # kept one with other numbers (such pairs are never compared), or a compared pair alike enough to
    # merge that differs in a name or word; and the first few of each as (earlier index, later index,
    # question similarity, difference).
    apart: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIFFERENCES, 0))
    apart_examples: list[tuple[int, int, float, str]] = field(default_factory=list)

    def keep_apart(self, i: int, j: int, similarity: float, difference: str) -> None:
        self.apart[difference] += 1
        if self.apart[difference] <= APART_EXAMPLES:
            self.apart_examples.append((i, j, similarity, difference))


def dedupe_near(
    question_keys: Sequence[str],
    answer_keys: Sequence[str],
    threshold: float = DEFAULT_NEAR_DUP_THRESHOLD,
    questions: Sequence[str] | None = None,
) -> NearResult:
    """Drop each record that is a near-duplicate of an earlier kept one (greedy, in input order): its
    question and answer both at least ``threshold`` alike, with the same numbers, and its question the
    same in names and words (``training.data.facts``).

    ``questions`` (the normalized texts, for their capitals) lets names count as facts; without them
    only numbers and words do."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], not {threshold}")
    n = len(question_keys)
    result = NearResult(list(range(n)), [])
    if n < 2 or threshold >= 1.0:
        return result
    # Records whose questions or answers hold other numbers state other facts ("Stadium 13"; "holds 9,000"),
    # so they need never meet: one LSH block per pair of number tuples.
    numbers = [numbers_of(k) for k in question_keys]
    block_ids: dict[tuple[tuple[str, ...], ...], int] = {}
    blocks = np.fromiter(
        (
            block_ids.setdefault((q, numbers_of(a)), len(block_ids))
            for q, a in zip(numbers, answer_keys, strict=True)
        ),
        np.int64,
        count=n,
    )
    rank = np.empty(n, dtype=np.int64)
    rank[sorted(range(n), key=question_keys.__getitem__)] = np.arange(n)
    pairs = candidate_pairs(minhash_signatures(question_keys), blocks, rank)
    facts = _Facts(question_keys if questions is None else questions, question_keys, answer_keys)
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for i, j, similarity in _alike(question_keys, answer_keys, pairs, threshold):
        if difference := facts.difference(i, j):
            result.keep_apart(i, j, similarity, difference)
        else:
            neighbours.setdefault(j, []).append((i, similarity))
    removed: dict[int, tuple[int, float]] = {}
    merged: dict[int, list[int]] = {}  # kept index -> the records merged into it
    for j in sorted(neighbours):
        # j goes only if it resembles an earlier record that is itself kept, so chains A~B~C where A
        # and C differ keep C; and only if it is plainly the same fact as those merged into that one
        # before it (a mistyped "ilver" may resemble both "silver" and "olive": it takes one of them).
        for i, similarity in sorted(neighbours[j]):
            others = merged.get(i, [])[:CLUSTER_CHECKS]
            if i not in removed and not any(facts.difference(k, j, spelling=False) for k in others):
                removed[j] = (i, similarity)
                merged.setdefault(i, []).append(j)
                break
    result.keep = [i for i in range(n) if i not in removed]
    result.duplicates = [(j, i, s) for j, (i, s) in sorted(removed.items())]
    _count_number_variants(question_keys, numbers, result)
    return result


class _Facts:
    """Each question's facts (its answer's included), worked out when it first meets a similar one."""

    def __init__(self, questions: Sequence[str], keys: Sequence[str], answer_keys: Sequence[str]) -> None:
        self.questions, self.keys, self.answer_keys = questions, keys, answer_keys
        self.vocabulary = Vocabulary(keys)
        self.known: dict[int, QuestionFacts] = {}

    def of(self, i: int) -> QuestionFacts:
        if i not in self.known:
            self.known[i] = question_facts(self.questions[i], self.keys[i], self.answer_keys[i])
        return self.known[i]

    def difference(self, i: int, j: int, spelling: bool = True) -> str | None:
        return fact_difference(self.of(i), self.of(j), self.vocabulary, spelling)


def _alike(
    question_keys: Sequence[str], answer_keys: Sequence[str], pairs: np.ndarray, threshold: float
) -> Iterator[tuple[int, int, float]]:
    """(i, j, question similarity) of the candidate pairs whose questions and answers are both at least
    ``threshold`` alike (rapidfuzz's Indel similarity, in C, a block of pairs per call)."""
    for start in range(0, len(pairs), VERIFY_CHUNK):
        block = pairs[start : start + VERIFY_CHUNK]
        questions = _similarities(question_keys, block, threshold)
        block, questions = block[questions > 0], questions[questions > 0]
        answers = _similarities(answer_keys, block, threshold) > 0
        for (i, j), similarity in zip(block[answers].tolist(), questions[answers].tolist(), strict=True):
            yield i, j, similarity


def _similarities(texts: Sequence[str], pairs: np.ndarray, threshold: float) -> np.ndarray:
    """Each pair's similarity, 0 where it is below ``threshold``."""
    from rapidfuzz.distance import Indel
    from rapidfuzz.process import cpdist

    if not len(pairs):
        return np.zeros(0)  # cpdist answers an empty list with one score
    left = [texts[i] for i in pairs[:, 0].tolist()]
    right = [texts[j] for j in pairs[:, 1].tolist()]
    return cpdist(left, right, scorer=Indel.normalized_similarity, score_cutoff=threshold, dtype=np.float64)


def _count_number_variants(keys: Sequence[str], numbers: list[tuple[str, ...]], result: NearResult) -> None:
    """Count as kept apart each kept question that is an earlier kept one with other numbers (the same
    words: "Stadium 13" after "Stadium 12"), pairs that blocking kept from ever being compared."""
    from rapidfuzz.distance import Indel

    first: dict[str, int] = {}
    for j in result.keep:
        if numbers[j]:
            i = first.setdefault(NUMBER_RUN.sub("#", keys[j]), j)
            if i != j:
                result.keep_apart(i, j, Indel.normalized_similarity(keys[i], keys[j]), NUMBER)
