"""The cleaning report: what came in, what went out and why (with the first few merged pairs of each
duplicate rule, and similar pairs kept apart as different facts), and how long the examples are in GPT-2
tokens. ``to_dict`` is the ``--json`` form; ``render_report`` the table a person reads."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from training.data.facts import DIFFERENCES
from training.data.filters import (
    OFFENSIVE,
    REPEAT_RUN,
    SECRET,
    SPAM_LINK,
    SPAM_REPEATED,
    TOO_SHORT,
    mask_secret,
)
from training.records import Record

UNDESIRABLE = "undesirable"  # a TRL KTO row labelled false: set aside when the file is read
EMPTY = "empty"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
# Every reason is always present in ``removed`` (0 when nothing was removed for it), in pipeline order.
REASONS = (
    UNDESIRABLE,
    EMPTY,
    SECRET,
    OFFENSIVE,
    SPAM_LINK,
    SPAM_REPEATED,
    TOO_SHORT,
    DUPLICATE,
    NEAR_DUPLICATE,
)
REASON_HELP = {
    UNDESIRABLE: "undesirable (KTO label false)",
    EMPTY: "empty after cleaning",
    SECRET: "a secret (token, key, password)",
    OFFENSIVE: "offensive language",
    SPAM_LINK: "link or invite URL",
    SPAM_REPEATED: f"a char {REPEAT_RUN}+ times",
    TOO_SHORT: "answer too short",
    DUPLICATE: "same question",
    NEAR_DUPLICATE: "near-identical Q&A",
}
# How a dropped record matched the kept one: the same text (after normalize_text), the same comparison
# key (case, punctuation or invisible characters apart), or near-identical question and answer.
EXACT, NORMALIZED, NEAR = "exact", "normalized", "near"
MERGE_RULES = {
    EXACT: "same text",
    NORMALIZED: "same but for case/punctuation",
    NEAR: "question and answer alike (≥ --near-dup-threshold), same numbers, names and words",
}
MAX_EXAMPLES = 3
MAX_MERGED = 8  # merged pairs listed per rule; the counts cover them all
MAX_CONFLICT_EXAMPLES = 5
GPT2_CONTEXT = 1024  # GPT-2's n_positions: longer examples get truncated in training
TOKEN_SAMPLE = 20_000  # records tokenized for the length distribution (all of them below this)
LONGEST_CHECKED = 1_000  # the longest records by characters, always tokenized when sampling


@dataclass
class CleanReport:
    records_in: int = 0
    records_out: int = 0
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    conflicts: int = 0
    conflict_examples: list[dict[str, Any]] = field(default_factory=list)
    merged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MERGE_RULES, 0))
    merged_pairs: list[dict[str, Any]] = field(default_factory=list)
    # Questions kept although alike (training.data.facts): by number, those that are an earlier kept one
    # with other numbers; by name or word, compared pairs otherwise alike enough to merge.
    kept_apart: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIFFERENCES, 0))
    kept_apart_examples: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def remove(self, reason: str, record: Record, **detail: Any) -> None:
        """Count one removed record under ``reason``, keeping the first few as examples."""
        self.removed[reason] = self.removed.get(reason, 0) + 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < MAX_EXAMPLES:
            # Any reason (a KTO row labelled false, say): the report is printed, and kept in a checkpoint's
            # data_report.json.
            question, answer = mask_secret(record["question"]), mask_secret(record["answer"])
            shown.append({"question": question, "answer": answer, **detail})

    def merge(self, rule: str, kept: str, dropped: str, similarity: float) -> None:
        """Count one dropped question merged into a kept one under ``rule``, listing the first few."""
        self.merged[rule] += 1
        if self.merged[rule] <= MAX_MERGED:
            pair = {"rule": rule, "kept": kept, "dropped": dropped, "similarity": round(similarity, 3)}
            self.merged_pairs.append(pair)

    def keep_apart(self, counts: dict[str, int], examples: Sequence[tuple[str, str, float, str]]) -> None:
        """Add the counts of similar pairs kept apart by ``training.data.facts``, and up to MAX_EXAMPLES
        of each difference from ``examples`` (first question, second question, similarity, difference)."""
        for difference, count in counts.items():
            self.kept_apart[difference] = self.kept_apart.get(difference, 0) + count
        for first, second, similarity, difference in examples:
            if sum(e["differs_in"] == difference for e in self.kept_apart_examples) < MAX_EXAMPLES:
                example = {"first": first, "second": second, "similarity": round(similarity, 3)}
                self.kept_apart_examples.append({**example, "differs_in": difference})

    def add_conflict(self, question: str, kept: str, dropped: Sequence[str]) -> None:
        self.conflicts += 1
        if len(self.conflict_examples) < MAX_CONFLICT_EXAMPLES:
            self.conflict_examples.append({"question": question, "kept": kept, "dropped": list(dropped)})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (the ``qabot data check --json`` object)."""
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "removed": dict(self.removed),
            "removed_total": sum(self.removed.values()),
            "examples": self.examples,
            "conflicts": self.conflicts,
            "conflict_examples": self.conflict_examples,
            "merged": dict(self.merged),
            "merged_pairs": self.merged_pairs,
            "kept_apart": dict(self.kept_apart),
            "kept_apart_examples": self.kept_apart_examples,
            "tokens": self.tokens,
            "warnings": list(self.warnings),
            "sources": self.sources,
        }


@functools.cache
def _gpt2_tokenizer():
    # Loaded once per process: the report is built for every check/clean/train, and tests build many.
    from training.tokenizer import load_gpt2_tokenizer

    return load_gpt2_tokenizer()


def token_lengths(records: Sequence[Record]) -> list[int]:
    """GPT-2 BPE length of each record as a training example (prompt + answer + EOS)."""
    from training.prompt import format_answer, format_prompt

    texts = [format_prompt(r["question"]) + format_answer(r["answer"], "") for r in records]
    # The Rust tokenizer's batch encoder: several times faster than calling the Python tokenizer.
    encodings = _gpt2_tokenizer().backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    return [len(e.ids) + 1 for e in encodings]  # + 1 for the EOS token


def token_stats(
    records: Sequence[Record], sample: int = TOKEN_SAMPLE, seed: int = 0
) -> dict[str, Any] | None:
    """mean / p50 / p95 / max example length in GPT-2 tokens, or None for no records.

    Past ``sample`` records, mean and percentiles come from a seeded random sample of that size (their
    error is far below a token), and max / over_context from that sample plus the longest records by
    character count, so the outliers that matter for truncation are still measured."""
    import heapq
    import random

    import numpy as np

    if not records:
        return None
    sampled = len(records) > sample
    if sampled:
        picked = random.Random(seed).sample(range(len(records)), sample)
        size = lambda i: len(records[i]["question"]) + len(records[i]["answer"])  # noqa: E731
        longest = set(heapq.nlargest(LONGEST_CHECKED, range(len(records)), key=size)) - set(picked)
        lengths = np.asarray(token_lengths([records[i] for i in [*picked, *longest]]))
        typical = lengths[:sample]
    else:
        lengths = typical = np.asarray(token_lengths(records))
    return {
        "tokenizer": "gpt2",
        "mean": round(float(typical.mean()), 1),
        "p50": float(np.percentile(typical, 50)),
        "p95": float(np.percentile(typical, 95)),
        "max": int(lengths.max()),
        "over_context": int((lengths > GPT2_CONTEXT).sum()),
        "sampled": sample if sampled else None,
    }


def _clip(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters, escaped so that brackets in it print as written, not as Rich
    markup (a question holding ``[/b]`` made printing fail)."""
    from rich.markup import escape

    return escape(text if len(text) <= width else text[: width - 1] + "…")


def render_report(report: CleanReport, console: Any = None) -> None:
    """Print the report as rich tables (to stdout, or the given rich Console)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    summary = Table(title="Dataset", show_header=False)
    for src in report.sources:
        summary.add_row("file", escape(f"{src['path']} ({src['format']}, {src['records']} records)"))
    summary.add_row("records in", str(report.records_in))
    summary.add_row("records out", f"[bold]{report.records_out}[/bold]")
    summary.add_row("conflicts", str(report.conflicts))
    if report.tokens:
        t = report.tokens
        summary.add_row(
            "tokens (GPT-2)", f"mean {t['mean']}  p50 {t['p50']:g}  p95 {t['p95']:g}  max {t['max']}"
        )
    console.print(summary)

    removed = Table(title="Removed")
    removed.add_column("reason")
    removed.add_column("count", justify="right")
    removed.add_column("why")
    removed.add_column("example")
    for reason in report.removed:
        shown = report.examples.get(reason, [])
        example = f"Q: {_clip(shown[0]['question'])}  A: {_clip(shown[0]['answer'], 40)}" if shown else ""
        removed.add_row(reason, str(report.removed[reason]), REASON_HELP.get(reason, ""), example)
    console.print(removed)

    if report.conflict_examples:
        conflicts = Table(title=f"Conflicts ({report.conflicts}): same question, different answers")
        for column in ("question", "kept", "dropped"):
            conflicts.add_column(column)
        for c in report.conflict_examples:
            conflicts.add_row(
                _clip(c["question"]), _clip(c["kept"], 40), " | ".join(_clip(d, 40) for d in c["dropped"])
            )
        console.print(conflicts)
    _render_merges(report, console)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def _render_merges(report: CleanReport, console: Any) -> None:
    """The merged pairs listed (first MAX_MERGED of each rule, and how many more) and the pairs kept apart."""
    from rich.table import Table

    if report.merged_pairs:
        counts = ", ".join(f"{rule} {n}" for rule, n in report.merged.items() if n)
        merged = Table(title=f"Merged pairs ({counts}): dropped question -> kept one")
        for column in ("rule", "similarity", "dropped", "kept"):
            merged.add_column(column)
        for pair in report.merged_pairs:
            merged.add_row(
                pair["rule"], f"{pair['similarity']:g}", _clip(pair["dropped"]), _clip(pair["kept"])
            )
        legend = "; ".join(f"{rule}: {MERGE_RULES[rule]}" for rule, n in report.merged.items() if n)
        more = sum(report.merged.values()) - len(report.merged_pairs)
        merged.caption = legend + (
            f"\n… and {more} more (the first {MAX_MERGED} of each rule)" if more else ""
        )
        console.print(merged)
    if apart := sum(report.kept_apart.values()):
        counts = ", ".join(f"{d} {n}" for d, n in report.kept_apart.items() if n)
        kept = Table(title=f"Kept apart ({apart} similar pairs; differ in {counts}): different facts")
        for column in ("differs in", "similarity", "question", "other question"):
            kept.add_column(column)
        for pair in report.kept_apart_examples:
            kept.add_row(
                pair["differs_in"], f"{pair['similarity']:g}", _clip(pair["first"]), _clip(pair["second"])
            )
        console.print(kept)
