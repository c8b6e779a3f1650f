"""The three answer zones and their calibration: answer, "did you mean", or not sure.

A retrieval match is *answered* when it is strong (``score >= answer_score``) and clearly ahead of the
runner-up (``margin >= answer_margin``: Rasa's ambiguity threshold and QnA Maker's delta do the same);
*suggested* when the best match is at least ``suggest_score`` (the asker picks from up to
``MAX_SUGGESTIONS`` known questions); otherwise the bot says it is not sure.

The numbers are calibrated at training time on probes the training run makes itself, never on a test
set: rewordings generated from the training questions (casual, a word dropped, two words swapped, a typo,
a filler phrase: ``probe_rewordings``), the held-out eval questions (on-topic but not known unless an
indexed pair answers them the same way) and generic off-topic questions (``OFF_TOPIC_PROBES``).
"Did you mean" starts above all off-topic probes but as many as a confidence bound on their small sample
allows (``allowed_passes``), so that the share of *new* off-topic questions reaching it stays within
``OFF_TOPIC_PASS``, not only the probes' share.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from training.retrieval.index import Match, RetrievalIndex
from training.retrieval.lexical import word_terms

MAX_SUGGESTIONS = 3
MAX_PROBED = 400  # training questions turned into probes (enough for percentiles, cheap at 100k pairs)
REWORDINGS_PER_QUESTION = 3  # of the five kinds, drawn at random: encoding probes is calibration's cost
MAX_WRONG = 0.05  # at most this share of wrong matches may land in the answer zone
OFF_TOPIC_PASS = 0.05  # at most this share of off-topic questions may reach "did you mean"
# ... and that must hold for questions nobody probed: the probes are a small sample, so the cut lets
# through only as many of them as keep the rate's one-sided upper confidence bound within OFF_TOPIC_PASS.
OFF_TOPIC_CONFIDENCE = 0.8
NEAR_MISS_PASS = 0.10  # at most this share of near misses (unknown on-topic questions) may be answered
MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15)
SUGGEST_WINDOW = 0.15  # suggestions are within this score of the best match

# Questions from other fields, hobbies and sports, and chit-chat: what people ask a community bot that
# its dataset does not cover. Generic on purpose (the same list for every dataset); a probe that happens to
# be on the dataset's topic only makes "did you mean" a little more careful.
OFF_TOPIC_PROBES = (
    "What is the capital of Australia?",
    "How do I boil an egg?",
    "Who wrote Pride and Prejudice?",
    "What is the chemical symbol for gold?",
    "How many legs does a spider have?",
    "What year did the Berlin Wall fall?",
    "How do I change a flat tyre?",
    "What is the tallest building in the world?",
    "Who discovered penicillin?",
    "How far is the Moon from Earth?",
    "What is the largest ocean?",
    "How do I learn to play the guitar?",
    "Which language has the most native speakers?",
    "Who was the first person on the Moon?",
    "How many bones are in the human body?",
    "How do airplanes stay in the air?",
    "Where do penguins live?",
    "What is a prime number?",
    "Who composed the Four Seasons?",
    "What is the longest river in Africa?",
    "What is the best laptop to buy?",
    "How do I fix a leaking tap?",
    "Which animal is the fastest on land?",
    "What is inflation?",
    "Who won the Nobel Peace Prize in 2010?",
    "When was the printing press invented?",
    "What is the currency of Japan?",
    "How do I write a cover letter?",
    "How many players are on an ice hockey team?",
    "Who has won the most Formula One championships?",
    "How long is a round in boxing?",
    "What is a hole in one?",
    "How many points is a try worth in rugby?",
    "Who holds the record for the most Olympic gold medals?",
    "How high is a basketball hoop?",
    "What is a grand slam in tennis?",
    "How many overs are in a T20 cricket match?",
    "What is a strike in bowling?",
    "Who won the Stanley Cup in 2015?",
    "How does scoring work in darts?",
    "What is the distance of a half marathon?",
    "Which team won the 2010 Rugby World Cup?",
    # Other sports' rules and records, asked the way a dataset's own questions are: they share its
    # question frames ("how many", "what is a", "who won") and sports words, and only the sport differs.
    "What is a let in tennis?",
    "How many frames are played in a snooker final?",
    "What is a maiden over in cricket?",
    "How do you win a point in badminton?",
    "Who first ran a mile in under four minutes?",
    "What is a scrum in rugby?",
    "How long does a handball match last?",
    "What is a penalty corner in field hockey?",
    "Who won the Ryder Cup in 2012?",
    "What is a home run?",
    "How many rounds are in a championship boxing bout?",
    "What is the diameter of a golf ball?",
    "How many pins are there in ten-pin bowling?",
    "Which jockey has won the Grand National the most times?",
    "When were the first modern Olympic Games held?",
    "What is a free throw worth?",
    "How is a tie-break played in tennis?",
    "Who holds the world record in the long jump?",
    # Other fields.
    "How do I make a cup of tea?",
    "What is a black hole?",
    "How many days are in a leap year?",
    "What does DNA stand for?",
    "How do I plant tomatoes?",
    "Who was the first emperor of Rome?",
    "thanks a lot",
    "hi everyone, how are you doing",
    "anyone around tonight?",
    "what are you up to",
)
_FILLERS = ("can you tell me ", "quick question: ", "does anyone know ", "i was wondering ")


@dataclass(frozen=True)
class ZoneThresholds:
    answer_score: float = 0.75
    answer_margin: float = 0.05
    suggest_score: float = 0.55

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict | None) -> ZoneThresholds:
        if not data:
            return cls()
        fields = {k: float(data[k]) for k in ("answer_score", "answer_margin", "suggest_score") if k in data}
        return cls(**fields)


@dataclass(frozen=True)
class Decision:
    zone: str  # "answer" | "suggest" | "fallback"
    match: Match | None  # the best match (whatever the zone)
    suggestions: tuple[Match, ...] = ()  # for "suggest": up to MAX_SUGGESTIONS known questions


def decide(matches: Sequence[Match], thresholds: ZoneThresholds) -> Decision:
    """The zone for a query whose best matches (best first, distinct questions) are ``matches``."""
    if not matches:
        return Decision("fallback", None)
    best = matches[0]
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if best.score >= thresholds.answer_score and best.score - runner_up >= thresholds.answer_margin:
        return Decision("answer", best)
    if best.score >= thresholds.suggest_score:
        close = [m for m in matches if m.score >= max(thresholds.suggest_score, best.score - SUGGEST_WINDOW)]
        return Decision("suggest", best, tuple(close[:MAX_SUGGESTIONS]))
    return Decision("fallback", best)


# -- probes ----------------------------------------------------------------------------------------------


def probe_rewordings(question: str, rng: random.Random) -> list[str]:
    """Mechanical rewordings of a known question, the kinds people type: casual, shorter, reordered,
    with a typo, with a filler phrase."""
    words = question.rstrip(" ?!.").split()
    out = [question.lower().rstrip(" ?!."), rng.choice(_FILLERS) + question[0].lower() + question[1:]]
    content = [i for i, w in enumerate(words) if word_terms(w)]
    if len(content) >= 3:  # drop one content word
        drop = rng.choice(content)
        out.append(" ".join(w for i, w in enumerate(words) if i != drop) + "?")
    if len(words) >= 4:  # swap two neighbouring words
        i = rng.randrange(len(words) - 1)
        swapped = words[:i] + [words[i + 1], words[i]] + words[i + 2 :]
        out.append(" ".join(swapped) + "?")
    longest = max(words, key=len) if words else ""
    if len(longest) >= 5:  # one typo: two letters swapped in the longest word
        j = rng.randrange(1, len(longest) - 2)
        typo = longest[:j] + longest[j + 1] + longest[j] + longest[j + 2 :]
        out.append(re.sub(rf"\b{re.escape(longest)}\b", typo, question, count=1))
    return [q for q in out if q.strip() and q != question]


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


def suggest_cut(off_topic_scores: Sequence[float]) -> float:
    """Where "did you mean" starts, given the off-topic probes' best scores: above all of them but the
    few ``allowed_passes`` lets through (within 0.3..0.9)."""
    scores = sorted(off_topic_scores)
    cut = max(0, len(scores) - 1 - allowed_passes(len(scores)))
    return min(0.9, max(0.3, scores[cut] + 0.01))


def _same_answer(a: str, b: str, f1: Callable[[str, str], float]) -> bool:
    return a == b or f1(a, b) >= 0.5


def _margin(matches: Sequence[Match]) -> float:
    return matches[0].score - (matches[1].score if len(matches) > 1 else 0.0)


def calibrate_zones(
    train_records: Sequence[dict[str, str]],
    eval_records: Sequence[dict[str, str]],
    index: RetrievalIndex,
    f1: Callable[[str, str], float],
    seed: int = 0,
) -> tuple[ZoneThresholds, dict[str, float]]:
    """Zone thresholds from probes, with ``index`` built over ``train_records`` only (so the eval
    questions are unknown to it). Returns the thresholds and how the probes fell.

    Positives: rewordings of known questions (``probe_rewordings``), which should be answered.
    Near misses: each probed question asked with itself left out of the index, and the eval questions;
    on-topic, worded like known questions, but not known — the matches a careless threshold answers
    wrongly ("Who won Euro 2024?" when only 2016 is known). Off-topic: ``OFF_TOPIC_PROBES``."""
    rng = random.Random(seed)
    rows = list(range(len(train_records)))
    if len(rows) > MAX_PROBED:
        rows = sorted(rng.sample(rows, MAX_PROBED))
    pos_queries, pos_rows = [], []
    for row in rows:
        kinds = probe_rewordings(train_records[row]["question"], rng)
        for q in rng.sample(kinds, min(REWORDINGS_PER_QUESTION, len(kinds))):
            pos_queries.append(q)
            pos_rows.append(row)
    near_queries = [train_records[r]["question"] for r in rows] + [r["question"] for r in eval_records]
    near_answers = [train_records[r]["answer"] for r in rows] + [r["answer"] for r in eval_records]
    near_exclude: list[int | None] = [*rows, *([None] * len(eval_records))]
    k = MAX_SUGGESTIONS
    positives = index.search_many(pos_queries, k)
    near = index.search_many(near_queries, k, exclude=near_exclude)
    off = index.search_many(list(OFF_TOPIC_PROBES), k)

    # A positive is answered rightly when its own question wins; a near miss is answered wrongly unless
    # the pair it matched happens to answer the same.
    pos = [(m[0].score, _margin(m), m[0].row == row) for m, row in zip(positives, pos_rows, strict=True) if m]
    neg = [
        (m[0].score, _margin(m))
        for m, answer in zip(near, near_answers, strict=True)
        if m and not _same_answer(m[0].answer, answer, f1)
    ]
    suggest = suggest_cut([m[0].score if m else 0.0 for m in off])
    # The answer zone: the (score, margin) answering the most positives rightly while keeping wrong
    # answers under MAX_WRONG of the positives answered and near misses under NEAR_MISS_PASS.
    best: tuple[int, float, float] | None = None
    for margin in MARGINS:
        for step in range(41):
            score = suggest + (1.0 - suggest) * step / 40
            answered = [right for s, m, right in pos if s >= score and m >= margin]
            passed = sum(1 for s, m in neg if s >= score and m >= margin)
            if not answered or answered.count(False) > MAX_WRONG * len(answered):
                continue
            if passed > NEAR_MISS_PASS * max(1, len(neg)):
                continue
            if best is None or answered.count(True) > best[0]:
                best = (answered.count(True), score, margin)
            break
    default = ZoneThresholds()
    answer, margin = (
        (best[1], best[2]) if best else (max(default.answer_score, suggest), default.answer_margin)
    )
    thresholds = ZoneThresholds(answer_score=answer, answer_margin=margin, suggest_score=min(suggest, answer))
    zone = {"answer": 0, "suggest": 0, "fallback": 0}
    for m in off:
        zone[decide(m, thresholds).zone] += 1
    report = {
        "probes_rewordings": len(pos),
        "probes_near_miss": len(neg),
        "probes_off_topic": len(off),
        "rewordings_answered_right": round(
            sum(1 for s, m, right in pos if s >= answer and m >= margin and right) / max(1, len(pos)), 4
        ),
        "near_miss_answered": round(
            sum(1 for s, m in neg if s >= answer and m >= margin) / max(1, len(neg)), 4
        ),
        "off_topic_fallback": round(zone["fallback"] / max(1, len(off)), 4),
    }
    return thresholds, report
