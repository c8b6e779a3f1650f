"""Splitting long answers into Discord-sized messages."""

from __future__ import annotations

import pytest

from bot.discord_app.chunking import DISCORD_MESSAGE_LIMIT, split_message


def test_short_text_is_one_piece():
    assert split_message("  Germany won it.  ") == ["Germany won it."]


def test_long_text_splits_at_sentence_ends_within_the_limit():
    sentence = "The quick brown fox jumps over the lazy dog. "
    text = sentence * 120  # about 5400 characters
    pieces = split_message(text)
    assert len(pieces) == 3
    assert all(len(p) <= DISCORD_MESSAGE_LIMIT for p in pieces)
    assert all(p.endswith("dog.") for p in pieces)
    assert " ".join(pieces) == text.strip()


def test_without_sentence_ends_it_splits_between_words():
    words = ["word"] * 1000
    pieces = split_message(" ".join(words), limit=50)
    assert all(len(p) <= 50 for p in pieces)
    assert all(w == "word" for p in pieces for w in p.split())
    assert sum(len(p.split()) for p in pieces) == 1000


def test_an_unbroken_run_is_cut_hard():
    assert [len(p) for p in split_message("x" * 4500)] == [2000, 2000, 500]


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        split_message("abc", limit=0)


def test_max_pieces_cuts_the_last_piece_with_an_ellipsis():
    """A quoted question, a 4,000-character answer and a source line once made four messages."""
    text = "> " + "q " * 149 + "\n" + "a" * 4000 + "\n-# closest known question: " + "x" * 200
    assert len(split_message(text)) == 4
    pieces = split_message(text, max_pieces=3)
    assert len(pieces) == 3 and pieces[-1].endswith("…") and all(len(p) <= 2000 for p in pieces)
    assert split_message("short", max_pieces=3) == ["short"]


def test_a_code_block_cut_in_two_stays_code_on_both_sides():
    """The first piece left its block open and the second showed the code as text, its closing fence
    opening a new block that swallowed what followed."""
    code = "\n".join(f"x{i} = compute({i})  # a comment" for i in range(60))
    text = "Here is how. " + "Step one is this. " * 40 + f"\n```python\n{code}\n```\nDone. That is all."
    pieces = split_message(text, limit=1000)
    assert len(pieces) >= 3 and all(len(p) <= 1000 for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)  # each piece's blocks close
    assert all(p.startswith("```python\n") for p in pieces[1:-1])
    assert pieces[-1].endswith("Done. That is all.")

    def words(t: str) -> str:
        return "".join(t.replace("```python", "").replace("```", "").split())

    assert words("".join(pieces)) == words(text)


def test_code_is_cut_between_lines_keeps_its_indentation_and_a_cut_closes_its_last_block():
    code = "\n".join(f"def f{i}(x):\n    return x + {i}  # step {i}. then the next one" for i in range(80))
    text = "Intro. " * 10 + f"\n```python\n{code}\n```\nDone."
    pieces = split_message(text, limit=1000)
    lines = {line for piece in pieces for line in piece.splitlines()}
    assert lines - {"```", "```python", "Done."} <= set(text.splitlines()) | {("Intro. " * 10).strip()}
    short = split_message(f"```\n{'z' * 3000}\n```", limit=1000, max_pieces=2)
    assert short[-1].endswith("…\n```") and all(p.count("```") % 2 == 0 for p in short)
