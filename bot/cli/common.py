"""What the ``qabot`` sub-commands share: one way to fail (with the exit codes of ``training.exit_codes``,
the same for every command) and reading the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from training.exit_codes import EXIT_USAGE

if TYPE_CHECKING:  # pydantic loads only when a command needs the settings: `qabot --help` stays instant
    from bot.settings import Settings


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr (secrets masked: ``training.redact``) and return the
    ``typer.Exit`` to raise: ``raise fail(...)``."""
    from training.redact import redact

    typer.echo(f"error: {redact(message)}", err=True)
    return typer.Exit(code)


def check_store_url(url: str) -> str:
    """``url``, unless it is an in-memory SQLite database (``sqlite://``): each command (and each of the
    store's connections) would get its own empty one, so nothing imported or logged is kept. Exits with
    ``EXIT_USAGE``. A URL that does not parse is left to ``open_store``, which says why."""
    from storage.db import StoreError, normalize_url

    try:
        parsed = normalize_url(url)
    except StoreError:
        return url
    if parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    ):
        raise fail(
            "DATABASE_URL (or --db) is an in-memory SQLite database, which keeps nothing; "
            "give a file, e.g. sqlite:///data/qabot.db"
        )
    return url


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from the environment / ``.env`` plus the command's options (None = not given).

    An invalid value exits with ``EXIT_USAGE`` and names the setting; the offending value itself is not
    echoed, so a token pasted into the wrong variable is never printed. So does a ``.env`` that cannot be
    read (not UTF-8, no permission).
    """
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        for error in e.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"error: setting {name}: {error['msg']} (check the environment and .env)", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except UnicodeDecodeError as e:  # the text around the bad byte could be a secret: only its position
        raise fail(f"cannot read .env: it is not UTF-8 text ({e.reason} at offset {e.start})") from None
    except OSError as e:
        raise fail(f"cannot read .env: {e.strerror or e}") from None
