"""The review queue (``bot.desk.review``, ``qabot review``, ``/review``): alternate phrasings, 👎'd answers
and members' candidate pairs, decided with Accept / Edit / Reject. The buttons are pressed the way
discord.py dispatches a registered dynamic item after a restart (rebuilt from the custom id, then check and
callback)."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import discord
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.discord_app.review_views import REFUSAL, ReviewButton, ReviewEditModal
from storage import candidates, repo, votes
from storage.models import Candidate, Correction, Exchange, TaughtPair
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import ADMIN_ID, invoke, make_guild, make_interaction, make_member

KNOWN = [
    {"question": "How long is a football match?", "answer": "90 minutes."},
    {"question": "Who won the 2014 World Cup?", "answer": "Germany."},
]
WORDING = "how many mins is a game"


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


def fill_queue(store) -> dict[str, int]:
    """One item of each kind, written through the store's own functions."""
    common = dict(model_version="fake-v1", confidence=0.5, latency_ms=1.0, source="discord", guild_id=5151)
    with store.begin() as s:
        chose = repo.log_exchange(
            s, question=WORDING, answer="Did you mean…", unanswered=False, user_id=11, zone="suggest",
            matched_question=KNOWN[0]["question"], match_score=0.6, **common,
        )  # fmt: skip
        repo.record_choice(s, chose.id, KNOWN[0]["question"])
        answered = repo.log_exchange(
            s, question="who won in 2014", answer="France.", unanswered=False, user_id=12, zone="answer",
            matched_question=KNOWN[1]["question"], match_score=0.9, reply_message_id=555, **common,
        )  # fmt: skip
        votes.set_vote(s, answered.id, 13, -1)
        cand, _ = candidates.propose(
            s, question="Is VAR used in the league?", answer="Yes, since 2019.", source="reply",
            answer_message_id=777, author_id=14,
        )  # fmt: skip
    return {"phrasing": chose.id, "downvote": answered.id, "candidate": cand.id}


def test_qabot_review_json_lists_each_kind_with_its_id(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids = fill_queue(store)
    url = str(store.kw["bind"].url)
    result = CliRunner().invoke(app, ["review", "--db", url, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["items"]
    assert [i["id"] for i in items] == [f"{k}:{n}" for k, n in ids.items()]
    phrasing, downvote, candidate = items
    assert (phrasing["wording"], phrasing["question"], phrasing["askers"]) == (
        WORDING,
        KNOWN[0]["question"],
        1,
    )
    assert (downvote["answer"], downvote["downvotes"]) == ("France.", 1)
    assert candidate["answer"] == "Yes, since 2019." and candidate["source"] == "reply"

    reject = CliRunner().invoke(app, ["review", "--db", url, "--reject", f"downvote:{ids['downvote']}"])
    assert reject.exit_code == 0 and "Dismissed" in reject.stdout
    again = CliRunner().invoke(app, ["review", "--db", url, "--json"], catch_exceptions=False)
    assert [i["kind"] for i in json.loads(again.stdout)["items"]] == ["phrasing", "candidate"]


async def review_buttons(dpy, user) -> dict[str, dict[str, ReviewButton]]:
    """/review as ``user``; each item's buttons by item id and action."""
    interaction = make_interaction(dpy, user)
    await invoke(dpy, "review", interaction)
    out: dict[str, dict[str, ReviewButton]] = {}
    for call in interaction.followup.send.await_args_list[1:]:
        buttons = call.kwargs["view"].children
        out[buttons[0].item_id] = {b.action: b for b in buttons}
    return out


async def test_review_shows_every_kind_that_waits_among_its_first_items(dpy, store):
    """Twelve phrasings waiting must not hide a 👎'd answer or a member's answer from /review."""
    ids = fill_queue(store)
    common = dict(model_version="fake-v1", confidence=0.5, latency_ms=1.0, source="discord", guild_id=5151)
    with store.begin() as s:
        for i in range(12):
            row = repo.log_exchange(
                s, question=f"how long is a game {i}", answer="Did you mean…", unanswered=False,
                user_id=20 + i, zone="suggest", matched_question=KNOWN[0]["question"], match_score=0.6,
                **common,
            )  # fmt: skip
            repo.record_choice(s, row.id, KNOWN[0]["question"])
    dpy.settings.admin_user_ids = [ADMIN_ID]
    shown = await review_buttons(dpy, make_member(ADMIN_ID))
    assert len(shown) == 10
    assert f"downvote:{ids['downvote']}" in shown and f"candidate:{ids['candidate']}" in shown


async def press(dpy, button: ReviewButton, user, content: str = "item", guild=None):
    """Press ``button`` as discord.py does for a registered dynamic item: rebuilt from its custom id."""
    await dpy.get_cog("Desk").cog_load()  # registers the class (dpytest swapped the state it was loaded on)
    [(pattern, factory)] = [
        (p, f) for p, f in dpy._connection._view_store._dynamic_items.items() if f is ReviewButton
    ]
    match = pattern.fullmatch(button.custom_id)
    interaction = make_interaction(dpy, user, guild=guild)
    interaction.message = MagicMock(spec=discord.Message, content=content, id=1)  # the item's message
    item = await factory.from_custom_id(interaction, button.item, match)
    if await item.interaction_check(interaction):
        await item.callback(interaction)
    return interaction


async def test_accepting_a_phrasing_through_its_button_makes_it_permanent_and_live(dpy, store):
    ids = fill_queue(store)
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    assert set(buttons) == {f"{k}:{n}" for k, n in ids.items()}

    pressed = await press(
        dpy, buttons[f"phrasing:{ids['phrasing']}"]["accept"], make_member(7, manage_guild=True)
    )
    edited = pressed.edit_original_response.await_args.kwargs
    assert edited["view"] is None and "Accepted by <@7>" in edited["content"]
    with store() as s:
        row = s.get(Exchange, ids["phrasing"])
        assert row.chosen_by_admin and row.chosen_question == KNOWN[0]["question"]
        [correction] = s.scalars(select(Correction)).all()
        assert (correction.exchange_id, correction.answer) == (ids["phrasing"], "90 minutes.")
    assert (await dpy.answerer.answer(WORDING)).text == "90 minutes."  # served at once
    # A member's 👎 no longer takes the wording back: it is an admin's now.
    with store.begin() as s:
        assert repo.forget_wording(s, WORDING, KNOWN[0]["question"]) == 0
    assert f"phrasing:{ids['phrasing']}" not in await review_buttons(dpy, make_member(ADMIN_ID))


async def test_a_non_admin_press_is_refused_and_changes_nothing(dpy, store):
    ids = fill_queue(store)
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    pressed = await press(dpy, buttons[f"candidate:{ids['candidate']}"]["accept"], make_member(99))
    assert pressed.response.send_message.await_args.args[0] == REFUSAL
    # Manage Server in another guild (one anybody can make) is no right here either.
    owner = make_member(666, manage_guild=True)
    other = await press(
        dpy, buttons[f"candidate:{ids['candidate']}"]["accept"], owner, guild=make_guild(9999)
    )
    assert other.response.send_message.await_args.args[0] == REFUSAL
    with store() as s:
        assert s.scalars(select(TaughtPair)).all() == []


async def test_accepting_a_members_answer_teaches_it_at_once(dpy, store):
    ids = fill_queue(store)
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    await press(dpy, buttons[f"candidate:{ids['candidate']}"]["accept"], make_member(ADMIN_ID))
    with store() as s:
        [pair] = s.scalars(select(TaughtPair)).all()
        assert (pair.question, pair.source) == ("Is VAR used in the league?", "member")
    assert (await dpy.answerer.answer("Is VAR used in the league?")).text == "Yes, since 2019."


async def test_editing_a_downvoted_answer_stores_the_correction(dpy, store):
    ids = fill_queue(store)
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    pressed = await press(dpy, buttons[f"downvote:{ids['downvote']}"]["edit"], make_member(ADMIN_ID))
    [modal] = pressed.response.send_modal.await_args.args
    assert isinstance(modal, ReviewEditModal) and modal.answer.default == "France."
    submit = make_interaction(dpy, make_member(ADMIN_ID))
    submit.message = None
    fields = [
        {"type": 1, "components": [{"type": 4, "custom_id": modal.answer.custom_id, "value": "Germany."}]}
    ]
    await modal._scheduled_task(submit, fields, {})
    with store() as s:
        [correction] = s.scalars(select(Correction)).all()
        assert (correction.exchange_id, correction.answer, correction.admin_id) == (
            ids["downvote"], "Germany.", str(ADMIN_ID),
        )  # fmt: skip
    assert "Corrected" in submit.followup.send.await_args.args[0]


async def test_rejecting_a_phrasing_forgets_the_wording(dpy, store):
    ids = fill_queue(store)
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    await press(dpy, buttons[f"phrasing:{ids['phrasing']}"]["reject"], make_member(ADMIN_ID))
    with store() as s:
        assert s.get(Exchange, ids["phrasing"]).chosen_question is None


async def test_a_dismissed_downvote_leaves_the_queue_and_the_gaps(store):
    from bot.desk import review
    from storage.changes import read_session
    from storage.desk import gap_questions

    ids = fill_queue(store)
    with read_session(store) as s:
        assert [q["why"] for q in gap_questions(s)] == ["downvoted"]
    decision = await review.decide(store, None, f"downvote:{ids['downvote']}", "reject", ADMIN_ID)
    assert decision.done
    assert [i["kind"] for i in await review.items(store)] == ["phrasing", "candidate"]
    with read_session(store) as s:
        assert gap_questions(s) == []
    again = await review.decide(store, None, f"downvote:{ids['downvote']}", "accept", ADMIN_ID)
    assert not again.done and "already" in again.text


async def test_the_terminal_lists_the_queue_and_decides_an_item(answerer, store):
    import io

    from bot.terminal import Terminal

    out = io.StringIO()
    terminal = Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(), out=out
    )
    await terminal.handle("/review")  # nothing waits: nothing to decide either
    assert out.getvalue() == "Nothing waits for review. 🎉\n"
    out.truncate(0), out.seek(0)
    ids = fill_queue(store)
    await terminal.handle("/review")
    assert "Decide with /review accept ID" in out.getvalue()
    assert out.getvalue().startswith(
        "3 item(s) to review: 1 phrasing(s), 1 👎'd answer(s), 1 member answer(s)"
    )
    await terminal.handle(f"/review edit candidate:{ids['candidate']} | Yes, in every match since 2019.")
    assert "Learned pair #" in out.getvalue().splitlines()[-1]
    assert (await answerer.answer("Is VAR used in the league?")).text == "Yes, in every match since 2019."
    await terminal.handle("/review accept bogus")  # a typo: its reason, not "/review failed" and a traceback
    assert (
        out.getvalue().splitlines()[-1]
        == "'bogus' is not a review item (like phrasing:12, downvote:7, candidate:3)."
    )
    await terminal.handle("/review accept phrasing:999")  # never was: not "is no longer waiting"
    assert out.getvalue().splitlines()[-1] == (
        "phrasing:999 does not exist: there is no such review item (/review lists what waits)."
    )
    await terminal.handle("/gaps 999999999999")  # a huge period is capped, not an overflow
    assert "failed" not in out.getvalue().splitlines()[-1]


async def test_the_terminal_counts_every_waiting_item_not_the_first_fifty(answerer, store):
    import io

    from bot.terminal import Terminal

    with store.begin() as s:
        for i in range(60):
            candidates.propose(s, question=f"Question number {i}?", answer=f"Answer {i}.", source="harvest")
    out = io.StringIO()
    terminal = Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(), out=out
    )
    await terminal.handle("/review")
    assert out.getvalue().startswith(
        "60 item(s) to review: 0 phrasing(s), 0 👎'd answer(s), 60 member answer(s)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--reject", "downvote:999999"],  # no such exchange: was an IntegrityError traceback
        ["--accept", "downvote:PHRASING"],  # an exchange nobody 👎'd: was "Dismissed"
        ["--edit", "downvote:999999", "--answer", "x"],  # was a LookupError traceback
        ["--accept", "candidate:999"],
        ["--accept", "phrasing:999"],  # was "is no longer waiting", of an id that never was
        ["--accept", "phrasing:DOWNVOTE"],  # an id of the wrong kind
    ],
)
def test_qabot_review_of_an_unknown_or_wrong_kind_id_changes_nothing(store, tmp_path, monkeypatch, args):
    """An id that names nothing is the admin's typo (exit 2, "does not exist"); one that names a row that
    waits for nothing "is no longer waiting" (exit 1)."""
    from storage.models import Dismissal

    monkeypatch.chdir(tmp_path)
    ids = fill_queue(store)
    args = [
        a.replace("PHRASING", str(ids["phrasing"])).replace("DOWNVOTE", str(ids["downvote"])) for a in args
    ]
    url = str(store.kw["bind"].url)
    result = CliRunner().invoke(app, ["review", "--db", url, "--model", str(tmp_path / "none"), *args])
    assert isinstance(result.exception, SystemExit), result.output
    if ":99" in args[1]:
        assert result.exit_code == 2, result.output
        assert f"error: {args[1]} does not exist" in result.output and "waiting" not in result.output
    else:
        assert result.exit_code == 1, result.output
        assert "no longer waiting" in result.stdout or "no 👎'd answer" in result.stdout
    with store() as s:
        assert s.scalars(select(Dismissal)).all() == [] and s.scalars(select(Correction)).all() == []
        assert s.scalars(select(TaughtPair)).all() == []
        assert not s.get(Exchange, ids["phrasing"]).chosen_by_admin


async def test_a_phrasing_of_a_question_nobody_answers_any_more_is_not_accepted_as_is(dpy, store):
    ids = fill_queue(store)
    with store.begin() as s:  # the known question it was chosen as is gone (retrained away)
        s.get(Exchange, ids["phrasing"]).chosen_question = "Who was the referee in 1930?"
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    pressed = await press(dpy, buttons[f"phrasing:{ids['phrasing']}"]["accept"], make_member(ADMIN_ID))
    sent = [
        c.args[0] for m in (pressed.response.send_message, pressed.followup.send) for c in m.await_args_list
    ]
    [said] = sent
    assert "is not a known question" in said and "edit" in said  # the reason, not "that command failed"
    with store() as s:
        assert not s.get(Exchange, ids["phrasing"]).chosen_by_admin
        assert s.scalars(select(Correction)).all() == []


def test_the_queue_length_counts_every_waiting_item_not_the_first_fifty(store, tmp_path, monkeypatch):
    from storage.review import waiting

    monkeypatch.chdir(tmp_path)
    fill_queue(store)
    with store.begin() as s:
        for i in range(60):
            candidates.propose(s, question=f"Question number {i}?", answer="Yes.", source="reply")
    with store() as s:
        assert waiting(s) == {"phrasing": 1, "downvote": 1, "candidate": 61}
    url = str(store.kw["bind"].url)
    result = CliRunner().invoke(app, ["review", "--db", url], catch_exceptions=False)
    assert result.stdout.startswith("63 item(s) to review: 1 phrasing(s), 1 👎'd answer(s), 61 member")
    assert "(52 shown)" in result.stdout.splitlines()[0]


async def test_the_edit_form_submitted_from_another_guild_is_refused_on_submit(dpy, store):
    ids = fill_queue(store)
    buttons = await review_buttons(dpy, make_member(ADMIN_ID))
    pressed = await press(dpy, buttons[f"downvote:{ids['downvote']}"]["edit"], make_member(ADMIN_ID))
    [modal] = pressed.response.send_modal.await_args.args
    for user, guild in ((make_member(666, manage_guild=True), make_guild(9999)), (make_member(99), None)):
        submit = make_interaction(dpy, user, guild=guild)  # rights checked again when the form is sent
        submit.message = None
        fields = [
            {"type": 1, "components": [{"type": 4, "custom_id": modal.answer.custom_id, "value": "X."}]}
        ]
        await modal._scheduled_task(submit, fields, {})
        assert submit.response.send_message.await_args.args[0] == REFUSAL
    with store() as s:
        assert s.scalars(select(Correction)).all() == []


async def test_a_members_answer_longer_than_review_shows_cannot_be_accepted_unread(dpy, store):
    # /review shows 300 characters of an answer: Accept as is would teach a tail (a link) no admin saw.
    ids = fill_queue(store)
    with store.begin() as s:
        long, _ = candidates.propose(
            s, question="Is there VAR in the cup?", source="reply", answer_message_id=778,
            answer="Yes, in every round from the quarter-finals on. " * 40 + "[fifa.com](https://evil.example)",
        )  # fmt: skip
        long_id = long.id
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "review", interaction)
    shown = {c.kwargs["view"].children[0].item_id: c for c in interaction.followup.send.await_args_list[1:]}
    cut, whole = shown[f"candidate:{long_id}"], shown[f"candidate:{ids['candidate']}"]
    assert "evil.example" not in cut.args[0] and "Accept is off" in cut.args[0]
    assert [b.item.disabled for b in cut.kwargs["view"].children] == [True, False, False]
    assert not any(b.item.disabled for b in whole.kwargs["view"].children)
    edit = await press(dpy, cut.kwargs["view"].children[1], make_member(ADMIN_ID))
    with store() as s:
        assert edit.response.send_modal.await_args.args[0].answer.default == s.get(Candidate, long_id).answer


def test_qabot_review_json_masks_a_secret_in_an_older_row(store, tmp_path, monkeypatch):
    """The store masks secrets as it logs; a row logged before it did is masked in ``--json`` too, as in
    ``qabot gaps --json`` and the text listings."""
    from sqlalchemy import update

    monkeypatch.chdir(tmp_path)
    ids = fill_queue(store)
    token = "M" + "x" * 23 + ".GAbcde." + "z" * 27  # built here: no token-shaped literal in the repo
    with store.begin() as s:  # as an older bot logged them: unmasked
        s.execute(
            update(Exchange).where(Exchange.id == ids["phrasing"]).values(question=f"{WORDING} {token}")
        )
        s.execute(update(Candidate).where(Candidate.id == ids["candidate"]).values(answer=f"Yes. {token}"))
    url = str(store.kw["bind"].url)
    result = CliRunner().invoke(app, ["review", "--db", url, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "GAbcde" not in result.stdout and result.stdout.count("[secret]") == 2
