"""Helpers for the training-run tests: a small, varied dataset file and a tiny, seconds-long config."""

from __future__ import annotations

import json
from pathlib import Path

from training.config import TrainConfig

SUBJECTS = [
    ("Who won the 2014 World Cup?", "Germany beat Argentina in the final."),
    ("How many players does a team field?", "Eleven, including the goalkeeper."),
    ("What is a hat trick?", "Three goals scored by one player in a match."),
    ("How long is a match?", "Ninety minutes in two halves."),
    ("What does a red card mean?", "The player is sent off."),
    ("Who governs world football?", "FIFA does."),
    ("Where is the penalty spot?", "Eleven metres from the goal line."),
    ("What is offside?", "Being beyond the second-last defender when the ball is played."),
    ("How big is the goal?", "Seven point three two metres wide and two point four four high."),
    ("What is extra time?", "Two periods of fifteen minutes after a drawn knockout match."),
    ("Which country hosted the 1966 World Cup?", "England hosted it and won."),
    ("What is a clean sheet?", "A match in which a team concedes no goals."),
    ("Who can handle the ball?", "Only the goalkeeper, inside their own penalty area."),
    ("What restarts play after a goal?", "A kick-off from the centre mark."),
    (
        "What is a corner kick?",
        "A kick from the corner arc after the defenders put the ball over their line.",
    ),
    ("What is VAR?", "The video assistant referee who reviews clear errors."),
    ("How many substitutes are allowed?", "Usually five in top competitions."),
    ("What is a throw-in?", "Restarting play with both hands after the ball crosses the touchline."),
    ("Who was Pele?", "A Brazilian forward who won three World Cups."),
    ("What is the Champions League?", "Europe's top club competition."),
    ("What is a yellow card?", "A caution; a second one in a match means a red."),
    ("What is a free kick?", "A restart awarded after a foul."),
    ("Who won the first World Cup?", "Uruguay won it in 1930."),
    ("What is a derby?", "A match between two local rivals."),
]


def write_dataset(path: Path, n: int = 24) -> Path:
    records = [{"question": q, "answer": a} for q, a in SUBJECTS[:n]]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    """A scratch run that takes seconds: tiny GPT-2, few steps, small recall sample, short answers."""
    values = dict(
        data=[data],
        base="scratch",
        size="tiny",
        out=out,
        max_steps=8,
        batch_size=8,
        lr=3e-3,
        recall_sample=6,
        max_new_tokens=12,
        progress="json",
        encoder="none",  # words-only retrieval: loading the sentence encoder would double each run
    )
    values.update(overrides)
    return TrainConfig(**values)
