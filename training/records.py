"""The record schema shared by every importer and exporter: ``{"question": str, "answer": str}``."""

from __future__ import annotations

from typing import TypedDict

QUESTION = "question"
ANSWER = "answer"


class Record(TypedDict):
    question: str
    answer: str


def make_record(question: str, answer: str) -> Record:
    return {QUESTION: question, ANSWER: answer}
