"""What `python -m training` checks before anything trains: bad data, side files (`--synonyms`,
`--wordings`), a missing `--data`, a base that is not there: exit 2 in seconds, naming the file, entry and
field, with no work folder or model left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.train_support import write_dataset
from training.__main__ import main


@pytest.fixture(scope="session")
def dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "cup.json")


def test_bad_data_is_a_clear_error_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "Who?"}]')
    code = main(["--data", str(bad), "--base", "scratch", "--size", "tiny", "--progress", "json",
                 "--out", str(tmp_path / "m")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 2
    event = json.loads(out.out.strip().splitlines()[-1])
    assert event["event"] == "error" and "bad.json" in event["message"]
    assert "Traceback" not in out.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "bad.json: no such synonyms file"),
        ('[{"question": "Who?", "answer": "Me."}]', "synonym 1, field 'word': missing"),
        (
            '[{"word": "goalie", "means": ["goalkeeper"]}, {"word": "ref"}]',
            "synonym 2 ('ref'), field 'means': missing",
        ),
        ('{"goalie": "goalkeeper"}', "synonyms must be a list"),
        (
            "word,means\ngoalie,goalkeeper\n",
            'JSONDecodeError: Expecting value: line 1 column 1 (char 0)); expected a JSON list of {"word"',
        ),
    ],
)
def test_bad_synonyms_fail_before_training(dataset_file, tmp_path, capsys, monkeypatch, text, expected):
    """`--synonyms` is read at the very end of a run (the index): it is checked before anything trains,
    so a bad file is exit 2 in seconds, naming the file, entry and field, with no work folder left."""
    import training.train

    monkeypatch.setattr(training.train, "_load_data", lambda *_: pytest.fail("trained before the check"))
    bad = tmp_path / "bad.json"
    if text is not None:
        bad.write_text(text)
    out = tmp_path / "models" / "run"
    code = main(["--data", str(dataset_file), "--base", "scratch", "--size", "tiny", "--out", str(out),
                 "--synonyms", str(bad)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and f"--synonyms {bad}" in err and expected in err
    assert not out.parent.exists() or not list(out.parent.iterdir())  # no .work- folder, no model


def test_a_missing_data_file_is_named_before_the_base_model_is_looked_for(tmp_path, capsys, monkeypatch):
    """A typo in --data with a hub base was reported as the base model being unreachable."""
    import training.train

    monkeypatch.setattr(training.train, "load_base", lambda *_: pytest.fail("looked for the base first"))
    missing = tmp_path / "faq.jsonl"
    code = main(["--data", str(missing), "--base", "distilgpt2", "--out", str(tmp_path / "models" / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"{missing}: cannot read the file: No such file or directory" in err, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "no such wordings file"),
        ('{"wording": "x"}', "wordings must be a list"),
        ("[" * 100_000, "cannot read wordings (RecursionError"),
        ('[{"wording": "goalie?", "question": "Who is the goalkeeper?"}, {"wording": "ref?"}]',
         "wording 2, field 'question': missing"),
    ],
)  # fmt: skip
def test_bad_wordings_fail_before_training(dataset_file, tmp_path, capsys, monkeypatch, text, expected):
    import training.train

    monkeypatch.setattr(training.train, "_load_data", lambda *_: pytest.fail("trained before the check"))
    bad = tmp_path / "wordings.json"
    if text is not None:
        bad.write_text(text)
    out = tmp_path / "models" / "run"
    code = main(["--data", str(dataset_file), "--base", "scratch", "--out", str(out), "--wordings", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and f"--wordings {bad}" in err and expected in err and "Traceback" not in err
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_bad_base_names_the_alternatives(dataset_file, tmp_path, capsys):
    code = main(
        ["--data", str(dataset_file), "--base", str(tmp_path / "no" / "such"), "--out", str(tmp_path / "m")]
    )
    assert code == 2
    assert "scratch" in capsys.readouterr().err
