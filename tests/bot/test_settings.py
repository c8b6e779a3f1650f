"""Settings come from the environment; the token is a secret that never shows up in reprs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_lists_parse_from_comma_separated_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ADMIN_USER_IDS", "1, 2,3")
    monkeypatch.setenv("ALLOWED_CHANNEL_IDS", "42")
    monkeypatch.setenv("BASE_DATASETS", "a.json,b.jsonl")
    s = Settings()
    assert s.admin_user_ids == [1, 2, 3]
    assert s.allowed_channel_ids == [42]
    assert s.base_datasets == [Path("a.json"), Path("b.jsonl")]


def test_token_is_never_in_repr_or_dump(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    secret = "MTIzNDU2Nzg5.secret-token-value"
    monkeypatch.setenv("DISCORD_TOKEN", secret)
    s = Settings()
    assert s.token == secret
    assert secret not in repr(s)
    assert secret not in str(s.model_dump())
    assert secret not in s.model_dump_json()


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///x.db\nUSER_COOLDOWN_S=0\n")
    s = Settings()
    assert s.database_url == "sqlite:///x.db"
    assert s.user_cooldown_s == 0


def test_a_bad_setting_is_a_clear_error_not_a_traceback(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRECISION", "bf17")
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret-token")
    result = CliRunner().invoke(app, ["run", "--local"])
    assert result.exit_code == 2
    assert "setting PRECISION" in result.output and "Traceback" not in result.output
    assert "MTIz.secret-token" not in result.output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BATCH_WAIT_MS", "inf"),
        ("BATCH_WAIT_MS", "nan"),
        ("BATCH_WAIT_MS", "1001"),
        ("USER_COOLDOWN_S", "inf"),
        ("REQUEST_TIMEOUT_S", "Infinity"),
        ("CONFIDENCE_THRESHOLD", "nan"),
        ("ANSWER_SCORE", "NaN"),
    ],
)
def test_float_settings_refuse_inf_nan_and_a_batch_wait_past_a_second(monkeypatch, tmp_path, name, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert [error["loc"] for error in info.value.errors()] == [(name.lower(),)]


def test_a_blank_fallback_answer_is_refused_and_a_home_path_is_expanded(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for blank in ("   ", "\u200b "):
        monkeypatch.setenv("FALLBACK_ANSWER", blank)
        with pytest.raises(ValidationError) as info:
            Settings()
        assert [error["loc"] for error in info.value.errors()] == [("fallback_answer",)]
    monkeypatch.setenv("FALLBACK_ANSWER", " Not sure, sorry. ")
    monkeypatch.setenv("MODEL_DIR", "~/qabot/models/current")
    monkeypatch.setenv("BASE_DATASETS", "~/faq.json,examples/soccer.json")
    s = Settings()
    assert s.fallback_answer == "Not sure, sorry."
    assert s.model_dir == Path.home() / "qabot/models/current"
    assert s.base_datasets == [Path.home() / "faq.json", Path("examples/soccer.json")]
    monkeypatch.setenv("MODEL_DIR", "~nosuchuser-qabot/models")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert [error["loc"] for error in info.value.errors()] == [("model_dir",)]


def test_an_unreadable_dotenv_is_one_line_not_a_traceback(monkeypatch, tmp_path):
    from pydantic_settings.sources.providers import dotenv
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"DISCORD_TOKEN=MTIz.secret\xff-token\n")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert (
        result.output == "error: cannot read .env: it is not UTF-8 text (invalid start byte at offset 25)\n"
    )

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", ".env")

    monkeypatch.setattr(dotenv, "dotenv_values", denied)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert result.output == "error: cannot read .env: Permission denied\n"


ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_env_example_lists_every_setting_with_its_default(monkeypatch, tmp_path):
    """``.env.example`` is where a user finds every setting: each field of ``Settings`` is there, nothing
    else is, and a value it shows is the default (an empty one means unset)."""
    import re

    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(names) == len(set(names)), "a setting is listed twice"
    assert set(names) == {name.upper() for name in Settings.model_fields}
    monkeypatch.chdir(tmp_path)
    for name in names:
        monkeypatch.delenv(name, raising=False)
    assert Settings(_env_file=ENV_EXAMPLE) == Settings(_env_file=None)
