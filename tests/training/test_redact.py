"""``training.redact``: no Discord token and no ``NAME=value`` settings line in anything qabot writes."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

import training.redact
from bot.cli import app
from training.__main__ import main as train_main
from training.data import DatasetError, read_dataset
from training.redact import MASK, RedactingFilter, redact, redact_logging

# Shaped like a real bot token: base64 of a user id, a timestamp, an HMAC (made up, of course).
TOKEN = "MTA4NzY1NDMyMTA5ODc2NTQz" + "." + "GhT3xQ" + "." + "k9Zb2-Lr_7vQeWx1NcPa0sYdF4uJmH8tRgE"
runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"DISCORD_TOKEN={TOKEN}", "DISCORD_TOKEN=***"),
        (f"export DISCORD_TOKEN='{TOKEN}'", "export DISCORD_TOKEN=***"),
        (f"login failed for {TOKEN}, retrying", "login failed for ***, retrying"),
        (f"Bot {TOKEN}", "Bot ***"),
        ("discord_token = hunter2", "discord_token = ***"),  # settings names are read in any case
        ("DATABASE_URL=postgresql://bob:pw@db/qabot", "DATABASE_URL=***"),
        ("db?password=hunter2&sslmode=require", "db?password=***&sslmode=require"),
        ("fields ['DISCORD_TOKEN=abc', 'B']", "fields ['DISCORD_TOKEN=***', 'B']"),
        # NAME: value, for names with a secret word as a part, or in capitals with an underscore
        ("fields ['db_password: hunter2']", "fields ['db_password: ***']"),
        ("DB_PASSWORD:hunter2", "DB_PASSWORD:***"),
        ("apiKey: abc123", "apiKey: ***"),
        ("X-Api-Key: abc123", "X-Api-Key: ***"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("secret : 's3 cr3t'", "secret : ***"),
        ("DATABASE_URL: postgresql://bob:pw@db/qabot", "DATABASE_URL: ***"),
    ],
)
def test_redact_masks_tokens_and_settings_lines(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "record 3, line 5:12, field 'answer': not a string (got int)",
        "training.data.load.read_dataset failed",
        "step=5 epochs=3 lr=0.001",  # not settings: lower-case names that name no secret
        "if a == b",
        "models/retrain-20260101-101010-123456",
        "What does 'x = 1' mean in Python?",
        "Question: what is offside? Answer: being past the second-last defender.",
        "Turkey: Ankara; monkey: banana; tokens: 512; keyboard: qwerty",
        "ERROR: database locked",  # capitals without an underscore: a log level, not a setting
        "record 3, field 'token': not a string (got int)",
        "see https://example.com:8080/a::b at 12:30",
    ],
)
def test_redact_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def test_a_settings_file_given_as_a_dataset_never_shows_its_token(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"DISCORD_TOKEN={TOKEN}\nDATABASE_URL=sqlite:///data/qabot.db\n")
    with pytest.raises(DatasetError) as info:
        read_dataset(env)
    assert TOKEN not in str(info.value) and "DISCORD_TOKEN=***" in str(info.value)
    for args in (["data", "check", str(env)], ["import", str(env), "--db", f"sqlite:///{tmp_path}/x.db"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and result.output.startswith(f"error: {env}: ")
        assert TOKEN not in result.output and "sqlite:///data" not in result.output


def test_a_name_colon_secret_line_is_masked_where_an_error_quotes_it(tmp_path):
    """The reviewer's file: a CSV whose header is a settings line and whose first row is another."""
    path = tmp_path / "env2.csv"
    path.write_text("db_password: hunter2\napi_key: sk-live-abcdefghijklmnopqrstuvwx\n")
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 2 and "cannot tell the format from its fields" in result.output
    assert "hunter2" not in result.output and "sk-live" not in result.output


def test_a_token_in_a_json_value_is_masked_where_an_error_quotes_it(tmp_path):
    path = tmp_path / "kto.jsonl"
    path.write_text(json.dumps({"prompt": "Q?", "completion": "A.", "label": TOKEN}) + "\n")
    result = runner.invoke(app, ["import", str(path), "--db", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 2 and "not a KTO label" in result.output and TOKEN not in result.output


def test_the_trainer_command_masks_the_token_in_its_error_and_json_event(tmp_path, capsys):
    env = tmp_path / ".env"
    env.write_text(f"DISCORD_TOKEN={TOKEN}\n\nOTHER=1\n")
    code = train_main(
        ["--data", str(env), "--base", "scratch", "--out", str(tmp_path / "m"), "--progress", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out.splitlines()[-1])["event"] == "error"
    assert TOKEN not in out + err and "DISCORD_TOKEN=***" in err


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("qabot", logging.ERROR, __file__, 1, message, args, exc_info)


def test_the_logging_filter_masks_message_arguments_and_traceback():
    try:
        raise RuntimeError(f"cannot log in with {TOKEN}")
    except RuntimeError as e:
        record = _record("start failed: %s (DISCORD_TOKEN=%s)", TOKEN, "x", exc=e)
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text
    assert (
        "start failed: *** (DISCORD_TOKEN=***)" in text and f"RuntimeError: cannot log in with {MASK}" in text
    )


def test_redact_logging_covers_the_root_handlers_and_the_last_resort(capsys):
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        redact_logging()
        redact_logging()  # idempotent
        assert [type(f) for f in handler.filters] == [RedactingFilter]
        # Once (``qabot run`` may have added its filter for members' secrets beside it, with its own mask).
        assert [f for f in logging.lastResort.filters if getattr(f, "mask", None) is redact] == [
            training.redact._FILTER
        ]
        logging.getLogger("qabot.test").error("token %s", TOKEN)
    finally:
        root.removeHandler(handler)
    assert TOKEN not in capsys.readouterr().err


def test_a_token_shaped_key_is_redacted_before_a_message_cuts_it():
    from training.data.errors import shown

    token = "MTA" + "x" * 23 + ".Gxxxxx." + "y" * 27
    [name] = shown([token])
    assert "MTA" not in name and "yyy" not in name
    assert shown(["k" * 5000])[0] == "k" * 40 + "…"
    assert shown(["short"]) == ["short"]
