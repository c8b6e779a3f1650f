"""The prompt contract: the one place that decides how a question (and its answer) is shown to the model.

Training, evaluation and generation all call these functions, so the model always sees at inference
time exactly the shape it was trained on.
"""

from __future__ import annotations

QUESTION_MARKER = "Question:"
ANSWER_MARKER = "Answer:"
# Strings that, if the model starts producing them, mean the answer is over (it began a new turn).
STOP_STRINGS = ("\nQuestion:", "\nAnswer:")


def format_prompt(question: str) -> str:
    """The text the model is given for a question; generation continues right after it."""
    return f"{QUESTION_MARKER} {question.strip()}\n{ANSWER_MARKER}"


def format_answer(answer: str, eos_token: str) -> str:
    """The completion the model learns to produce: a leading space, the answer, then EOS."""
    return f" {answer.strip()}{eos_token}"


def format_example(question: str, answer: str, eos_token: str) -> tuple[str, str]:
    """A training example as (prompt, completion); prompt + completion is the full text."""
    return format_prompt(question), format_answer(answer, eos_token)


def extract_answer(generated: str) -> str:
    """The answer part of a continuation: everything before a stop marker, stripped."""
    cut = len(generated)
    for stop in STOP_STRINGS:
        idx = generated.find(stop)
        if idx != -1:
            cut = min(cut, idx)
    return generated[:cut].strip()
