"""`qabot run` (Discord or terminal) and `qabot sync` (upload the slash commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `qabot` app."""

    @app.command("run")
    def run_command(
        local: Annotated[
            bool, typer.Option("--local", help="Terminal mode even when DISCORD_TOKEN is set.")
        ] = False,
        db: Annotated[str | None, typer.Option("--db", help="Database URL (default: DATABASE_URL).")] = None,
        model: Annotated[
            Path | None, typer.Option("--model", help="Model folder (default: MODEL_DIR).")
        ] = None,
        bootstrap: Annotated[
            bool,
            typer.Option(
                "--bootstrap", help="Train the example model (examples/soccer.json) if none exists."
            ),
        ] = False,
    ) -> None:
        """Run the bot: on Discord with DISCORD_TOKEN, else in the terminal (scriptable from stdin)."""
        from bot import launcher
        from bot.cli.common import check_store_url, load_settings

        settings = load_settings(database_url=db, model_dir=model)
        check_store_url(settings.database_url)
        launcher.run(settings, local=local, bootstrap=bootstrap)

    @app.command("sync")
    def sync_command(
        guild: Annotated[
            int | None, typer.Option("--guild", help="Guild id (default: DEV_GUILD_ID).")
        ] = None,
        global_: Annotated[
            bool, typer.Option("--global", help="Sync to every guild (up to an hour).")
        ] = False,
    ) -> None:
        """Upload the slash commands to Discord: DEV_GUILD_ID, --guild ID, or --global."""
        from bot import launcher
        from bot.cli.common import load_settings

        launcher.sync(load_settings(), guild_id=guild, global_=global_)
