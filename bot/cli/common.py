"""What the ``qabot`` sub-commands share: reading the settings with a clear error instead of a traceback."""

from __future__ import annotations

from typing import Any

import typer

from bot.settings import Settings

EXIT_BAD_SETTINGS = 2


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from the environment / ``.env`` plus the command's options (None = not given).

    An invalid value exits with code 2 and names the setting; the offending value itself is not echoed,
    so a token pasted into the wrong variable is never printed.
    """
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        for error in e.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"error: setting {name}: {error['msg']} (check the environment and .env)", err=True)
        raise typer.Exit(EXIT_BAD_SETTINGS) from None
