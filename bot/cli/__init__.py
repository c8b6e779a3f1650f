"""The ``qabot`` command: one typer app; each sub-module registers its commands.

Every command is a thin call into a package function. Heavy imports (torch, transformers, discord)
happen inside the commands, so ``qabot --help`` stays instant.
"""

from __future__ import annotations

import typer

from bot.cli import answer, data, desk, run, store, train

app = typer.Typer(
    name="qabot",
    help="A Discord Q&A bot that trains its own small language model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (data, train, answer, store, desk, run):
    module.register(app)


def main() -> None:
    from training.redact import redact_logging

    redact_logging()  # a warning logged before (or without) any logging set-up is masked too
    app()
