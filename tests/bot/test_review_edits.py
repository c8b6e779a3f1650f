"""Edits the review desk refuses, whichever way they come (`qabot review --edit`, the terminal's `/review
edit`, Discord's Edit form: all through ``bot.desk.review.decide``): past the dataset's limits, or holding a
secret the bot would repeat to anyone. Nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Correction, TaughtPair
from tests.bot.fixtures import ADMIN_ID
from tests.bot.test_review import fill_queue


async def test_an_edit_past_the_answer_limit_is_refused(store):
    from bot.desk import review
    from training.data.limits import MAX_ANSWER_CHARS

    ids = fill_queue(store)
    with pytest.raises(review.ReviewError, match="limit"):
        await review.decide(
            store, None, f"downvote:{ids['downvote']}", "edit", ADMIN_ID, answer="x" * (MAX_ANSWER_CHARS + 1)
        )
    with store() as s:
        assert s.scalars(select(Correction)).all() == []


@pytest.mark.parametrize("kind", ["downvote", "candidate"])
async def test_an_edit_holding_a_secret_is_refused_as_correct_and_teach_refuse_it(store, kind):
    from bot.desk import review

    ids = fill_queue(store)
    key = "sk-proj-" + "Zq8xP3mN7vR2tY6wK9bL4cH1"
    with pytest.raises(review.ReviewError, match="secret"):
        await review.decide(store, None, f"{kind}:{ids[kind]}", "edit", ADMIN_ID, answer=f"Use the key {key}")
    with store() as s:
        assert s.scalars(select(Correction)).all() == [] and s.scalars(select(TaughtPair)).all() == []
