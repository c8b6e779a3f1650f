"""Settings come from the environment; the token is a secret that never shows up in reprs."""

from __future__ import annotations

from pathlib import Path

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
