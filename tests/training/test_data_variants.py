"""Question variants: training sees each question also lower-cased, with and without its final '?'."""

from __future__ import annotations

from training.data.variants import casual_forms, with_question_variants
from training.records import make_record


def test_casual_forms_lower_case_with_and_without_final_punctuation():
    assert casual_forms("Who won in 2014?") == ["who won in 2014?", "who won in 2014"]
    assert casual_forms("who won") == []  # already casual: no copy
    assert casual_forms("Who won") == ["who won"]


def test_variants_keep_the_answer_and_the_originals_first():
    records = [make_record("What is VAR?", "Video assistant referee."), make_record("why", "Because.")]
    out = with_question_variants(records)
    assert out[:2] == records
    assert out[2:] == [
        make_record("what is var?", "Video assistant referee."),
        make_record("what is var", "Video assistant referee."),
    ]
