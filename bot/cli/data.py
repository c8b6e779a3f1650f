"""`qabot data check` and `qabot data clean`: validate, clean and report on Q&A dataset files.

Both load every PATH (any supported shape, detected automatically), clean the records together and
print the report; ``clean`` also writes the result in the seed's schema (a JSON list of
``{"question", "answer"}``), atomically. Invalid input (or nothing left after cleaning) exits with
code 2 and writes nothing.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import fail

data_app = typer.Typer(help="Check and clean Q&A dataset files.", no_args_is_help=True)


class ConflictPolicy(StrEnum):
    first = "first"
    last = "last"
    longest = "longest"


PathsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Dataset(s): a JSON list, JSON Lines, CSV/TSV, Parquet or Arrow file (gzip/bz2/xz too), a "
        "datasets save_to_disk folder, or hf:owner/name on the Hugging Face hub; holding question/answer, "
        "alpaca, sharegpt, chat messages, prompt/completion or TRL kto/dpo preference records.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="Force the file syntax (json, jsonl, csv, parquet, arrow) or the record shape (seed, alpaca, "
        "sharegpt, messages, prompt-completion, kto, dpo); detected when omitted.",
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="Text encoding of the files (e.g. cp1252 for Windows/Excel exports, latin-1); default UTF-8, "
        "or UTF-16 with a byte-order mark.",
    ),
]
SplitOpt = Annotated[
    str, typer.Option("--split", help="Split of a hub dataset or a saved DatasetDict (train, test, ...).")
]
QuestionFieldOpt = Annotated[
    str | None, typer.Option("--question-field", help="Field/column holding the question.")
]
AnswerFieldOpt = Annotated[
    str | None, typer.Option("--answer-field", help="Field/column holding the answer.")
]
RecordsKeyOpt = Annotated[
    str | None,
    typer.Option("--records-key", help="Key of the record list in a JSON object (a.b for nested)."),
]


def _above_zero_to_one(value: float) -> float:
    """The cleaning thresholds' range, (0, 1], checked here so that the error names the option."""
    if not 0.0 < value <= 1.0:
        raise typer.BadParameter(f"{value:g} is not in the range 0<x<=1.")
    return value


ThresholdOpt = Annotated[
    float,
    typer.Option(
        "--near-dup-threshold",
        callback=_above_zero_to_one,
        help="Similarity (0-1] of both question and answer at which a record is a near-duplicate; "
        "1 turns the check off.",
    ),
]
ConflictsOpt = Annotated[
    ConflictPolicy, typer.Option("--conflicts", help="Answer kept when one question has several.")
]
OffensiveOpt = Annotated[
    bool,
    typer.Option(
        "--offensive/--no-offensive",
        help="Drop offensive language (a classifier proposes, a sentence encoder checks the context).",
    ),
]
OffensiveThresholdOpt = Annotated[
    float,
    typer.Option(
        "--offensive-threshold",
        callback=_above_zero_to_one,
        help="Classifier score (0-1] at which text is checked in context (default 0.5); lower catches more.",
    ),
]
SpamOpt = Annotated[
    bool, typer.Option("--spam/--no-spam", help="Drop links, invite URLs and repeated characters.")
]
ShortOpt = Annotated[bool, typer.Option("--short/--no-short", help="Drop answers too short to be useful.")]
AllowWordOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-word",
        help="A word the offensive filter ignores, e.g. a sport's or trade's jargon (repeatable).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")]


def _clean_options(
    threshold: float,
    conflicts: ConflictPolicy,
    offensive: bool,
    offensive_threshold: float,
    spam: bool,
    short: bool,
    allow: list[str] | None,
) -> dict[str, Any]:
    from training.data.filters import DEFAULT_ALLOWED_WORDS

    return {
        "near_dup_threshold": threshold,
        "conflicts": conflicts.value,
        "offensive": offensive,
        "offensive_threshold": offensive_threshold,
        "spam": spam,
        "short": short,
        "allowed_words": (*DEFAULT_ALLOWED_WORDS, *(allow or ())),
    }


def _prepare(paths: list[Path], load: dict[str, Any], clean: dict[str, Any], as_json: bool) -> Any:
    """Load and clean; on invalid input print the error (stderr, and a JSON object with --json), exit 2."""
    from training.data import CleanOptions, DatasetError, prepare_dataset

    try:
        result = prepare_dataset(paths, CleanOptions(**clean), **load)
        if not result.records:
            raise DatasetError(
                ", ".join(map(str, paths)),
                f"empty dataset: no records left after cleaning ({result.report.records_in} in)",
            )
    except (DatasetError, ValueError) as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "error": str(exc)}))
        raise fail(str(exc)) from None
    return result


def _show(report: Any, as_json: bool, **extra: Any) -> None:
    from training.data import render_report

    if as_json:
        typer.echo(json.dumps({"valid": True, **report.to_dict(), **extra}, ensure_ascii=False))
    else:
        render_report(report)


def _load_options(
    fmt: str | None,
    question_field: str | None,
    answer_field: str | None,
    records_key: str | None,
    encoding: str | None,
    split: str,
) -> dict[str, str | None]:
    return {
        "fmt": fmt,
        "question_field": question_field,
        "answer_field": answer_field,
        "records_key": records_key,
        "encoding": encoding,
        "split": split,
    }


@data_app.command("check")
def check(
    paths: PathsArg,
    fmt: FormatOpt = None,
    question_field: QuestionFieldOpt = None,
    answer_field: AnswerFieldOpt = None,
    records_key: RecordsKeyOpt = None,
    encoding: EncodingOpt = None,
    split: SplitOpt = "train",
    near_dup_threshold: ThresholdOpt = 0.9,
    conflicts: ConflictsOpt = ConflictPolicy.first,
    offensive: OffensiveOpt = True,
    offensive_threshold: OffensiveThresholdOpt = 0.5,
    spam: SpamOpt = True,
    short: ShortOpt = True,
    allow_word: AllowWordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate and clean dataset files without writing anything: exit 0 if usable, 2 if not."""
    load = _load_options(fmt, question_field, answer_field, records_key, encoding, split)
    clean = _clean_options(
        near_dup_threshold, conflicts, offensive, offensive_threshold, spam, short, allow_word
    )
    _show(_prepare(paths, load, clean, as_json).report, as_json)


@data_app.command("clean")
def clean(
    paths: PathsArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Where to write the cleaned dataset (JSON list).", show_default=False
        ),
    ],
    fmt: FormatOpt = None,
    question_field: QuestionFieldOpt = None,
    answer_field: AnswerFieldOpt = None,
    records_key: RecordsKeyOpt = None,
    encoding: EncodingOpt = None,
    split: SplitOpt = "train",
    near_dup_threshold: ThresholdOpt = 0.9,
    conflicts: ConflictsOpt = ConflictPolicy.first,
    offensive: OffensiveOpt = True,
    offensive_threshold: OffensiveThresholdOpt = 0.5,
    spam: SpamOpt = True,
    short: ShortOpt = True,
    allow_word: AllowWordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Clean dataset files and write the result as a JSON list of {"question", "answer"}."""
    from training.checkpoint import write_json

    load = _load_options(fmt, question_field, answer_field, records_key, encoding, split)
    clean = _clean_options(
        near_dup_threshold, conflicts, offensive, offensive_threshold, spam, short, allow_word
    )
    if output.is_dir():
        raise fail(f"{output} is a folder; give a file name such as {output / 'clean.json'}")
    if any(output.resolve() == path.resolve() for path in paths):
        raise fail(f"--output {output} is one of the input files; write the cleaned dataset to another file")
    result = _prepare(paths, load, clean, as_json)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_json(output, result.records)  # temp file + rename: readers never see half a file
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    _show(result.report, as_json, output=str(output))
    if not as_json:
        typer.echo(f"wrote {len(result.records)} records to {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add `qabot data check|clean` to the `qabot` app."""
    app.add_typer(data_app, name="data")
