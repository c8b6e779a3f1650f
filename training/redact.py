"""``redact``: the one rule that keeps secrets out of what qabot writes (errors, logs, the retrain status
and ``TrainingRun.error``). Two shapes are masked as ``***``:

- a Discord bot token, or anything shaped like one: three base64url segments joined by dots, the first
  at least 23 characters (the user id), then at least 6 and at least 27 (a JWT is masked too);
- the value of a settings line ``NAME=value`` (what a ``.env`` holds) whose name is in capitals, as
  environment variables are, or names a secret in any case (``token``, ``password``, ``secret``, ``key``…),
  so a ``.env`` given as a dataset never has its lines quoted back;
- the value of ``NAME: value`` (YAML, HTTP headers) whose name has a secret word as one of its parts
  (``db_password``, ``apiKey``, ``X-Api-Key``, ``Authorization: Bearer``…) or is in capitals with an
  underscore (``DB_URL``): "Question: what is offside?", "Turkey: Ankara" and "ERROR: ..." stay as they are.

``RedactingFilter`` applies it to log records (message, arguments and traceback); ``redact_logging``
installs it on the root logger's handlers and on ``logging.lastResort``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

MASK = "***"
TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{23,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{27,}")
_SECRET_WORDS = re.compile(r"token|secret|passw|pwd|key|auth|credential|cookie|session", re.IGNORECASE)
_ASSIGNMENT = re.compile(
    r"(?<![\w.-])(?P<name>[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)"
    r"(?P<eq>[ \t]*=(?!=)[ \t]*|[ \t]*:(?![:/])[ \t]*)"  # not :: or :// (URLs)
    r"(?P<scheme>(?:Bearer|Basic|Token)[ \t]+)?"
    r"(?P<value>\"[^\"\n]*\"?|'[^'\n]*'?|[^\s'\",;&)\]}]+)"
)
# For NAME: value, the name's parts (split at _ - and case changes) are compared whole, so "Turkey" or
# "tokens" is no secret: a colon follows ordinary words far more often than an equals sign does.
_NAME_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SECRET_PARTS = frozenset(
    ("token", "secret", "password", "passwd", "passphrase", "pwd", "key", "apikey", "credential")
    + ("credentials", "cookie", "auth", "authorization")
)


def _mask_assignment(match: re.Match[str]) -> str:
    name = match["name"]
    if "=" in match["eq"]:
        secret = (name.isupper() and len(name) > 1) or _SECRET_WORDS.search(name)
    else:
        parts = _NAME_PARTS.findall(name)
        secret = any(part.lower() in _SECRET_PARTS for part in parts) or (name.isupper() and "_" in name)
    return f"{name}{match['eq']}{match['scheme'] or ''}{MASK}" if secret else match[0]


def redact(text: str) -> str:
    """``text`` with Discord-token-shaped strings and the values of ``NAME=value`` settings lines and of
    secret-looking ``NAME: value`` lines masked."""
    if not text:
        return text
    return _ASSIGNMENT.sub(_mask_assignment, TOKEN.sub(MASK, text))


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record before any handler formats it: with ``mask`` (default ``redact``),
    the message, traceback and stack."""

    def __init__(self, mask: Callable[[str], str] = redact) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: left for the handler to report, as logging does
            return True
        clean = self.mask(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


_FILTER = RedactingFilter()


def redact_logging() -> None:
    """Install ``RedactingFilter`` on every handler of the root logger and on ``logging.lastResort`` (what
    prints a warning when no logging is set up); call it again after adding handlers. Idempotent."""
    handlers = [*logging.getLogger().handlers, logging.lastResort]
    for handler in handlers:
        if handler is not None and _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
