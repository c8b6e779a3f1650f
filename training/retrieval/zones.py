"""The three answer zones and their calibration: answer, "did you mean", or not sure.

A retrieval match is *answered* when it is strong (``score >= answer_score``) and clearly ahead of the
runner-up (``margin >= answer_margin``: Rasa's ambiguity threshold and QnA Maker's delta do the same), or
very strong (``strong_score``: near-duplicate known questions); *suggested* when the best match is at
least ``suggest_score`` (the asker picks from up to ``MAX_SUGGESTIONS`` known questions); otherwise the
bot says it is not sure. The numbers are calibrated at training time on probes the run makes itself,
never on a test set (``training.retrieval.probes``): rewordings of the training questions, mechanical
and terse; near misses (a training question asked with itself left out, the held-out eval questions)
and generic off-topic questions. The answer zone takes the (score, margin), then the strong score,
answering the most rewordings rightly with few wrong, few near misses and almost no off-topic probe;
"did you mean" starts above the off-topic probes but the nearest half (a confidence bound on their
small sample: ``allowed_passes``), so that a right question among the top three is offered.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from training.checkpoint import number_in
from training.retrieval.index import Match, RetrievalIndex
from training.retrieval.probes import OFF_TOPIC_PROBES, probe_rewordings, terse_rewordings

MAX_SUGGESTIONS = 3
MAX_PROBED = 400  # training questions turned into probes (enough for percentiles, cheap at 100k pairs)
REWORDINGS_PER_QUESTION = 3  # of the five kinds, drawn at random: encoding probes is calibration's cost
TERSE_PER_QUESTION = 1  # and one terse rewording (``terse_rewordings``): the hardest positives
MAX_WRONG = 0.02  # at most this share of the positives answered may be answered wrongly
NEAR_MISS_PASS = 0.10  # at most this share of near misses (unknown on-topic questions) may be answered
OFF_TOPIC_PASS = 0.05  # at most this share of off-topic questions may reach a taught pair's "did you mean"
# "Did you mean" costs the asker a glance and "not sure" escalates to the admins, so the checkpoint's
# "did you mean" lets through the half of the off-topic probes nearest the dataset (for a sports dataset,
# other sports' questions); the answer zone lets through ANSWER_OFF_TOPIC_PASS of them.
SUGGEST_OFF_TOPIC_PASS = 0.5
ANSWER_OFF_TOPIC_PASS = 0.03
# Each must hold for questions nobody probed: the probes are a small sample, so a cut lets through only
# as many of them as keep the rate's one-sided upper confidence bound within the rate (``allowed_passes``).
OFF_TOPIC_CONFIDENCE = 0.8
MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2)
# The answer cuts tried: 0.2..1.0 in steps of 0.01; "did you mean" starts no lower either.
LOWEST_ANSWER = 0.2
SCORE_STEPS = 80
LIVE_SUGGEST_FLOOR = 0.3  # the lowest a taught pair's own "did you mean" cut goes (``suggest_cut``'s default)
SUGGEST_WINDOW = 0.15  # suggestions are within this score of the best match
NEVER = 1.01  # a cut no score reaches (scores are at most 1.0)
ZONE_FIELDS = (
    "answer_score", "answer_margin", "suggest_score", "strong_score", "agree_score", "agree_margin"
)  # fmt: skip


@dataclass(frozen=True)
class ZoneThresholds:
    answer_score: float = 0.75
    answer_margin: float = 0.05
    suggest_score: float = 0.55
    # A match at least this strong is answered however close the runner-up: near-duplicate known questions
    # (a rewording typed almost as one of them is written). Above any score (1.0 at most) unless calibrated.
    strong_score: float = NEVER
    # A match the answer-words view agrees on (``_agrees``) is answered from this score and margin: the
    # second opinion on close calls. Never unless calibrated.
    agree_score: float = NEVER
    agree_margin: float = NEVER

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    def with_overrides(self, overrides: dict[str, float]) -> ZoneThresholds:
        """These thresholds with an admin's settings over them; an answer cut set by hand answers by its
        own margin only (the strong score and the second opinion's cut were calibrated with the calibrated
        cut)."""
        if not overrides:
            return self
        if {"answer_score", "answer_margin"} & set(overrides):
            calibrated_with_it = dict.fromkeys(("strong_score", "agree_score", "agree_margin"), NEVER)
            return replace(self, **{**calibrated_with_it, **overrides})
        return replace(self, **overrides)

    def offer_only(self) -> ZoneThresholds:
        """These thresholds with no answer zone: "did you mean" at best."""
        return replace(self, answer_score=NEVER, strong_score=NEVER, agree_score=NEVER)

    @classmethod
    def from_dict(cls, data: dict | None) -> ZoneThresholds:
        """The thresholds a manifest's ``zones`` hold; a ValueError naming the field for anything but a
        number from 0 to ``NEVER``."""
        if data is None or data == {}:
            return cls()
        if not isinstance(data, dict):  # a list or a string holds no field: not the defaults
            raise ValueError(f"zones must be an object of thresholds, not {data!r}")
        values = {}
        for k in ZONE_FIELDS:
            if k not in data:
                continue
            v = data[k]
            if not number_in(v, 0.0, NEVER):
                raise ValueError(f"zones.{k} must be a number from 0 to {NEVER}, not {v!r}")
            values[k] = float(v)
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    zone: str  # "answer" | "suggest" | "fallback"
    match: Match | None  # the best match (whatever the zone)
    suggestions: tuple[Match, ...] = ()  # for "suggest": up to MAX_SUGGESTIONS known questions


def _general(matches: Sequence[Match]) -> bool:
    """Whether the query is more general than its two best matches: both contain every word asked but the
    question words ("what is offside": "What is an offside trap?" and "When is a player in an offside
    position?"). The strong score answers a near-duplicate typed almost as written, not such a question:
    only the margin tells them apart."""
    return len(matches) > 1 and matches[0].covers_asked and matches[1].covers_asked


def _agrees(matches: Sequence[Match]) -> bool:
    """Whether the answer-words view agrees with the best match: the query's words score highest against
    its question *with its answer* among all the candidates (``Match.answer_words``). The meaning views
    already read the answer; this one reads its words, so a name or term only the answer has ("dortmund
    schalke" for the Revierderby) counts, and a question whose answer says nothing of what was typed
    does not."""
    best = matches[0]
    return best.answer_words > 0 and best.answer_words >= max(m.answer_words_top for m in matches)


def decide(matches: Sequence[Match], thresholds: ZoneThresholds) -> Decision:
    """The zone for a query whose best matches (best first, distinct questions) are ``matches``."""
    if not matches:
        return Decision("fallback", None)
    best = matches[0]
    if _answered(_Rules.of(thresholds), *_features(matches)):
        return Decision("answer", best)
    if best.score >= thresholds.suggest_score:
        # The cut decides whether to offer; what is offered is whatever stands close to the best match.
        floor = min(LOWEST_ANSWER, thresholds.suggest_score)  # an admin's lower cut offers its best
        close = [m for m in matches if m.score >= max(floor, best.score - SUGGEST_WINDOW)]
        return Decision("suggest", best, tuple(close[:MAX_SUGGESTIONS]))
    return Decision("fallback", best)


# -- calibration -----------------------------------------------------------------------------------------


def allowed_passes(n: int, rate: float = OFF_TOPIC_PASS, confidence: float = OFF_TOPIC_CONFIDENCE) -> int:
    """How many of ``n`` off-topic probes may score above the "did you mean" cut: the most, ``k``, for
    which seeing ``k`` or fewer would be unlikely (``1 - confidence``) if the true rate were ``rate``
    (the Clopper-Pearson upper bound of ``k / n`` is at most ``rate``). Matching the sample rate
    instead (``rate * n``) misses ``rate`` on new questions about half the time. 0 when ``n`` is too
    small for any: the cut goes above every probe."""
    k, cdf = -1, 0.0
    while k + 1 <= n:
        cdf += math.comb(n, k + 1) * rate ** (k + 1) * (1 - rate) ** (n - k - 1)
        if cdf > 1 - confidence:
            break
        k += 1
    return max(0, k)


def suggest_cut(
    off_topic_scores: Sequence[float], rate: float = OFF_TOPIC_PASS, floor: float = LIVE_SUGGEST_FLOOR
) -> float:
    """Where "did you mean" starts, given the off-topic probes' best scores: above all of them but the
    ``allowed_passes`` at ``rate`` (within ``floor``..0.9)."""
    scores = sorted(off_topic_scores)
    cut = max(0, len(scores) - 1 - allowed_passes(len(scores), rate))
    return min(0.9, max(floor, scores[cut] + 0.01))


def _same_answer(a: str, b: str, f1: Callable[[str, str], float]) -> bool:
    return a == b or f1(a, b) >= 0.5


Features = tuple[float, float, bool, bool]  # score, margin, ``_general``, ``_agrees``
Positive = tuple[float, float, bool, bool, bool]  # and whether the best match is the right one


def _features(matches: Sequence[Match]) -> Features:
    """What the answer zone is decided on: (score, margin over the runner-up, ``_general``, ``_agrees``)."""
    return (
        matches[0].score,
        matches[0].score - (matches[1].score if len(matches) > 1 else 0.0),
        _general(matches),
        _agrees(matches),
    )


@dataclass(frozen=True)
class _Rules:
    """The answer zone: a (score, margin) cut, the strong score, and the second opinion's (score, margin)."""

    score: float
    margin: float
    strong: float = NEVER
    agree: tuple[float, float] = (NEVER, NEVER)

    @classmethod
    def of(cls, t: ZoneThresholds) -> _Rules:
        return cls(t.answer_score, t.answer_margin, t.strong_score, (t.agree_score, t.agree_margin))


def _answered(rules: _Rules, s: float, m: float, general: bool, agrees: bool) -> bool:
    """The answer zone: score and margin at least the cut's, or, unless the query is more general than
    its two best matches (``_general``: only the margin tells them apart), the strong score or the
    answer-words view agreeing (``_agrees``) with at least the second opinion's score and margin."""
    if s >= rules.score and m >= rules.margin:
        return True
    if general:
        return False
    return s >= max(rules.score, rules.strong) or (agrees and s >= rules.agree[0] and m >= rules.agree[1])


def _right_answers(
    rules: _Rules,
    positives: Sequence[Positive],
    near_misses: Sequence[Features],
    off_topic: Sequence[Features],
) -> int | None:
    """How many ``positives`` ``rules`` answer rightly (their own question first), or None when they break
    a constraint: wrong answers more than ``MAX_WRONG`` of those answered, near misses more than
    ``NEAR_MISS_PASS``, off-topic probes more than ``allowed_passes`` at ``ANSWER_OFF_TOPIC_PASS``, or
    nothing answered."""
    answered = [right for *f, right in positives if _answered(rules, *f)]
    if not answered or answered.count(False) > MAX_WRONG * len(answered):
        return None
    if sum(_answered(rules, *f) for f in near_misses) > NEAR_MISS_PASS * max(1, len(near_misses)):
        return None
    if sum(_answered(rules, *f) for f in off_topic) > allowed_passes(len(off_topic), ANSWER_OFF_TOPIC_PASS):
        return None
    return answered.count(True)


def _cuts() -> list[float]:
    return [LOWEST_ANSWER + (1.0 - LOWEST_ANSWER) * step / SCORE_STEPS for step in range(SCORE_STEPS + 1)]


def _best_cut(
    rules_at: Callable[[float, float], _Rules],
    positives: Sequence[Positive],
    near_misses: Sequence[Features],
    off_topic: Sequence[Features],
    base: int = 0,
) -> tuple[float, float] | None:
    """The (score, margin) whose rules (``rules_at``) answer the most ``positives`` rightly, more than
    ``base``, within ``_right_answers``' constraints; None when none does."""
    best: tuple[int, float, float] | None = None
    for margin in MARGINS:
        for score in _cuts():  # the lowest feasible score answers the most at this margin
            right = _right_answers(rules_at(score, margin), positives, near_misses, off_topic)
            if right is None:
                continue
            if right > base and (best is None or right > best[0]):
                best = (right, score, margin)
            break
    return None if best is None else (best[1], best[2])


def answer_cut(
    positives: Sequence[Positive], near_misses: Sequence[Features], off_topic: Sequence[Features]
) -> tuple[float, float] | None:
    """The (score, margin) answering the most ``positives`` rightly within ``_right_answers``'
    constraints; None when none keeps them."""
    return _best_cut(_Rules, positives, near_misses, off_topic)


def strong_cut(
    rules: _Rules,
    positives: Sequence[Positive],
    near_misses: Sequence[Features],
    off_topic: Sequence[Features],
) -> float:
    """Above ``rules``' score, the lowest score answered whatever the margin while the answer zone keeps
    ``_right_answers``' constraints; ``NEVER`` when none adds a right answer."""
    base = sum(1 for *f, right in positives if right and _answered(rules, *f))
    for strong in _cuts():
        if strong <= rules.score:
            continue
        right = _right_answers(replace(rules, strong=strong), positives, near_misses, off_topic)
        if right is not None:
            return strong if right > base else NEVER
    return NEVER


def agree_cut(
    rules: _Rules,
    positives: Sequence[Positive],
    near_misses: Sequence[Features],
    off_topic: Sequence[Features],
) -> tuple[float, float]:
    """The second opinion's (score, margin): where the answer-words view agrees, the cut answering the
    most ``positives`` rightly with the rest of the answer zone, within ``_right_answers``' constraints;
    ``(NEVER, NEVER)`` when none adds a right answer."""
    base = sum(1 for *f, right in positives if right and _answered(rules, *f))
    found = _best_cut(lambda s, m: replace(rules, agree=(s, m)), positives, near_misses, off_topic, base)
    return found if found is not None else (NEVER, NEVER)


def calibrate_zones(
    train_records: Sequence[dict[str, str]],
    eval_records: Sequence[dict[str, str]],
    index: RetrievalIndex,
    f1: Callable[[str, str], float],
    seed: int = 0,
) -> tuple[ZoneThresholds, dict[str, float]]:
    """Zone thresholds from probes, with ``index`` built over ``train_records`` only (so the eval
    questions are unknown to it). Returns the thresholds and how the probes fell.

    Positives: rewordings of known questions (``probe_rewordings``, ``terse_rewordings``), which should be
    answered, or at least offered. Near misses: each probed question asked with itself left out of the
    index, and the eval questions; on-topic, worded like known questions, but not known — the matches a
    careless threshold answers wrongly ("Who won Euro 2024?" when only 2016 is known). Off-topic:
    ``OFF_TOPIC_PROBES``."""
    rng = random.Random(seed)
    rows = list(range(len(train_records)))
    if len(rows) > MAX_PROBED:
        rows = sorted(rng.sample(rows, MAX_PROBED))
    pos_queries, pos_rows = [], []
    for row in rows:
        question = train_records[row]["question"]
        kinds = probe_rewordings(question, rng)
        wordings = rng.sample(kinds, min(REWORDINGS_PER_QUESTION, len(kinds)))
        wordings += terse_rewordings(question, rng)[:TERSE_PER_QUESTION]
        pos_queries += wordings
        pos_rows += [row] * len(wordings)
    near_queries = [train_records[r]["question"] for r in rows] + [r["question"] for r in eval_records]
    near_answers = [train_records[r]["answer"] for r in rows] + [r["answer"] for r in eval_records]
    near_exclude: list[int | None] = [*rows, *([None] * len(eval_records))]
    k = MAX_SUGGESTIONS
    positives = index.search_many(pos_queries, k)
    near = index.search_many(near_queries, k, exclude=near_exclude)
    off = index.search_many(list(OFF_TOPIC_PROBES), k)

    # A positive is answered rightly when its own question wins; a near miss is answered wrongly unless
    # the pair it matched happens to answer the same.
    pos = [(*_features(m), m[0].row == row) for m, row in zip(positives, pos_rows, strict=True) if m]
    neg = [
        _features(m)
        for m, answer in zip(near, near_answers, strict=True)
        if m and not _same_answer(m[0].answer, answer, f1)
    ]
    off_features = [_features(m) if m else (0.0, 0.0, False, False) for m in off]
    suggest = suggest_cut([f[0] for f in off_features], SUGGEST_OFF_TOPIC_PASS, LOWEST_ANSWER)
    found = answer_cut(pos, neg, off_features)
    default = ZoneThresholds()
    answer, margin = found if found else (max(default.answer_score, suggest), default.answer_margin)
    rules = _Rules(answer, margin)
    if found:  # then the strong score, then the second opinion, each with what came before it
        rules = replace(rules, strong=strong_cut(rules, pos, neg, off_features))
        rules = replace(rules, agree=agree_cut(rules, pos, neg, off_features))
    thresholds = ZoneThresholds(answer, margin, min(suggest, answer), rules.strong, *rules.agree)
    zone = {"answer": 0, "suggest": 0, "fallback": 0}
    for m in off:
        zone[decide(m, thresholds).zone] += 1
    offered = [
        any(x.row == row for x in decide(m, thresholds).suggestions) or decide(m, thresholds).zone == "answer"
        for m, row in zip(positives, pos_rows, strict=True)
        if m
    ]
    report = {
        "probes_rewordings": len(pos),
        "probes_near_miss": len(neg),
        "probes_off_topic": len(off),
        "rewordings_answered_right": round(
            sum(1 for *f, right in pos if right and _answered(rules, *f)) / max(1, len(pos)), 4
        ),
        "rewordings_answered_wrong": round(
            sum(1 for *f, right in pos if not right and _answered(rules, *f)) / max(1, len(pos)), 4
        ),
        "rewordings_offered": round(sum(offered) / max(1, len(pos)), 4),
        "near_miss_answered": round(sum(_answered(rules, *f) for f in neg) / max(1, len(neg)), 4),
        "off_topic_fallback": round(zone["fallback"] / max(1, len(off)), 4),
        "off_topic_answered": round(zone["answer"] / max(1, len(off)), 4),
    }
    return thresholds, report
