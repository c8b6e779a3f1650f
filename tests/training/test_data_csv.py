"""CSV is read as RFC 4180 says: only the delimiter is guessed, quotes are always ``"`` with ``""`` inside,
quoted fields may span lines, and errors name the line where the bad record starts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from training.data import DatasetError, load_dataset_file, read_dataset

FIXTURES = Path(__file__).parent / "fixtures"
FAQ = FIXTURES / "faq_rfc4180.csv"


def test_sniffer_misreads_the_fixture_so_it_exercises_the_old_failure():
    # The old loader let csv.Sniffer guess the whole dialect; the apostrophes in this FAQ make it pick "'"
    # as the quote, and then the fourth line splits into 6 columns.
    text = FAQ.read_text(encoding="utf-8")
    dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    assert dialect.quotechar == "'"
    assert len(list(csv.reader(io.StringIO(text, newline=""), dialect))[3]) == 6


def test_rfc4180_faq_reads_every_row_with_escaped_quotes_and_line_breaks():
    assert len(list(csv.reader(FAQ.open(newline="", encoding="utf-8")))) == 11  # header + 10 records
    records = load_dataset_file(FAQ)
    assert len(records) == 10
    assert records[2]["question"] == 'What is the "golden goal" rule?'
    assert records[7]["answer"].startswith('From "association football": Oxford slang shortened')
    assert records[5]["answer"] == (
        "1. Place the ball on the spot.\n2. Wait for the whistle.\n3. Shoot, low; the keeper may move "
        "along the line."
    )
    assert (
        records[3]["answer"]
        == "Gary Lineker said 'twenty-two men chase a ball' and 'the Germans win' at the end."
    )


@pytest.mark.parametrize(
    ("delimiter", "name"), [(";", "eu.csv"), ("\t", "tab.csv"), ("|", "pipe.csv"), ("\t", "data.tsv")]
)
def test_the_delimiter_is_guessed_among_the_usual_four(tmp_path, delimiter, name):
    rows = [
        ["question", "answer"],
        ["Who won, in 2014?", "Germany, 1-0; after extra time."],
        ["Q2?", "A, b."],
    ]
    path = tmp_path / name
    path.write_text("\n".join(delimiter.join(f'"{c}"' if "," in c else c for c in r) for r in rows) + "\n")
    assert load_dataset_file(path)[0] == {
        "question": "Who won, in 2014?",
        "answer": "Germany, 1-0; after extra time.",
    }


def test_errors_name_the_line_where_the_record_starts(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text('question,answer\n"Q1?","Line one\nline two\nline three"\nQ2?,A2,extra\n')
    with pytest.raises(DatasetError) as info:
        load_dataset_file(path)
    assert (info.value.line, info.value.problem) == (5, "3 columns but the header has 2")


def test_a_quote_never_closed_is_an_error_not_a_swallowed_file(tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('question,answer\nQ1?,A1.\n"Q2?,A2.\nQ3?,A3.\nQ4?,A4.\n')
    with pytest.raises(DatasetError, match="line 3: malformed CSV: a quoted field .* never closed"):
        load_dataset_file(path)


def test_text_after_a_closing_quote_is_malformed(tmp_path):
    path = tmp_path / "stray.csv"
    path.write_text('question,answer\nQ1?,A1.\n"Q2?"x,A2.\n')
    with pytest.raises(DatasetError, match="line 3: malformed CSV"):
        load_dataset_file(path)


def test_quotes_inside_an_unquoted_field_stay_text(tmp_path):
    path = tmp_path / "inch.csv"
    path.write_text("question,answer\nHow big is a goal?,8 yards by 8 feet (24' x 8'); not 7\" wide.\n")
    assert read_dataset(path).records[0]["answer"] == "8 yards by 8 feet (24' x 8'); not 7\" wide."


def test_a_field_over_the_csv_modules_128_kib_default_is_refused_as_too_long_not_as_malformed(tmp_path):
    path = tmp_path / "long.csv"
    answer = "A long answer. " * 20_000  # 300 KB: over MAX_ANSWER_CHARS, under MAX_RECORD_CHARS
    path.write_text(f'question,answer\nWhy so long?,"{answer}"\n')
    with pytest.raises(DatasetError, match=r"line 2, field 'answer': too long for an answer: 299,999 char"):
        read_dataset(path)
    path.write_text(f'question,answer\nWhy so long?,"{answer * 4}"\n')  # 1.2 MB: past the csv limit too
    with pytest.raises(
        DatasetError, match=r"long.csv: line 2: record too long: a field over the 1 MiB limit"
    ):
        read_dataset(path)


def test_a_column_named_twice_is_an_error_not_the_last_one_kept(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("question,answer,answer,,\nQ1?,First answer.,Second answer.,,\n")
    with pytest.raises(DatasetError, match="line 1, field 'answer': named twice in the header; rename one"):
        load_dataset_file(path)


def test_a_repeat_at_the_end_of_a_very_wide_header_is_named(tmp_path):
    """200,000 column names (each compared with all before it, this took four minutes of CPU)."""
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(200_000)) + ",c7\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="named twice in the header") as info:
        read_dataset(path)
    assert "c7" in str(info.value)
