"""The review queue's store side: what waits for an admin, and what deciding it writes.

Three kinds of items (``KINDS``), each named ``<kind>:<id>``:
- ``phrasing``: a wording a member chose from "did you mean" (``Exchange.chosen_question``, not by an
  admin), one item per wording and known question (its latest exchange's id); ``accept_phrasing`` makes it
  an admin's (``chosen_by_admin``: no 👎 takes it back) for every exchange of that wording, and with the
  known question's answer, a correction of that exchange (the next retrain trains on it; every process
  serves it at once: ``storage.changes``); ``storage.repo.forget_wording`` rejects it.
- ``downvote``: an answer with more 👎 than 👍 no admin corrected (``storage.desk.downvoted_answers``);
  a correction (``storage.repo.add_correction``) or a ``dismiss`` closes it.
- ``candidate``: a pair members proposed (``storage.candidates``).
Harvest cursors (``cursor``/``set_cursor``) remember how far a channel's history was read. The caller owns
the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import candidates
from storage.changes import note
from storage.desk import downvoted_answers
from storage.models import Candidate, Dismissal, Exchange, Feedback, HarvestCursor, utc_now
from storage.repo import add_correction, discord_id

__all__ = [
    "KINDS", "accept_phrasing", "cursor", "dismiss", "exists", "phrasings", "queue", "set_cursor", "waiting",
]  # fmt: skip

KINDS = ("phrasing", "downvote", "candidate")


def phrasings(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Members' "did you mean" choices no admin has decided, one per (wording, known question), grouped by
    known question (most askers first): dicts of ``exchange_id`` (the latest), ``wording``, ``question``,
    ``askers``, ``times``, ``created_at``."""
    stmt = (
        select(Exchange.id, Exchange.question, Exchange.question_key, Exchange.chosen_question)
        .add_columns(Exchange.user_id, Exchange.created_at)
        .where(Exchange.chosen_question.is_not(None), Exchange.chosen_by_admin.is_(False))
        .order_by(Exchange.created_at, Exchange.id)
    )
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for i, wording, key, question, user, at in session.execute(stmt):
        item = items.setdefault((key, question), {"question": question, "users": set(), "times": 0})
        item.update(exchange_id=i, wording=wording, created_at=at)
        item["users"].add(user if user is not None else f"#{i}")
        item["times"] += 1
    askers_per_question: dict[str, int] = {}
    for item in items.values():
        item["askers"] = len(item.pop("users"))
        askers_per_question[item["question"]] = askers_per_question.get(item["question"], 0) + item["askers"]
    ordered = sorted(
        items.values(), key=lambda it: (-askers_per_question[it["question"]], it["question"], -it["askers"])
    )
    return ordered[:limit]


def exists(session: Session, kind: str, number: int) -> bool:
    """Whether review item ``<kind>:<number>`` names a row there is, waiting or decided already: an exchange
    (a phrasing, a 👎'd answer) or a members' pair (a candidate)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return session.get(Candidate if kind == "candidate" else Exchange, number) is not None


def _dismissed(session: Session, kind: str) -> set[int]:
    return set(session.scalars(select(Dismissal.exchange_id).where(Dismissal.kind == kind)))


def queue(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Everything waiting for an admin, as dicts with ``kind``, ``id`` (``<kind>:<n>``) and the kind's
    fields: phrasings first (grouped per known question), then 👎'd answers (most 👎 first), then
    members' candidate pairs (oldest first); at most ``limit`` of each kind."""
    out: list[dict[str, Any]] = []
    for item in phrasings(session, limit):
        out.append({"kind": "phrasing", "id": f"phrasing:{item['exchange_id']}", **item})
    dismissed = _dismissed(session, "downvote")
    for row in downvoted_answers(session, limit=limit + len(dismissed)):
        if row["id"] not in dismissed:
            out.append({**row, "kind": "downvote", "id": f"downvote:{row['id']}", "exchange_id": row["id"]})
    for c in candidates.pending(session, limit):
        out.append(
            {
                "kind": "candidate",
                "id": f"candidate:{c.id}",
                "candidate_id": c.id,
                "question": c.question,
                "answer": c.answer,
                "source": c.source,
                "question_url": c.question_url,
                "answer_url": c.answer_url,
                "author_id": c.author_id,
                "created_at": c.created_at,
            }
        )
    return out


def waiting(session: Session) -> dict[str, int]:
    """How many items of each kind wait (all of them: ``queue`` lists at most its ``limit`` of each)."""
    dismissed = _dismissed(session, "downvote")
    down = downvoted_answers(session, limit=1 << 31)
    pending = select(func.count()).select_from(Candidate).where(Candidate.status == "pending")
    return {
        "phrasing": len(phrasings(session, limit=1 << 31)),
        "downvote": sum(1 for row in down if row["id"] not in dismissed),
        "candidate": session.scalar(pending) or 0,
    }


def accept_phrasing(
    session: Session,
    exchange_id: int,
    admin_id: int | str | None,
    *,
    question: str | None = None,
    answer: str | None = None,
) -> dict[str, Any] | None:
    """Make a member's wording (that of exchange ``exchange_id``) an admin's: every exchange of that
    wording chosen as the same known question (or as ``question``, an admin's edit) becomes
    ``chosen_by_admin``; with ``answer`` (the known question's), that exchange is also corrected with it,
    so the next retrain learns the wording. ``{"wording", "question"}``, or None when there is no such
    pending phrasing."""
    row = session.get(Exchange, exchange_id)
    if row is None or row.chosen_question is None or row.chosen_by_admin:
        return None
    chosen = (question or "").strip() or row.chosen_question
    stmt = (
        update(Exchange)
        .where(
            Exchange.question_key == row.question_key,
            Exchange.chosen_question == row.chosen_question,
            Exchange.chosen_by_admin.is_(False),
        )
        .values(chosen_question=chosen, chosen_by_admin=True)
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)
    note(session, "wording")  # every process serving the store learns it
    if answer and answer.strip():
        add_correction(session, exchange_id, answer, admin_id)
    return {"wording": row.question, "question": chosen}


def _downvoted(session: Session, exchange_id: int) -> bool:
    """Whether exchange ``exchange_id`` exists and has more 👎 than 👍."""
    net = session.scalar(select(func.sum(Feedback.vote)).where(Feedback.exchange_id == exchange_id))
    return net is not None and net < 0


def dismiss(session: Session, kind: str, exchange_id: int, admin_id: int | str | None) -> bool:
    """Close a review item without changing what the bot knows; False when it was dismissed already, or
    is no such item (a 👎 item: an exchange with more 👎 than 👍)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "downvote" and not _downvoted(session, exchange_id):
        return False
    exists = session.scalar(
        select(Dismissal.id).where(Dismissal.kind == kind, Dismissal.exchange_id == exchange_id)
    )
    if exists is not None:
        return False
    session.add(
        Dismissal(kind=kind, exchange_id=exchange_id, admin_id=discord_id(admin_id), created_at=utc_now())
    )
    session.flush()
    return True


def cursor(session: Session, channel_id: int | str) -> str | None:
    """The newest message id of ``channel_id`` a harvest has read (None: never harvested)."""
    row = session.get(HarvestCursor, discord_id(channel_id))
    return row.last_message_id if row is not None else None


def set_cursor(session: Session, channel_id: int | str, last_message_id: int | str, read: int) -> None:
    """Remember that a harvest read ``channel_id`` up to ``last_message_id`` (``read`` more messages)."""
    row = session.get(HarvestCursor, discord_id(channel_id))
    if row is None:
        row = HarvestCursor(channel_id=discord_id(channel_id), messages_read=0)
        session.add(row)
    row.last_message_id = discord_id(last_message_id)
    row.messages_read = (row.messages_read or 0) + read
    row.updated_at = utc_now()
    session.flush()
