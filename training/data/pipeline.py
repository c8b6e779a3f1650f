"""The cleaning pipeline: normalize -> drop empty -> filters -> exact duplicates (conflict policy) ->
near-duplicates -> report. ``prepare_dataset`` loads files first (and counts a KTO file's undesirable rows,
set aside by the loader, as removed); ``clean_records`` cleans records that came from anywhere (a file, the
database, the bot's taught pairs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data.dedupe import dedupe_exact, dedupe_near
from training.data.errors import DatasetError
from training.data.filters import OFFENSIVE, FilterSwitches, filter_reason
from training.data.load import read_dataset
from training.data.normalize import comparison_key, normalize_text
from training.data.offensive import offensive_scores
from training.data.options import CleanOptions
from training.data.report import (
    DUPLICATE,
    EMPTY,
    EXACT,
    NEAR,
    NEAR_DUPLICATE,
    NORMALIZED,
    UNDESIRABLE,
    CleanReport,
    token_stats,
)
from training.prompt import STOP_STRINGS
from training.records import Record, make_record

FEW_RECORDS = 20  # fewer than this and a model learns little beyond memorizing them
MAX_PLACES = 5  # conversations without a pair named in the report's warning


@dataclass
class CleanResult:
    records: list[Record]
    report: CleanReport = field(default_factory=CleanReport)


def _normalized(records: Sequence[Record]) -> list[Record]:
    out = []
    for number, record in enumerate(records, 1):
        for name in ("question", "answer"):
            if not isinstance(record.get(name), str):
                raise DatasetError(
                    None, f"not a string (got {type(record.get(name)).__name__})", record=number, field=name
                )
        question, answer = record["question"], record["answer"]
        out.append(make_record(normalize_text(question), normalize_text(answer, multiline=True)))
    return out


def _offensive(records: list[Record], switches: FilterSwitches) -> list[float | None]:
    """Each record's offensive score (None: not offensive), question and answer scored in one batch."""
    if not switches.offensive:
        return [None] * len(records)
    texts = [r["question"] for r in records] + [r["answer"] for r in records]
    scores = offensive_scores(texts, switches.allowed_words, switches.offensive_threshold)
    n = len(records)
    return [max((s for s in (scores[i], scores[n + i]) if s is not None), default=None) for i in range(n)]


def _has_stop_line(answer: str) -> bool:
    return "\n" in answer and any(stop in answer for stop in STOP_STRINGS)


def clean_records(records: Sequence[Record], options: CleanOptions | None = None) -> CleanResult:
    """Normalize, filter and de-duplicate ``records``; the report says what was removed and why."""
    options = options or CleanOptions()
    options.validate()
    report = CleanReport(records_in=len(records))
    switches = FilterSwitches(
        options.offensive,
        options.spam,
        options.short,
        options.min_answer_chars,
        frozenset(w.lower() for w in options.allowed_words),
        options.offensive_threshold,
    )

    normalized = _normalized(records)
    offensive = _offensive(normalized, switches)
    kept: list[Record] = []
    q_keys: list[str] = []
    a_keys: list[str] = []
    for record, score in zip(normalized, offensive, strict=True):
        question, answer = record["question"], record["answer"]
        answer_key = comparison_key(answer)
        if not question or not answer:
            report.remove(EMPTY, record)
        elif reason := filter_reason(question, answer, switches, answer_key, score is not None):
            report.remove(reason, record, **({"score": round(score, 3)} if reason == OFFENSIVE else {}))
        else:
            kept.append(record)
            q_keys.append(comparison_key(question))
            a_keys.append(answer_key)

    exact = dedupe_exact(kept, q_keys, a_keys, options.conflicts)
    for removed, original in exact.duplicates:
        question, dropped = kept[original]["question"], kept[removed]["question"]
        report.remove(DUPLICATE, kept[removed], duplicate_of=question)
        report.merge(EXACT if question == dropped else NORMALIZED, question, dropped, 1.0)
    for winner, dropped in exact.conflicts:
        report.add_conflict(
            kept[winner]["question"], kept[winner]["answer"], [kept[i]["answer"] for i in dropped]
        )
    if report.conflicts:
        report.warnings.append(
            f"{report.conflicts} question(s) had conflicting answers; kept the {options.conflicts} "
            "(--conflicts first|last|longest)"
        )

    survivors = exact.keep
    if options.near_duplicates and options.near_dup_threshold < 1.0:
        questions = [kept[i]["question"] for i in survivors]
        near = dedupe_near(
            [q_keys[i] for i in survivors],
            [a_keys[i] for i in survivors],
            options.near_dup_threshold,
            questions,
        )
        for removed, similar, score in near.duplicates:
            record, other = kept[survivors[removed]], kept[survivors[similar]]
            report.remove(NEAR_DUPLICATE, record, similar_to=other["question"], similarity=round(score, 3))
            report.merge(NEAR, other["question"], record["question"], score)
        apart = [(questions[i], questions[j], s, d) for i, j, s, d in near.apart_examples]
        report.keep_apart(near.apart, apart)
        survivors = [survivors[i] for i in near.keep]

    result = [kept[i] for i in survivors]
    report.records_out = len(result)
    if options.token_stats:
        report.tokens = token_stats(result)
        if report.tokens and report.tokens["over_context"]:
            report.warnings.append(
                f"{report.tokens['over_context']} example(s) exceed GPT-2's 1024-token context"
            )
    if stops := sum(_has_stop_line(r["answer"]) for r in result):
        report.warnings.append(
            f"{stops} answer(s) have a line starting with 'Question:' or 'Answer:'; the model's answer "
            "will stop before that line (the prompt's stop markers)"
        )
    if 0 < len(result) < FEW_RECORDS:
        report.warnings.append(
            f"only {len(result)} records: enough to try the pipeline, too few to learn much"
        )
    return CleanResult(result, report)


def prepare_dataset(
    paths: Sequence[str | Path], options: CleanOptions | None = None, **load_kwargs: Any
) -> CleanResult:
    """Load every file (``load_kwargs``: fmt, question_field, answer_field, records_key) and clean them
    together, so duplicates across files are found too. Raises ``DatasetError`` for unusable input."""
    if not paths:
        raise DatasetError(None, "empty dataset: no files given")
    records: list[Record] = []
    undesirable: list[Record] = []
    sources = []
    warnings = []
    for path in paths:
        loaded = read_dataset(path, **load_kwargs)
        if unpaired := loaded.unpaired:
            more = f" and {len(unpaired) - MAX_PLACES} more" if len(unpaired) > MAX_PLACES else ""
            warnings.append(
                f"{loaded.path}: {len(unpaired)} conversation(s) without a user -> assistant pair with text, "
                f"counted as empty: {', '.join(unpaired[:MAX_PLACES])}{more}"
            )
        records.extend(loaded.records + loaded.empty)  # cleaning counts the empty ones as removed
        undesirable.extend(loaded.undesirable)  # KTO "label": false: never trained on
        found = len(loaded.records) + len(loaded.empty) + len(loaded.undesirable)
        sources.append({"path": str(loaded.path), "format": loaded.format, "records": found})
    result = clean_records(records, options)
    result.report.records_in += len(undesirable)
    for record in undesirable:
        result.report.remove(UNDESIRABLE, record)
    result.report.sources = sources
    result.report.warnings[:0] = warnings
    return result
