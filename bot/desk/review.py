"""The review queue as the front ends use it: list what waits (``items``), and decide one (``decide``:
accept, with an admin's edits or not, or reject), each decision written to the store in one transaction
and applied to this process's answerer at once (others follow the change log).

What each decision does, by kind (``storage.review``):
- phrasing — accept: the wording becomes an admin's, answered as its known question from now on, and a
  correction with that question's answer (the next retrain learns it); edit: the same with another known
  question or answer; reject: the wording is forgotten (``LEARN_FROM_CHOICES`` keeps learning others).
- downvote — accept or reject: dismissed (the answer stands); edit: the admin's correction.
- candidate — accept / edit: a taught pair (source "member"); reject: closed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import async_store

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from bot.answering.knowledge import Knowledge
    from bot.async_store import SessionFactory

ACTIONS = ("accept", "edit", "reject")


class ReviewError(ValueError):
    """An item id or an edit that cannot be decided; the message says why (for the admin)."""


@dataclass(frozen=True)
class Decision:
    """What deciding an item did, in words for the admin (``done`` False: it was decided already)."""

    done: bool
    text: str


def parse_item(item_id: str) -> tuple[str, int]:
    """``"phrasing:12"`` → ("phrasing", 12); a ``ReviewError`` for anything else."""
    from storage.review import KINDS

    kind, _, number = item_id.strip().partition(":")
    if kind not in KINDS or not number.isdecimal():
        raise ReviewError(f"{item_id!r} is not a review item (like phrasing:12, downvote:7, candidate:3)")
    return kind, int(number)


async def items(session_factory: SessionFactory, limit: int = 50) -> list[dict[str, Any]]:
    """What waits for an admin (``storage.review.queue``)."""
    from storage.review import queue

    return await async_store.run_in_session(session_factory, queue, limit)


def by_turns(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` taking each kind in turn (each kind's own order kept), so the first few shown hold every
    kind that waits: ten phrasings must not hide a member's answer."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        kinds.setdefault(item["kind"], []).append(item)
    rows = itertools.zip_longest(*kinds.values())
    return [item for row in rows for item in row if item is not None]


async def waiting(session_factory: SessionFactory) -> dict[str, int]:
    """How many items of each kind wait, all of them (``storage.review.waiting``)."""
    from storage.review import waiting as count

    return await async_store.run_in_session(session_factory, count)


def known_answer(knowledge: Knowledge | None, question: str) -> str | None:
    """The answer ``knowledge`` holds for known ``question`` (its index or a taught pair), or None."""
    from training.data import comparison_key

    if knowledge is None or not knowledge.available or not question:
        return None
    for match in knowledge.search_many([question], k=3)[0]:
        if comparison_key(match.question) == comparison_key(question):
            return match.answer
    return None


async def _known_answer(answerer: Answerer | None, knowledge: Knowledge | None, question: str) -> str | None:
    """``known_answer`` on the thread that owns the knowledge (a serving answerer's: the torch thread)."""
    import asyncio

    if answerer is not None:
        from bot.answering import torch_thread

        return await torch_thread.run(known_answer, answerer.knowledge, question)
    return await asyncio.to_thread(known_answer, knowledge, question)


async def _refresh(answerer: Answerer | None, session_factory: SessionFactory, parts: set[str]) -> None:
    if answerer is not None:
        from bot.answering.knowledge_sync import load_knowledge

        await load_knowledge(answerer, session_factory, parts)


def check_edit(action: str, question: str | None, answer: str | None) -> None:
    """A ``ReviewError`` for an unknown action, an edit with nothing in it, a text past its limit, or one
    holding a secret (``/correct`` and ``/teach`` refuse those too: the bot would repeat it to anyone)."""
    from training.data.filters import has_secret
    from training.data.limits import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS

    if action not in ACTIONS:
        raise ReviewError(f"action must be one of {ACTIONS}, not {action!r}")
    if action == "edit" and not (question or answer):
        raise ReviewError("an edit needs the corrected question or answer")
    for what, text, most in (
        ("question", question, MAX_QUESTION_CHARS),
        ("answer", answer, MAX_ANSWER_CHARS),
    ):
        if text and len(text.strip()) > most:
            raise ReviewError(f"the {what} has {len(text.strip()):,} characters; the limit is {most:,}")
    if has_secret(question or "", answer or ""):
        raise ReviewError("the edit holds a secret (a token, a key, a password) anyone could then read")


async def decide(
    session_factory: SessionFactory,
    answerer: Answerer | None,
    item_id: str,
    action: str,
    admin_id: int | str | None,
    *,
    question: str | None = None,
    answer: str | None = None,
    knowledge: Knowledge | None = None,
) -> Decision:
    """Decide review item ``item_id`` (``ACTIONS``); ``question``/``answer``: an admin's edit. ``answerer``:
    the serving one (applied to it at once); without one, ``knowledge`` finds known questions' answers."""
    from storage import candidates, repo, review

    kind, number = parse_item(item_id)
    check_edit(action, question, answer)
    if kind == "phrasing":
        if action == "reject":
            row = await async_store.exchange(session_factory, number)
            chosen = await async_store.run_in_session(session_factory, _chosen, number)
            if row is None or chosen is None:
                return Decision(False, f"{item_id} is no longer waiting.")
            await async_store.forget_wording(session_factory, row["question"], chosen)
            await _refresh(answerer, session_factory, {"wordings"})
            return Decision(True, f"Forgot “{row['question']}” as a way to ask “{chosen}”.")
        chosen = await async_store.run_in_session(session_factory, _chosen, number)
        target = (question or "").strip() or chosen
        known = (answer or "").strip() or await _known_answer(answerer, knowledge, target or "")
        if chosen is not None and not known:  # "answered as" a question nobody answers: refuse
            raise ReviewError(
                f"“{target}” is not a known question (any more): edit {item_id} with the question it "
                "means or an answer"
            )
        done = await async_store.run_in_session(
            session_factory, review.accept_phrasing, number, admin_id, question=target, answer=known
        )
        if done is None:
            return Decision(False, f"{item_id} is no longer waiting.")
        await _refresh(answerer, session_factory, {"wordings", "pairs"})
        learned = " and part of the next `/retrain`" if known else ""
        return Decision(
            True, f"“{done['wording']}” is answered as “{done['question']}” from now on{learned}."
        )
    if kind == "downvote":
        if action != "edit" or not answer:
            fresh = await async_store.run_in_session(
                session_factory, review.dismiss, "downvote", number, admin_id
            )
            return Decision(
                fresh,
                "Dismissed: the answer stands."
                if fresh
                else f"{item_id} was dismissed already (or is no 👎'd answer).",
            )
        try:
            await async_store.run_in_session(session_factory, repo.add_correction, number, answer, admin_id)
        except LookupError:
            return Decision(False, f"{item_id} is no longer waiting.")
        await _refresh(answerer, session_factory, {"pairs"})
        return Decision(
            True, "Corrected: the new answer is served from now on and part of the next `/retrain`."
        )
    if action == "reject":
        fresh = await async_store.run_in_session(session_factory, candidates.reject, number, admin_id)
        return Decision(fresh, "Rejected." if fresh else f"{item_id} is no longer waiting.")
    pair = await async_store.run_in_session(
        session_factory, _accept_candidate, number, admin_id, question, answer
    )
    if pair is None:
        return Decision(False, f"{item_id} is no longer waiting.")
    await _refresh(answerer, session_factory, {"pairs"})
    return Decision(True, f"Learned pair #{pair}: answered from now on, and part of the next `/retrain`.")


def _chosen(session: Any, exchange_id: int) -> str | None:
    from storage.models import Exchange

    row = session.get(Exchange, exchange_id)
    return None if row is None or row.chosen_by_admin else row.chosen_question


def _accept_candidate(
    session: Any, candidate_id: int, admin_id: Any, question: str | None, answer: str | None
) -> int | None:
    from storage import candidates

    pair = candidates.accept(
        session, candidate_id, admin_id, question=(question or None), answer=(answer or None)
    )
    return None if pair is None else pair.id


async def prefill(
    session_factory: SessionFactory, answerer: Answerer | None, item_id: str
) -> dict[str, str] | None:
    """What an Edit form shows for ``item_id``: ``question`` and ``answer`` as they stand (None: the item
    is no longer waiting)."""
    kind, number = parse_item(item_id)
    if kind == "candidate":
        from storage import candidates

        def read(session: Any) -> dict[str, str] | None:
            row = candidates.candidate(session, number)
            if row is None or row.status != "pending":
                return None
            return {"question": row.question, "answer": row.answer}

        return await async_store.run_in_session(session_factory, read)
    row = await async_store.exchange(session_factory, number)
    if row is None:
        return None
    if kind == "downvote":
        return {"question": row["question"], "answer": row["answer"]}
    chosen = await async_store.run_in_session(session_factory, _chosen, number)
    if chosen is None:
        return None
    return {"question": chosen, "answer": await _known_answer(answerer, None, chosen) or ""}
