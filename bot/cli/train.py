"""`qabot train` and `qabot eval`: thin wrappers over ``training``.

`qabot train` hands its arguments to ``python -m training``'s parser unchanged, so the two commands take
exactly the same options (`qabot train --help` lists them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail
from training.prompt import DEFAULT_MAX_NEW_TOKENS

# The MAX_NEW_TOKENS setting's bound (bot/settings.py; importing it here would load pydantic for --help).
MAX_NEW_TOKENS_LIMIT = 1024


def train_command(ctx: typer.Context) -> None:
    """Train a model on Q&A dataset file(s); `qabot train --help` lists every option."""
    from training.__main__ import main

    raise typer.Exit(main(list(ctx.args), prog="qabot train"))


def eval_command(
    model: Annotated[
        Path | None, typer.Option("--model", help="checkpoint folder (default: MODEL_DIR setting)")
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="evaluate on every question of this file")
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="recorded split to use without --data: train|eval|all")
    ] = "eval",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", min=1, max=MAX_NEW_TOKENS_LIMIT, help="answer length limit")
    ] = DEFAULT_MAX_NEW_TOKENS,
    details: Annotated[
        bool, typer.Option("--details", help="include every question's prediction (with --json)")
    ] = False,
) -> None:
    """Evaluate a checkpoint: exact match, token F1, ROUGE-L, answer-token loss and perplexity."""
    from transformers.utils import logging as hf_logging

    from training.checkpoint import CheckpointError
    from training.data import DatasetError, load_dataset_file
    from training.evaluate import SPLITS, evaluate_model

    hf_logging.disable_progress_bar()  # the command prints results, not weight-loading bars
    if split not in SPLITS:
        raise fail(f"--split must be one of {', '.join(SPLITS)}")
    if model is None:
        from bot.cli.common import load_settings

        model = load_settings().model_dir
    try:
        records = [r for path in data for r in load_dataset_file(path)] if data else None
        result = evaluate_model(
            model, records, split, max_new_tokens=max_new_tokens, with_details=details and as_json
        )
    except (CheckpointError, DatasetError) as e:
        raise fail(str(e)) from e
    if data:
        result["split"] = "data"
        result["data"] = [str(p) for p in data]
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, default=str))
        return
    typer.echo(f"{result['model_version']} on {result['split']} ({result['n']} questions)")
    for key in ("exact_match", "f1", "rougeL", "eval_loss", "perplexity"):
        value = result.get(key)
        typer.echo(f"  {key:<12} {value:.4f}" if isinstance(value, float) else f"  {key:<12} {value}")
    if result["split"] != "train":  # a small model's low scores on questions it never saw alarm newcomers
        typer.echo(
            "  (the model alone, on each question as written; the bot finds the nearest known question first "
            "and answers that: `qabot ask`)"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `qabot` app."""
    app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )(train_command)
    app.command("eval")(eval_command)
