"""The knowledge desk's reads and writes (``storage.desk``, ``storage.review``, revision 0008): gap questions,
zone shares, 👎'd answers, alternate phrasings, dismissals and harvest cursors, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage import repo, review, votes
from storage.desk import downvoted_answers, gap_questions, zone_shares
from storage.models import Exchange

DAY = datetime(2025, 5, 1, 12, tzinfo=UTC)


def log(s, question: str, *, zone: str, user: int, at: datetime = DAY, **extra) -> Exchange:
    return repo.log_exchange(
        s, question=question, answer="fallback" if zone == "fallback" else "an answer",
        model_version="m", confidence=0.5, unanswered=zone == "fallback", latency_ms=1.0,
        source="discord", user_id=user, zone=zone, created_at=at, **extra,
    )  # fmt: skip


def test_gap_questions_are_the_open_unanswered_and_the_downvoted(store):
    with store.begin() as s:
        open_ = log(s, "Where do I park?", zone="fallback", user=1)
        corrected = log(s, "Is there wifi?", zone="fallback", user=2)
        repo.add_correction(s, corrected.id, "Yes.", 9)
        log(s, "Can I bring a dog?", zone="fallback", user=3)
        repo.add_taught_pair(s, "can i bring a dog", "No.")
        disliked = log(s, "Who won in 2014?", zone="answer", user=4, matched_question="Who won?")
        votes.set_vote(s, disliked.id, 5, -1)
        liked = log(s, "Who won in 2010?", zone="answer", user=6)
        votes.set_vote(s, liked.id, 7, 1)
        log(s, "Old question?", zone="fallback", user=8, at=DAY - timedelta(days=40))
    with store() as s:
        rows = gap_questions(s, since=DAY - timedelta(days=30))
        assert [(r["question"], r["why"], r["user_id"]) for r in rows] == [
            ("Where do I park?", "unanswered", "1"),
            ("Who won in 2014?", "downvoted", "4"),
        ]
        assert rows[0]["id"] == open_.id
        [down] = downvoted_answers(s)
        assert (down["id"], down["downvotes"], down["net"]) == (disliked.id, 1, -1)
    with store.begin() as s:
        assert review.dismiss(s, "downvote", disliked.id, 9) and not review.dismiss(
            s, "downvote", disliked.id, 9
        )
    with store() as s:
        assert [r["why"] for r in gap_questions(s, since=DAY - timedelta(days=30))] == ["unanswered"]


def test_zone_shares_count_each_day(store):
    with store.begin() as s:
        log(s, "a?", zone="answer", user=1)
        log(s, "b?", zone="suggest", user=1)
        log(s, "c?", zone="fallback", user=1)
        log(s, "d?", zone="answer", user=1, at=DAY + timedelta(days=1))
    with store() as s:
        assert zone_shares(s) == [
            {"day": date(2025, 5, 1), "answered": 1, "suggested": 1, "not_sure": 1},
            {"day": date(2025, 5, 2), "answered": 1, "suggested": 0, "not_sure": 0},
        ]


def test_accepting_a_phrasing_makes_every_choice_of_it_an_admins(store):
    with store.begin() as s:
        first = log(s, "how long is a game", zone="suggest", user=1)
        second = log(s, "How long is a game?", zone="suggest", user=2)
        other = log(s, "what is var", zone="suggest", user=3)
        for row, known in ((first, "Match length?"), (second, "Match length?"), (other, "What is VAR?")):
            repo.record_choice(s, row.id, known)
    with store() as s:
        items = review.phrasings(s)
        assert [(i["wording"], i["question"], i["askers"], i["times"]) for i in items] == [
            ("How long is a game?", "Match length?", 2, 2),
            ("what is var", "What is VAR?", 1, 1),
        ]
        assert [i["id"] for i in review.queue(s)] == [f"phrasing:{second.id}", f"phrasing:{other.id}"]
    with store.begin() as s:
        done = review.accept_phrasing(s, second.id, 9, answer="90 minutes.")
        assert done == {"wording": "How long is a game?", "question": "Match length?"}
        assert review.accept_phrasing(s, second.id, 9) is None  # decided already
    with store() as s:
        assert all(s.get(Exchange, r.id).chosen_by_admin for r in (first, second))
        assert [p["question"] for p in repo.live_pairs(s)] == ["How long is a game?"]  # the correction
        assert [i["id"] for i in review.queue(s)] == [f"phrasing:{other.id}"]


def test_a_harvest_cursor_moves_forward(store):
    with store.begin() as s:
        assert review.cursor(s, 77) is None
        review.set_cursor(s, 77, 1001, 10)
        review.set_cursor(s, 77, 1050, 5)
    with store() as s:
        assert review.cursor(s, 77) == "1050"
        assert s.get(review.HarvestCursor, "77").messages_read == 15


def test_dismissing_an_unknown_or_unvoted_exchange_writes_nothing_and_waiting_counts_all(store):
    from storage import candidates
    from storage.models import Dismissal

    with store.begin() as s:
        plain = log(s, "Who won in 2014?", zone="answer", user=1)
        down = log(s, "Who won in 2010?", zone="answer", user=2)
        votes.set_vote(s, down.id, 3, -1)
        for i in range(3):
            candidates.propose(s, question=f"Question number {i}?", answer="Yes.", source="reply")
    with store.begin() as s:  # was a FOREIGN KEY error (PostgreSQL: the transaction aborted)
        assert not review.dismiss(s, "downvote", 999_999, 7)
        assert not review.dismiss(s, "downvote", plain.id, 7)  # nobody 👎'd it: no such item
        assert review.waiting(s) == {"phrasing": 0, "downvote": 1, "candidate": 3}
        assert review.dismiss(s, "downvote", down.id, 7)
    with store() as s:
        assert [d.exchange_id for d in s.query(Dismissal)] == [down.id]
        assert review.waiting(s)["downvote"] == 0


def test_gap_questions_of_the_home_guilds_leave_another_guilds_out(store):
    with store.begin() as s:
        log(s, "Where do I park?", zone="fallback", user=1, guild_id=5151)
        log(s, "free nitro here?", zone="fallback", user=2, guild_id=9999)
        log(s, "asked in the terminal", zone="fallback", user=3)
    with store() as s:
        assert len(gap_questions(s)) == 3
        home = [q["question"] for q in gap_questions(s, guilds={5151})]
        assert home == ["Where do I park?", "asked in the terminal"]


def test_chat_and_abuse_are_no_gaps_shares_or_downvoted_answers(store):
    """ "thanks!" and "fuck off" (logged with their zones, never unanswered) fill no admin's desk: not as
    gaps, not 👎'd ("You're welcome!" 👎'd is no wrong answer), not in the zone shares."""
    with store.begin() as s:
        log(s, "Where do I park?", zone="fallback", user=1)
        thanks = log(s, "thanks!", zone="chat", user=2)
        votes.set_vote(s, thanks.id, 3, -1)
        insult = log(s, "you are a stupid bot", zone="abuse", user=4)
        votes.set_vote(s, insult.id, 5, -1)
    with store() as s:
        assert [r["question"] for r in gap_questions(s)] == ["Where do I park?"]
        assert downvoted_answers(s) == []
        assert review.waiting(s)["downvote"] == 0
        assert zone_shares(s) == [{"day": date(2025, 5, 1), "answered": 0, "suggested": 0, "not_sure": 1}]
