"""Duplicate removal: exact duplicates by comparison key (with a conflict policy), then near-duplicates.

Exact: records whose questions share a ``comparison_key`` are one question. If their answers also share
a key they are plain duplicates; if not, the question is a *conflict* and the policy picks the answer
kept: ``first`` or ``last`` occurrence, or the ``longest`` answer.

Near: two records are near-duplicates when both their questions and their answers are at least
``threshold`` similar (rapidfuzz's normalized Indel similarity on comparison keys). Requiring both
keeps "Who won the 2010 World Cup? Spain." apart from "Who won the 2014 World Cup? Germany.", whose
questions alone are 96% alike. Candidate pairs come from MinHash LSH over the questions' character
5-grams (signatures and banding computed with numpy), so no step compares every pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from training.records import Record

CONFLICT_POLICIES = ("first", "last", "longest")
# 21 bands of 3 rows: a pair of questions whose 5-gram sets have Jaccard similarity 0.5 becomes a
# candidate with probability 1 - (1 - 0.5**3)**21 = 0.94, at 0.6 with 0.99 (one typo in a 60-character
# question leaves ~0.85); verification then applies the real threshold, so these trade only speed
# for recall.
NUM_PERM = 64
BANDS, ROWS = 21, 3
# Character 5-grams: short enough that one typo changes only five of them, long enough that two
# unrelated questions rarely share many (3-grams such as "the" and "ing" are everywhere).
SHINGLE = 5
# A band bucket this large holds records that share only common boilerplate ("what is the"): comparing
# all its pairs would be quadratic, and the pairs that matter also meet in a smaller bucket.
MAX_BUCKET = 500


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


def candidate_pairs(sigs: np.ndarray) -> np.ndarray:
    """Pairs (i, j), i < j, of rows that agree on every row of at least one band; shape (m, 2)."""
    n = len(sigs)
    found = [np.empty((0, 2), dtype=np.int64)]
    weights = np.asarray(_MIX, dtype=np.uint64)[np.arange(ROWS) % len(_MIX)] + np.arange(
        ROWS, dtype=np.uint64
    )
    for band in range(BANDS):
        with np.errstate(over="ignore"):  # one 64-bit value per band; a rare collision only adds a pair
            bucket = (sigs[:, band * ROWS : (band + 1) * ROWS] * weights).sum(axis=1, dtype=np.uint64)
        order = np.argsort(bucket, kind="stable")
        ranked = bucket[order]
        bounds = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1], True])
        sizes = np.diff(bounds)
        twos = bounds[:-1][sizes == 2]  # most buckets that matter hold two records: do them at once
        found.append(np.stack([order[twos], order[twos + 1]], axis=1))
        larger = (sizes > 2) & (sizes <= MAX_BUCKET)
        for start, size in zip(bounds[:-1][larger].tolist(), sizes[larger].tolist(), strict=True):
            members = order[start : start + size]
            i, j = np.triu_indices(size, k=1)
            found.append(np.stack([members[i], members[j]], axis=1))
    pairs = np.sort(np.concatenate(found), axis=1).astype(np.int64)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])  # one row per distinct pair
    return np.stack([codes // n, codes % n], axis=1)


@dataclass
class NearResult:
    keep: list[int]
    duplicates: list[tuple[int, int, float]]  # (removed index, kept index it resembles, similarity)


def dedupe_near(
    question_keys: Sequence[str], answer_keys: Sequence[str], threshold: float = 0.9
) -> NearResult:
    """Drop each record that is a near-duplicate of an earlier kept one (greedy, in input order)."""
    from rapidfuzz.distance import Indel

    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], not {threshold}")
    n = len(question_keys)
    if n < 2 or threshold >= 1.0:
        return NearResult(list(range(n)), [])
    pairs = candidate_pairs(minhash_signatures(question_keys))
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for i, j in pairs.tolist():
        q_sim = Indel.normalized_similarity(question_keys[i], question_keys[j], score_cutoff=threshold)
        if q_sim and Indel.normalized_similarity(answer_keys[i], answer_keys[j], score_cutoff=threshold):
            neighbours.setdefault(j, []).append((i, q_sim))
    removed: dict[int, tuple[int, float]] = {}
    for j in sorted(neighbours):
        # j goes only if it resembles an earlier record that is itself kept, so chains A~B~C where A
        # and C differ keep C.
        match = next(((i, s) for i, s in sorted(neighbours[j]) if i not in removed), None)
        if match is not None:
            removed[j] = match
    keep = [i for i in range(n) if i not in removed]
    return NearResult(keep, [(j, i, s) for j, (i, s) in sorted(removed.items())])
