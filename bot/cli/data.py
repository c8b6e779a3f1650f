"""`qabot data check` and `qabot data clean`: validate, clean and report on Q&A dataset files.

Both load every PATH (any supported shape, detected automatically), clean the records together and
print the report; ``clean`` also writes the result in the seed's schema (a JSON list of
``{"question", "answer"}``), atomically. Invalid input (or nothing left after cleaning) exits with
code 2 and writes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import typing
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import fail
from training.data.options import CONFLICT_POLICIES, CleanOptions

data_app = typer.Typer(help="Check and clean Q&A dataset files.", no_args_is_help=True)

DEFAULTS = CleanOptions()  # the cleaning pipeline's defaults are the commands' defaults
ConflictPolicy = StrEnum("ConflictPolicy", [(policy, policy) for policy in CONFLICT_POLICIES])


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
        help=f"Classifier score (0-1] at which text is checked in context (default "
        f"{DEFAULTS.offensive_threshold:g}); lower catches more.",
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


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """What ``data check`` and ``data clean`` share: the files, how to read them and how to clean them.
    Their command-line parameters, in this order and with these defaults (``with_data_options``)."""

    paths: PathsArg
    fmt: FormatOpt = None
    question_field: QuestionFieldOpt = None
    answer_field: AnswerFieldOpt = None
    records_key: RecordsKeyOpt = None
    encoding: EncodingOpt = None
    split: SplitOpt = "train"
    near_dup_threshold: ThresholdOpt = DEFAULTS.near_dup_threshold
    conflicts: ConflictsOpt = ConflictPolicy(DEFAULTS.conflicts)
    offensive: OffensiveOpt = DEFAULTS.offensive
    offensive_threshold: OffensiveThresholdOpt = DEFAULTS.offensive_threshold
    spam: SpamOpt = DEFAULTS.spam
    short: ShortOpt = DEFAULTS.short
    allow_word: AllowWordOpt = None
    as_json: JsonOpt = False

    def load_options(self) -> dict[str, str | None]:
        """The keyword arguments of ``prepare_dataset`` that say how to read the files."""
        names = ("fmt", "question_field", "answer_field", "records_key", "encoding", "split")
        return {name: getattr(self, name) for name in names}

    def clean_options(self) -> CleanOptions:
        return CleanOptions(
            near_dup_threshold=self.near_dup_threshold,
            conflicts=self.conflicts.value,
            offensive=self.offensive,
            offensive_threshold=self.offensive_threshold,
            spam=self.spam,
            short=self.short,
            allowed_words=(*DEFAULTS.allowed_words, *(self.allow_word or ())),
        )


def with_data_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command(options: DataOptions, **own)`` as a typer command: its parameters are ``DataOptions``'
    (PATHS first, then the command's own, then the rest), and it is called with them gathered."""
    shared_hints = typing.get_type_hints(DataOptions, include_extras=True)
    own_hints = typing.get_type_hints(command, include_extras=True)
    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [
        inspect.Parameter(
            f.name,
            keyword,
            default=inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default,
            annotation=shared_hints[f.name],
        )
        for f in dataclasses.fields(DataOptions)
    ]
    own = [
        p.replace(kind=keyword, annotation=own_hints[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.name != "options"
    ]
    names = {p.name for p in shared}

    @functools.wraps(command)
    def run(**values: Any) -> None:
        options = DataOptions(**{name: values.pop(name) for name in names})
        command(options, **values)

    parameters = [shared[0], *own, *shared[1:]]
    run.__signature__ = inspect.Signature(parameters)
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


def _prepare(options: DataOptions) -> Any:
    """Load and clean; on invalid input print the error (stderr, and a JSON object with --json), exit 2."""
    from training.data import DatasetError, prepare_dataset

    paths = options.paths
    try:
        result = prepare_dataset(paths, options.clean_options(), **options.load_options())
        if not result.records:
            raise DatasetError(
                ", ".join(map(str, paths)),
                f"empty dataset: no records left after cleaning ({result.report.records_in} in)",
            )
    except (DatasetError, ValueError) as exc:
        if options.as_json:
            typer.echo(json.dumps({"valid": False, "error": str(exc)}))
        raise fail(str(exc)) from None
    return result


def _show(report: Any, as_json: bool, **extra: Any) -> None:
    from training.data import render_report

    if as_json:
        typer.echo(json.dumps({"valid": True, **report.to_dict(), **extra}, ensure_ascii=False))
    else:
        render_report(report)


@data_app.command("check")
@with_data_options
def check(options: DataOptions) -> None:
    """Validate and clean dataset files without writing anything: exit 0 if usable, 2 if not."""
    _show(_prepare(options).report, options.as_json)


@data_app.command("clean")
@with_data_options
def clean(
    options: DataOptions,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Where to write the cleaned dataset (JSON list).", show_default=False
        ),
    ],
) -> None:
    """Clean dataset files and write the result as a JSON list of {"question", "answer"}."""
    from training.checkpoint import write_json

    if output.is_dir():
        raise fail(f"{output} is a folder; give a file name such as {output / 'clean.json'}")
    if any(output.resolve() == path.resolve() for path in options.paths):
        raise fail(f"--output {output} is one of the input files; write the cleaned dataset to another file")
    result = _prepare(options)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_json(output, result.records)  # temp file + rename: readers never see half a file
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    _show(result.report, options.as_json, output=str(output))
    if not options.as_json:
        typer.echo(f"wrote {len(result.records)} records to {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add `qabot data check|clean` to the `qabot` app."""
    app.add_typer(data_app, name="data")
