"""Exports: every format against golden files, each filter, privacy masking, atomic writes."""

from __future__ import annotations

import csv
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from storage import candidates, repo
from storage.db import StoreError
from storage.export import FORMATS, ExportFilters, ExportSummary, export_dataset, write_export
from storage.formats import spreadsheet_cell
from tests.storage.seed import FALLBACK, T0, log_one, seed
from tests.storage.test_store_masking import DISCORD_TOKEN

GOLDEN = Path(__file__).parent / "golden"
# QABOT_UPDATE_GOLDEN=1 rewrites the golden files from the SQLite run (review the diff before committing).
UPDATE = os.environ.get("QABOT_UPDATE_GOLDEN") == "1"


@pytest.fixture
def seeded(store):
    seed(store)
    return store


def _records(factory, tmp_path: Path, **filters) -> dict[str, str]:
    out = tmp_path / "out.json"
    export_dataset(factory, "json", out, ExportFilters(**filters))
    return {r["question"]: r["answer"] for r in json.loads(out.read_text())}


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_matches_golden_file(seeded, tmp_path, db_url, fmt):
    out = tmp_path / f"export.{fmt}"
    n = export_dataset(seeded, fmt, out)
    golden = GOLDEN / f"export.{fmt}"
    if UPDATE and db_url.startswith("sqlite"):
        golden.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    assert out.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8")
    assert n > 0


def test_json_export_is_the_training_record_schema(seeded, tmp_path):
    out = tmp_path / "train.json"
    n = export_dataset(seeded, "json", out)
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == n
    assert all(set(r) == {"question", "answer"} for r in data)


def test_duplicates_collapse_to_best_supported_answer(seeded, tmp_path):
    got = _records(seeded, tmp_path, keep_pii=True)
    offside = [q for q in got if q.lower().startswith("what is") and "offside" in q.lower()]
    assert len(offside) == 1 and got[offside[0]] == "Being past the last defender."  # most net votes
    assert got["Who is the best player?"] == "Ronaldo"  # no votes: the latest
    assert got["What is a hat-trick?"] == "Three goals by one player in one game."  # latest correction
    assert got["How long is a match"] == "90 minutes plus stoppage time."  # taught beats the fallback
    assert "Is the ball round?" not in got  # retired taught pair


def test_no_ids_in_any_dataset_format(seeded, tmp_path):
    for fmt in FORMATS:
        out = tmp_path / f"x.{fmt}"
        export_dataset(seeded, fmt, out)
        text = out.read_text()
        for snowflake in ("111111111111111111", "222222222222222222", "333333333333333333", "u1", "a1"):
            assert snowflake not in text


def test_pii_is_masked_unless_kept(seeded, tmp_path):
    masked = _records(seeded, tmp_path)
    assert masked["Contact for tickets?"] == "Mail [email] or call [phone]."
    assert "<@" not in masked["Who won the 2018 World Cup?"]
    kept = _records(seeded, tmp_path, keep_pii=True)
    assert kept["Contact for tickets?"] == "Mail tickets@example.com or call +1 (555) 123-4567."


def test_bare_discord_ids_in_questions_and_answers_are_masked_unless_kept(store, tmp_path):
    # A pasted user id names a person as surely as a mention does; a message link's ids name the guild,
    # channel and message. Years, scores and counts are no ids.
    link = "https://discord.com/channels/111111111111111111/222222222222222222/1234567890123456789"
    with store.begin() as s:
        log_one(s, "why was 345678901234567890 muted in 2024?", answer=f"See {link} (3 warnings, 100 points)")
    masked = _records(store, tmp_path, include_taught=False)
    assert masked == {"why was [id] muted in 2024?": "See https://discord.com/channels/[id]/[id]/[id] "
                      "(3 warnings, 100 points)"}  # fmt: skip
    kept = _records(store, tmp_path, keep_pii=True)
    assert kept == {"why was 345678901234567890 muted in 2024?": f"See {link} (3 warnings, 100 points)"}


def test_since_and_until_select_a_time_window(seeded, tmp_path):
    late = _records(seeded, tmp_path, since=T0 + timedelta(days=1), exclude_unanswered=False)
    assert set(late) == {"Who is the best player?", "What is a hat-trick?", "What is VAR?"}
    early = _records(seeded, tmp_path, until=T0 + timedelta(hours=4), include_taught=False)
    assert set(early) == {"What is offside?", "Who won the 2018 World Cup?"}


def test_min_score_keeps_well_voted_and_corrected_answers(seeded, tmp_path):
    got = _records(seeded, tmp_path, min_score=1, include_taught=False)
    assert set(got) == {
        "What is offside?",
        "Who won the 2018 World Cup?",  # downvoted, but corrected
        "Contact for tickets?",
        "What is a hat-trick?",
    }


def test_min_score_without_corrections_judges_the_bot_answer(seeded, tmp_path):
    got = _records(seeded, tmp_path, min_score=0, include_taught=False, include_corrections=False)
    assert "Who won the 2018 World Cup?" not in got
    assert got["What is a hat-trick?"] == "Three fouls."


def test_only_rated_drops_answers_nobody_voted_on(seeded, tmp_path):
    got = _records(seeded, tmp_path, only_rated=True, include_taught=False, include_corrections=False)
    assert set(got) == {"What is offside?", "Who won the 2018 World Cup?", "Contact for tickets?"}


def test_unanswered_answers_are_left_out_unless_asked_for(seeded, tmp_path):
    """A training dataset by default: the bot's "not sure" is no answer to learn (``qabot export`` said
    "ready for qabot train" and wrote it as one)."""
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        export_dataset(seeded, fmt, out)
        assert FALLBACK not in out.read_text(), fmt
    got = _records(seeded, tmp_path, include_taught=False)
    assert "What is VAR?" not in got and "How long is a match?" not in got
    got = _records(seeded, tmp_path, exclude_unanswered=False, include_taught=False)
    assert got["What is VAR?"] == FALLBACK


def test_did_you_mean_replies_are_no_answers_to_export_unless_corrected(store, tmp_path):
    with store.begin() as s:
        asked = dict(model_version="v1", confidence=0.6, unanswered=False, latency_ms=1.0, source="discord")
        offered = "Did you mean:\n1. How long is a match?\n2. How long is half-time?"
        repo.log_exchange(s, question="how long", answer=offered, zone="suggest", **asked)
        fixed = repo.log_exchange(s, question="how long is it", answer=offered, zone="suggest", **asked)
        repo.add_correction(s, fixed.id, "90 minutes.", "admin")
        repo.log_exchange(s, question="How long is a match?", answer="90 minutes.", zone="answer", **asked)
    want = {"how long is it": "90 minutes.", "How long is a match?": "90 minutes."}
    assert _records(store, tmp_path) == want


def test_flags_turn_off_corrections_and_taught_pairs(seeded, tmp_path):
    got = _records(
        seeded,
        tmp_path,
        include_corrections=False,
        include_taught=False,
        keep_pii=True,
        exclude_unanswered=False,
    )
    assert got["Who won the 2018 World Cup?"] == "Brazil"
    assert got["How long is a match?"] == FALLBACK


def test_kto_labels_come_from_votes_and_corrections(seeded, tmp_path):
    out = tmp_path / "kto.jsonl"
    export_dataset(seeded, "kto", out, ExportFilters(keep_pii=True))
    rows = {
        (r["prompt"][0]["content"].lower(), r["completion"][0]["content"]): r["label"]
        for r in map(json.loads, out.read_text().split("\n")[:-1])
    }
    assert rows[("what is offside?", "Being past the last defender.")] is True
    assert rows[("what is  offside", "No idea really.")] is False
    assert rows[("who won the 2018 world cup?", "Brazil")] is False
    assert rows[("what is a hat-trick?", "Three goals by one player in one game.")] is True
    assert not any(c == "Messi" for _, c in rows)  # unrated: no label


def test_dpo_pairs_correction_with_the_bot_answer(seeded, tmp_path):
    out = tmp_path / "dpo.jsonl"
    assert export_dataset(seeded, "dpo", out, ExportFilters(keep_pii=True)) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {
        "prompt": [{"role": "user", "content": "What is a hat-trick?"}],
        "chosen": [{"role": "assistant", "content": "Three goals by one player in one game."}],
        "rejected": [{"role": "assistant", "content": "Three fouls."}],
    } in rows
    assert export_dataset(seeded, "dpo", out, ExportFilters(include_corrections=False)) == 0


def test_csv_round_trips_commas_quotes_and_newlines(store, tmp_path):
    with store.begin() as s:
        repo.add_taught_pair(s, 'Say "hi", please', "Line one,\nline two")
    out = tmp_path / "x.csv"
    export_dataset(store, "csv", out)
    with out.open(newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == [{"question": 'Say "hi", please', "answer": "Line one,\nline two"}]


def test_csv_cells_a_spreadsheet_would_run_as_formulas_start_with_a_quote(store, tmp_path):
    # A member's accepted answer and a question are anyone's text; admins open the csv in a spreadsheet.
    formula = '=HYPERLINK("http://evil","click")'
    with store.begin() as s:
        row, _ = candidates.propose(s, question="How do I claim tickets?", answer=formula, source="reply")
        candidates.accept(s, row.id, 7)
        repo.add_taught_pair(s, "+1 or -1 for VAR?", "-1, it is slow.")
        repo.add_taught_pair(s, "<@123456789012345678> what is offside?", "@everyone: past the last defender")
        repo.add_taught_pair(s, "Is a 2-1 win good?", "Yes; = is a draw, - a loss.")
    out = tmp_path / "x.csv"
    export_dataset(store, "csv", out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith('"question","answer"\n')  # every cell quoted (";"-splitting locales too)
    with out.open(newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == [
            {"question": "How do I claim tickets?", "answer": "'" + formula},
            {"question": "'+1 or -1 for VAR?", "answer": "'-1, it is slow."},
            {"question": "'@user what is offside?", "answer": "'@everyone: past the last defender"},
            {"question": "Is a 2-1 win good?", "answer": "Yes; = is a draw, - a loss."},  # a start only
        ]
    # Only csv: the training formats keep every text exact.
    assert _records(store, tmp_path)["How do I claim tickets?"] == formula


@pytest.mark.parametrize(
    ("text", "cell"),
    [("=1+1", "'=1+1"), ("\t=1+1", "'\t=1+1"), ("\r=1+1", "'\r=1+1"), ("  =1+1", "'  =1+1"),
     ("@SUM(A1)", "'@SUM(A1)"), ("a=1", "a=1"), ("", ""), ("'quoted'", "'quoted'")],
)  # fmt: skip
def test_spreadsheet_cell_escapes_what_starts_a_formula(text, cell):
    assert spreadsheet_cell(text) == cell


def test_failed_export_leaves_the_old_file_and_no_temp(seeded, tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "keep.json"
    out.write_text("old")
    import storage.export as export_module

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_encode", boom)
    with pytest.raises(RuntimeError):
        export_dataset(seeded, "json", out)
    assert out.read_text() == "old"
    assert [p.name for p in folder.iterdir()] == ["keep.json"]


def test_export_never_replaces_the_store_it_reads(seeded, db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL store is no file")
    own = Path(db_url.removeprefix("sqlite:///"))
    before = own.read_bytes()
    with pytest.raises(StoreError, match="the store's own database"):
        export_dataset(seeded, "json", tmp_path / ".." / tmp_path.name / own.name)
    assert own.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))


def test_export_to_a_folder_names_the_file_after_the_format(seeded, tmp_path):
    summary = write_export(seeded, "jsonl", tmp_path)
    assert summary.path == tmp_path / "qabot-jsonl.jsonl" and summary.path.is_file()


def test_export_to_a_name_ending_in_a_slash_creates_that_folder(seeded, tmp_path):
    summary = write_export(seeded, "csv", f"{tmp_path / 'new' / 'exports'}/")
    assert summary.path == tmp_path / "new" / "exports" / "qabot-csv.csv" and summary.path.is_file()


def test_exported_file_has_the_usual_permissions(seeded, tmp_path):
    umask = os.umask(0o022)
    try:
        export_dataset(seeded, "json", tmp_path / "out.json")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644  # readable by others, as cp would make it


def test_unknown_format_is_refused(store, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export_dataset(store, "xml", tmp_path / "x.xml")


def test_empty_store_exports_valid_empty_files(store, tmp_path):
    assert export_dataset(store, "json", tmp_path / "e.json") == 0
    assert json.loads((tmp_path / "e.json").read_text()) == []


def test_exports_mask_secrets_even_with_keep_pii(store, tmp_path):
    """A token a member pasted before the store masked it (an older row) is no training data either."""
    with store.begin() as s:
        row = log_one(s, question="why does my bot not start", answer="Reset the token.")
        row.question = f"why does my bot not start with {DISCORD_TOKEN}"  # as an older store kept it
        repo.add_correction(s, row.id, "Reset it in the developer portal.", "admin")  # in kto and dpo too
    for keep_pii in (False, True):
        for fmt in FORMATS:
            out = tmp_path / f"out.{fmt}"
            export_dataset(store, fmt, out, ExportFilters(keep_pii=keep_pii))
            assert "GAbcde" not in out.read_text() and "[secret]" in out.read_text(), (fmt, keep_pii)


@pytest.mark.parametrize("zone", ["chat", "abuse"])
def test_chat_and_abuse_are_never_exported(store, tmp_path, zone):
    with store.begin() as s:
        log_one(s, question="thanks!", answer="You're welcome! 🙂", unanswered=True, zone=zone)
        log_one(s, question="What is offside?", answer="Being past the last defender.", zone="answer")
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        export_dataset(store, fmt, out, ExportFilters(exclude_unanswered=False))
        assert "thanks!" not in out.read_text(), fmt


def test_trl_exports_are_conversational(seeded, tmp_path):
    """Prompts are user messages and answers assistant messages, so TRL applies the chat template."""
    user = {"role": "user", "content": "What is a hat-trick?"}
    answer = {"role": "assistant", "content": "Three goals by one player in one game."}
    rows = {}
    for fmt in ("sft", "kto", "dpo"):
        out = tmp_path / f"{fmt}.jsonl"
        export_dataset(seeded, fmt, out, ExportFilters(keep_pii=True))
        rows[fmt] = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"messages": [user, answer]} in rows["sft"]
    assert {"prompt": [user], "completion": [answer], "label": True} in rows["kto"]
    assert all(set(r) == {"prompt", "chosen", "rejected"} for r in rows["dpo"])
    for row in rows["kto"] + rows["dpo"]:
        assert [m["role"] for m in row["prompt"]] == ["user"]
        assert all(row[k][0]["role"] == "assistant" for k in ("completion", "chosen", "rejected") if k in row)


def test_kto_export_summary_counts_labels_and_warns_outside_trl_range(seeded, tmp_path):
    summary = write_export(seeded, "kto", tmp_path / "kto.jsonl")
    assert (summary.rows, summary.labels[True], summary.labels[False]) == (8, 5, 3)
    warning = summary.kto_warning()  # 5:3 = 1.67:1, above 4:3
    assert warning and "5 desirable, 3 undesirable" in warning and "undesirable_weight" in warning
    assert write_export(seeded, "json", tmp_path / "x.json").kto_warning() is None


@pytest.mark.parametrize(
    ("good", "bad", "warns"),
    [(99, 1, True), (10, 10, False), (13, 10, False), (14, 10, True), (5, 10, True), (7, 0, True)],
)
def test_kto_warning_follows_trls_one_to_four_thirds_range(good, bad, warns):
    summary = ExportSummary("kto", rows=good + bad, labels={True: good, False: bad})
    assert (summary.kto_warning() is not None) is warns
