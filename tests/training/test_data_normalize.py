"""Normalization and the comparison key: examples plus hypothesis properties."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from training.data import CleanOptions, clean_records, comparison_key, normalize_text
from training.data.report import DUPLICATE


def test_normalize_composes_strips_invisibles_and_collapses_whitespace():
    assert normalize_text("  Pele\u0301 \u200bscored\u00a0\n\tthree\x07 goals  ") == "Pelé scored three goals"
    assert normalize_text("zero\u200dwidth\ufeff") == "zerowidth"


def test_comparison_key_ignores_case_punctuation_and_width():
    assert comparison_key("What’s the OFFSIDE rule?!") == comparison_key("what's the offside rule")
    assert comparison_key("ＦＩＦＡ") == comparison_key("fifa")
    assert comparison_key("2+2") != comparison_key("2 2")  # symbols are content, not punctuation


def test_comparison_key_is_never_stored():
    """Cleaning matches questions by their comparison key but keeps each record's own wording."""
    answer = "Being beyond the second-last defender when the ball is played."
    written = "What\u2019s the OFFSIDE rule?\u200b"  # not ASCII: normalize_text takes its full path
    records = [{"question": q, "answer": answer} for q in (written, "what's the offside rule")]
    result = clean_records(records, CleanOptions(token_stats=False))
    assert result.report.removed[DUPLICATE] == 1  # the two share a comparison key...
    # ...and the record kept is the normalized text (zero-width space gone, case and punctuation intact)
    assert [r["question"] for r in result.records] == ["What\u2019s the OFFSIDE rule?"]
    assert comparison_key(written) == "what s the offside rule"


@given(st.text())
def test_normalize_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@given(st.text())
def test_normalized_text_is_nfc_without_controls_or_runs_of_space(text):
    out = normalize_text(text)
    assert unicodedata.is_normalized("NFC", out)
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in out)


@given(st.text(alphabet=st.characters(categories=["L"]), min_size=1).filter(lambda s: s.strip()))
def test_never_empties_a_non_blank_string_of_letters(text):
    assert normalize_text(text)
    assert comparison_key(text)


@given(st.text())
def test_comparison_key_is_idempotent(text):
    key = comparison_key(text)
    assert comparison_key(key) == key
