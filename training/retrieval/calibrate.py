"""Confidence calibration: the confidence below which the model's answers are mostly wrong.

The bot answers "I'm not sure" below ``manifest["confidence_threshold"]``. The threshold is the cut that
best separates right answers (token F1 >= ``CORRECT_F1``) from wrong ones on held-out generations: the
value maximising the accuracy of "answer iff confidence >= threshold". Too few examples, or only right
(or only wrong) ones, give ``None``: no evidence for any cut, so the bot answers everything.
"""

from __future__ import annotations

from collections.abc import Sequence

CORRECT_F1 = 0.5  # an answer sharing at least half its words with the reference counts as right
MIN_EXAMPLES = 10


def calibrate_threshold(
    confidences: Sequence[float], f1s: Sequence[float], min_examples: int = MIN_EXAMPLES
) -> float | None:
    """The confidence threshold separating right from wrong answers, or ``None`` without enough data."""
    if len(confidences) != len(f1s):
        raise ValueError("confidences and f1s must pair up")
    correct = [f >= CORRECT_F1 for f in f1s]
    if len(confidences) < min_examples or all(correct) or not any(correct):
        return None
    pairs = sorted(zip(confidences, correct, strict=True))
    n = len(pairs)
    # Threshold at pairs[i][0] rejects pairs[:i] and accepts pairs[i:]. Sweep i, counting how many the
    # rule gets right: rejected wrong answers + accepted right answers.
    right_total = sum(correct)
    best_score, best_i = -1, 0
    rejected_wrong = rejected_right = 0
    for i in range(n + 1):
        if i == 0 or pairs[i - 1][0] != (pairs[i][0] if i < n else None):
            score = rejected_wrong + (right_total - rejected_right)
            if score > best_score:  # strict: ties keep the lower threshold (answer more)
                best_score, best_i = score, i
        if i < n:
            if pairs[i][1]:
                rejected_right += 1
            else:
                rejected_wrong += 1
    if best_i == 0:
        return 0.0
    if best_i == n:
        return min(1.0, pairs[-1][0] + 1e-6)
    # Midway between the last rejected and the first accepted confidence generalises better than either.
    return (pairs[best_i - 1][0] + pairs[best_i][0]) / 2
