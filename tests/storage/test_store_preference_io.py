"""TRL exports through `qabot export` / `qabot import`: the KTO balance warning, and importing KTO / DPO
files back (undesirable and rejected answers are never taught)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.db import dispose, open_store
from storage.models import TaughtPair
from tests.storage.seed import seed
from training.data import DatasetError
from training.data.preference import read_preference_file

runner = CliRunner()


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _taught(url: str) -> dict[str, set[str]]:
    factory = open_store(url, create=False)
    try:
        with factory() as s:
            pairs: dict[str, set[str]] = {}
            for p in s.query(TaughtPair).all():
                pairs.setdefault(p.question, set()).add(p.answer)
            return pairs
    finally:
        dispose(factory)


def _user(text):
    return [{"role": "user", "content": text}]


def _bot(text):
    return [{"role": "assistant", "content": text}]


def test_kto_export_warns_on_stderr_when_unbalanced(db_url, tmp_path):
    factory = open_store(db_url)
    seed(factory)
    dispose(factory)
    out = tmp_path / "kto.jsonl"
    result = runner.invoke(app, ["export", "--db", db_url, "-f", "kto", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 8 kto rows" in result.stdout
    assert "warning: kto: 5 desirable, 3 undesirable" in result.stderr
    assert "KTOConfig(undesirable_weight=" in result.stderr
    result = runner.invoke(app, ["export", "--db", db_url, "-f", "dpo", "-o", str(tmp_path / "d.jsonl")])
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_kto_help_says_the_export_is_mostly_desirable():
    result = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"})
    assert "mostly desirable" in result.output and "4:3" in result.output
    assert "conversational" in result.output


def test_importing_a_kto_file_teaches_only_desirable_answers(tmp_path):
    data = _jsonl(
        tmp_path / "kto.jsonl",
        [
            {
                "prompt": _user("What is offside?"),
                "completion": _bot("Being past the last defender."),
                "label": True,
            },
            {"prompt": _user("What is offside?"), "completion": _bot("No idea really."), "label": False},
            {"prompt": "What is a corner?", "completion": "A restart from the corner arc.", "label": "true"},
            {"prompt": _user("Who won in 2018?"), "completion": _bot("Brazil"), "label": False},
        ],
    )
    url = f"sqlite:///{tmp_path / 'q.db'}"
    result = runner.invoke(app, ["import", str(data), "--db", url])
    assert result.exit_code == 0, result.output
    assert (
        "added 2, skipped 0" in result.output and "skipped 2 undesirable (kto label false)" in result.output
    )
    assert _taught(url) == {
        "What is offside?": {"Being past the last defender."},
        "What is a corner?": {"A restart from the corner arc."},
    }


def test_importing_a_dpo_file_teaches_chosen_never_rejected(tmp_path):
    data = _jsonl(
        tmp_path / "dpo.jsonl",
        [
            {
                "prompt": _user("What is a hat-trick?"),
                "chosen": _bot("Three goals by one player in one game."),
                "rejected": _bot("Three fouls."),
            },
            {  # TRL's implicit prompt: whole conversations, the last pair compared
                "chosen": _user("Who won in 2018?") + _bot("France."),
                "rejected": _user("Who won in 2018?") + _bot("Brazil."),
            },
        ],
    )
    url = f"sqlite:///{tmp_path / 'q.db'}"
    result = runner.invoke(app, ["import", str(data), "--db", url])
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output and "skipped 2 undesirable (dpo rejected answers)" in result.output
    assert _taught(url) == {
        "What is a hat-trick?": {"Three goals by one player in one game."},
        "Who won in 2018?": {"France."},
    }


def test_export_then_import_round_trips_the_verdicts(db_url, tmp_path):
    factory = open_store(db_url)
    seed(factory)
    dispose(factory)
    for fmt, undesirable in (("kto", 3), ("dpo", 2)):
        out = tmp_path / f"{fmt}.jsonl"
        assert runner.invoke(app, ["export", "--db", db_url, "-f", fmt, "-o", str(out)]).exit_code == 0
        url = f"sqlite:///{tmp_path / f'{fmt}.db'}"
        result = runner.invoke(app, ["import", str(out), "--db", url])
        assert result.exit_code == 0, result.output
        assert f"skipped {undesirable} undesirable" in result.output
        taught = {a for answers in _taught(url).values() for a in answers}
        assert "Three fouls." not in taught and "Brazil" not in taught
        assert "Three goals by one player in one game." in taught


def test_an_sft_export_imports_as_plain_pairs(db_url, tmp_path):
    factory = open_store(db_url)
    seed(factory)
    dispose(factory)
    out = tmp_path / "sft.jsonl"
    assert runner.invoke(app, ["export", "--db", db_url, "-f", "sft", "-o", str(out)]).exit_code == 0
    assert read_preference_file(out) is None  # messages: training.data's own shape
    result = runner.invoke(app, ["import", str(out), "--db", f"sqlite:///{tmp_path / 'sft.db'}"])
    assert result.exit_code == 0, result.output
    assert "added 6" in result.output and "undesirable" not in result.output  # no "not sure" answer


def test_preference_reader_errors_name_the_row(tmp_path):
    bad = _jsonl(tmp_path / "k.jsonl", [{"prompt": "Q?", "completion": "A.", "label": "maybe"}])
    with pytest.raises(DatasetError, match="line 1.*label"):
        read_preference_file(bad)
    plain = _jsonl(tmp_path / "p.jsonl", [{"question": "Q?", "answer": "A."}])
    assert read_preference_file(plain) is None
    with pytest.raises(DatasetError, match="not a kto row"):
        read_preference_file(plain, fmt="kto")
