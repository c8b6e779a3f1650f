"""The store's question key: what counts as the same question, pinned because stored rows carry it."""

from __future__ import annotations

from storage.text import normalize_question, question_key


def test_case_spacing_width_and_edge_punctuation_do_not_change_the_key():
    assert normalize_question("  ¿What's   the OFFSIDE rule?! ") == "what's the offside rule"
    assert question_key("ＷＨＡＴ'S the offside rule") == question_key("what's the offside rule?")


def test_punctuation_inside_the_question_is_part_of_the_key():
    assert question_key("whats the offside rule") != question_key("what's the offside rule")


def test_stored_keys_stay_the_same():
    # Exchanges and taught pairs are matched by this value in existing databases: a different hash here
    # means a migration has to re-key the stored rows.
    assert question_key("What's offside?") == "8c366427645569231db71186953b6aeb55d74959"
    assert len(question_key("x" * 10_000)) == 40
