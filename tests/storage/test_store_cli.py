"""`qabot export`, `qabot import` and `qabot db upgrade` through the real typer app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from bot.cli import app
from storage.db import alembic_config, dispose, open_store
from tests.storage.seed import seed

runner = CliRunner()


def test_db_upgrade_creates_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'q.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"revision {head} (head)" in result.output
    assert (tmp_path / "new" / "q.db").is_file()


def test_db_default_comes_from_database_url_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from_env.db'}")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from_env.db").is_file()


def test_malformed_database_url_is_one_line_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:hunter2@host:abc/qabot")
    for args in (["db", "upgrade"], ["export", "-f", "json", "-o", "x.json"], ["import", "missing.json"]):
        if args[0] == "import":
            (tmp_path / "missing.json").write_text('[{"question": "q?", "answer": "a"}]')
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.output.splitlines() == [
            "error: DATABASE_URL (or --db) is not a valid database URL (its port is not a number)"
        ]


def test_an_in_memory_sqlite_store_is_refused(tmp_path, monkeypatch):
    """Each command would get its own empty database: import twice would add everything twice."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.json").write_text('[{"question": "q?", "answer": "a"}]')
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"):
        for args in (["db", "upgrade", "--db", url], ["import", "pairs.json", "--db", url]):
            result = runner.invoke(app, args)
            assert result.exit_code == 2, result.output
            assert "DATABASE_URL (or --db) is an in-memory SQLite database" in result.output
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    result = runner.invoke(app, ["export", "-f", "json", "-o", "out.json"])
    assert result.exit_code == 2 and "in-memory" in result.output
    assert not (tmp_path / "out.json").exists()


def test_an_empty_export_says_why(tmp_path):
    """`--min-score 1` on a store nobody voted in wrote `[]` and "wrote 0 json rows", nothing more."""
    db = f"sqlite:///{tmp_path / 'q.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--db", db]).exit_code == 0
    out = str(tmp_path / "out.json")
    narrowed = runner.invoke(app, ["export", "--db", db, "-f", "json", "-o", out, "--min-score", "1"])
    assert narrowed.exit_code == 0 and "no exchange passed --min-score" in narrowed.output
    empty = runner.invoke(app, ["export", "--db", db, "-f", "json", "-o", out])
    assert "holds no answered question" in empty.output and json.loads(Path(out).read_text()) == []
    dpo = runner.invoke(app, ["export", "--db", db, "-f", "dpo", "-o", str(tmp_path / "dpo.jsonl")])
    assert "dpo rows are corrected answers" in dpo.output  # not "no answered question" beside 20 of them


def test_export_with_filters(db_url, tmp_path):
    factory = open_store(db_url)
    seed(factory)
    dispose(factory)
    out = tmp_path / "out" / "train.json"
    args = ["export", "--db", db_url, "--format", "json", "-o", str(out)]
    result = runner.invoke(app, [*args, "--min-score", "1", "--no-taught", "--until", "2024-03-01"])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert "wrote 3 json rows" in result.output and len(records) == 3
    assert {r["question"] for r in records} == {
        "What is offside?",
        "Who won the 2018 World Cup?",
        "Contact for tickets?",
    }
    assert records[2]["answer"] == "Mail [email] or call [phone]."
    result = runner.invoke(app, [*args, "--keep-pii", "--no-corrections", "--since", "2024-03-03"])
    assert result.exit_code == 0, result.output
    # A dataset for qabot train: the bot's "not sure" is no answer to learn, unless asked for.
    assert [r["answer"] for r in json.loads(out.read_text())] == ["Ronaldo", "Three fouls."]
    result = runner.invoke(
        app, [*args, "--no-exclude-unanswered", "--no-corrections", "--since", "2024-03-03"]
    )
    assert result.exit_code == 0, result.output
    assert [r["answer"] for r in json.loads(out.read_text())] == [
        "Ronaldo",
        "Three fouls.",
        "I'm not sure about that yet.",
    ]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc (no file can be made there)")
def test_export_that_cannot_be_written_names_the_file_asked_for(db_url, tmp_path):
    factory = open_store(db_url)
    seed(factory)
    dispose(factory)
    result = runner.invoke(app, ["export", "--db", db_url, "-f", "csv", "-o", "/proc/nope.csv"])
    assert result.exit_code == 1, result.output
    assert "/proc/nope.csv" in result.output and ".tmp" not in result.output


def test_export_from_a_missing_database_fails_without_creating_it(tmp_path):
    db = tmp_path / "nope.db"
    result = runner.invoke(
        app, ["export", "--db", f"sqlite:///{db}", "-f", "jsonl", "-o", str(tmp_path / "x")]
    )
    assert result.exit_code == 1
    assert "no database at" in result.output
    assert not db.exists()


def test_export_rejects_bad_dates_and_formats(tmp_path):
    base = ["export", "--db", f"sqlite:///{tmp_path / 'q.db'}", "-o", str(tmp_path / "x")]
    assert runner.invoke(app, [*base, "-f", "xml"]).exit_code == 2
    result = runner.invoke(app, [*base, "-f", "json", "--since", "last tuesday"])
    assert result.exit_code == 2 and "ISO date" in result.output


def test_import_adds_then_skips_duplicates_and_exports_them(db_url, tmp_path):
    data = tmp_path / "pairs.json"
    data.write_text(
        json.dumps(
            [
                {"question": "What is a corner kick?", "answer": "A restart taken from the corner arc."},
                {"question": "What is a throw-in?", "answer": "A restart taken with the hands."},
            ]
        )
    )
    result = runner.invoke(app, ["import", str(data), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "added 2, skipped 0" in result.output
    result = runner.invoke(app, ["import", str(data), "--db", db_url])
    assert "added 0, skipped 2" in result.output
    out = tmp_path / "back.jsonl"
    assert runner.invoke(app, ["export", "--db", db_url, "-f", "jsonl", "-o", str(out)]).exit_code == 0
    assert len(out.read_text().splitlines()) == 2


def test_import_cleans_as_data_check_does_and_never_teaches_a_secret(db_url, tmp_path):
    """An imported file is cleaned like `qabot data check`: a token-shaped secret and a spam link are
    removed and counted; a question repeated in the file keeps its last answer. `--no-filter`
    keeps the link, never the secret."""
    token = "M" + "x" * 23 + "." + "y" * 6 + "." + "z" * 27  # built here: no token-shaped literal in the repo
    key = "ghp_" + "a1B2" * 9  # an API key the store masks: never taught either (it would be served)
    rows = [
        {"question": "What is the bot token?", "answer": f"It is {token}"},
        {"question": "What is the repo key?", "answer": f"It is {key}"},
        {"question": "Where are the rules?", "answer": "See https://example.com/rules now"},
        {"question": "What is a throw-in?", "answer": "A restart with the feet."},
        {"question": "what is a  throw-in?", "answer": "A restart taken with the hands."},
    ]
    data = tmp_path / "pairs.json"
    data.write_text(json.dumps(rows))
    result = runner.invoke(app, ["import", str(data), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "added 1, skipped 0" in result.output
    removed = ((2, "secret"), (1, "spam_link"), (1, "duplicate"))
    assert all(f"{n} {why}" in result.output for n, why in removed)
    assert token not in result.output and key not in result.output
    result = runner.invoke(app, ["import", str(data), "--db", db_url, "--no-filter"])
    assert "added 1, skipped 1" in result.output and "2 secret" in result.output  # the link, now
    out = tmp_path / "back.json"
    assert runner.invoke(app, ["export", "--db", db_url, "-f", "json", "-o", str(out)]).exit_code == 0
    taught = {r["question"]: r["answer"] for r in json.loads(out.read_text())}
    assert taught == {
        "what is a throw-in?": "A restart taken with the hands.",
        "Where are the rules?": "See https://example.com/rules now",
    }


def test_export_to_a_new_folder_with_a_trailing_slash_writes_inside_it(db_url, tmp_path):
    """`-o newdir/` used to write a *file* named newdir, which the next export overwrote."""
    pairs = tmp_path / "pairs.json"
    pairs.write_text('[{"question": "What is a corner kick?", "answer": "A restart from the corner arc."}]')
    assert runner.invoke(app, ["import", str(pairs), "--db", db_url]).exit_code == 0
    folder = tmp_path / "newdir"
    for fmt, name in (("json", "qabot-json.json"), ("csv", "qabot-csv.csv")):
        result = runner.invoke(app, ["export", "--db", db_url, "-f", fmt, "-o", f"{folder}/"])
        assert result.exit_code == 0, result.output
        assert result.output == f"wrote 1 {fmt} rows to {folder / name}\n"
    assert sorted(p.name for p in folder.iterdir()) == ["qabot-csv.csv", "qabot-json.json"]
    result = runner.invoke(app, ["export", "--db", db_url, "-f", "json", "-o", f"{pairs}/"])
    assert (
        result.exit_code == 1
        and result.output == f"error: {pairs} is a file, not a folder; give a folder or a file name\n"
    )


def test_import_into_a_read_only_store_is_one_line_without_a_traceback(tmp_path):
    assert runner.invoke(app, ["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'q.db'}"]).exit_code == 0
    data = tmp_path / "pairs.json"
    data.write_text('[{"question": "What is offside?", "answer": "A rule."}]')
    read_only = f"sqlite:///file:{tmp_path / 'q.db'}?mode=ro&uri=true"
    # A real process: under pytest the root logger has handlers, so Python's last-resort handler (which
    # printed the logged traceback) never runs in CliRunner.
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(data), "--db", read_only],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: could not import records: ")
    assert "readonly database" in result.stderr


def test_import_with_custom_fields(tmp_path):
    data = tmp_path / "faq.csv"
    data.write_text("q,a\nWhat is a penalty?,A kick from the spot twelve yards out.\n")
    url = f"sqlite:///{tmp_path / 'q.db'}"
    result = runner.invoke(
        app, ["import", str(data), "--db", url, "--question-field", "q", "--answer-field", "a"]
    )
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output


def test_import_of_a_bad_file_names_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "Only a question?"}]')
    result = runner.invoke(app, ["import", str(bad), "--db", f"sqlite:///{tmp_path / 'q.db'}"])
    assert result.exit_code == 2
    assert "bad.json" in result.output


def test_import_reads_folders_hub_names_and_other_encodings(tmp_path, monkeypatch):
    import datasets

    url = f"sqlite:///{tmp_path / 'q.db'}"
    rows = [{"question": "What is a penalty?", "answer": "A kick from the spot twelve yards out."}]
    splits = {"train": datasets.Dataset.from_list(rows * 2), "test": datasets.Dataset.from_list(rows)}
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "saved"))
    result = runner.invoke(app, ["import", str(tmp_path / "saved"), "--db", url, "--split", "test"])
    assert result.exit_code == 0, result.output
    assert "added 1, skipped 0" in result.output

    latin = tmp_path / "faq.csv"
    latin.write_bytes("question,answer\nWho is Pelé?,A Brazilian forward.\n".encode("cp1252"))
    result = runner.invoke(app, ["import", str(latin), "--db", url, "--encoding", "cp1252"])
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output

    monkeypatch.setattr("training.model._hub_reachable", lambda *a, **k: False)
    result = runner.invoke(app, ["import", "hf:owner/name", "--db", url])
    assert result.exit_code == 2 and "hub is unreachable" in result.stderr
