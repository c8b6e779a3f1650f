"""Admins' synonyms (``/synonym``, the terminal's ``/synonym``): stored, served at once by the process that
took them and by every other process on the store after a poll (and at start-up), taken back, and a
synonym learned from the dataset switched off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot import admin_actions
from bot.answering.answerer import Answerer
from bot.answering.knowledge_sync import KnowledgeSync
from storage import repo, synonyms
from storage.db import dispose, open_store
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import ADMIN_ID, invoke, make_interaction, make_member
from tests.storage.conftest import postgres_server  # noqa: F401  (a fixture)
from training.retrieval.alterations_learning import learn
from training.retrieval.index import RetrievalIndex
from training.retrieval.zones import ZoneThresholds

KNOWN = [
    {"question": "What is the role of the goalkeeper?", "answer": "To keep the ball out of the goal."},
    {"question": "How large is the penalty area?", "answer": "16.5 m by 40.3 m."},
    {"question": "How long is a football match?", "answer": "90 minutes."},
    {"question": "Who won the 2014 World Cup?", "answer": "Germany."},
]
ZONES = ZoneThresholds(answer_score=0.8, answer_margin=0.2, suggest_score=0.5)
GOALIE = "goalie role"  # lexical score 0.38 as typed, 0.85 with "goalie" = "goalkeeper"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qabot.db'}"
    return request.getfixturevalue("postgres_server").database()


def generator() -> FakeGenerator:
    return FakeGenerator({p["question"]: p["answer"] for p in KNOWN}, known=KNOWN, zones=ZONES)


@asynccontextmanager
async def process(
    url: str, fake: FakeGenerator | None = None
) -> AsyncIterator[tuple[Answerer, Any, KnowledgeSync]]:
    """One serving process: its own engine on the store, Answerer and sync (polled by hand)."""
    store = open_store(url)
    try:
        async with Answerer(fake or generator(), batch_wait_ms=0) as answerer:
            sync = KnowledgeSync(answerer, store, interval_s=0)
            async with sync:
                yield answerer, store, sync
    finally:
        dispose(store)


async def zone(answerer: Answerer, question: str) -> tuple[str, str | None]:
    answer = await answerer.answer(question)
    return answer.zone, answer.matched_question


async def test_a_synonym_is_served_at_once_here_after_a_poll_there_and_at_the_next_start(url):
    async with process(url) as (a, store_a, _), process(url) as (b, _, sync_b):
        assert (await zone(a, GOALIE))[0] == "fallback" and (await zone(b, GOALIE))[0] == "fallback"
        reply = await admin_actions.add_synonym(store_a, a, "goalie", ["goalkeeper"], ADMIN_ID)
        assert "now also means: goalkeeper" in reply
        assert await zone(a, GOALIE) == ("answer", KNOWN[0]["question"])  # this process: at once
        assert (await zone(b, GOALIE))[0] == "fallback"
        assert [c.kind for c in await sync_b.poll()] == ["synonym"]
        assert await zone(b, GOALIE) == ("answer", KNOWN[0]["question"])  # the other: after one poll
    async with process(url) as (c, _, _):
        assert await zone(c, GOALIE) == ("answer", KNOWN[0]["question"])  # a new process: at start


async def test_a_synonym_taken_back_is_searched_as_typed_everywhere(url):
    async with process(url) as (a, store_a, _), process(url) as (b, _, sync_b):
        await admin_actions.add_synonym(store_a, a, "goalie", ["goalkeeper", "keeper"], ADMIN_ID)
        await sync_b.poll()
        assert (await zone(b, GOALIE))[0] == "answer"
        reply = await admin_actions.remove_synonym(store_a, a, "Goalie", ADMIN_ID)
        assert reply.startswith("Removed “Goalie”")
        assert (await zone(a, GOALIE))[0] == "fallback"
        await sync_b.poll()
        assert (await zone(b, GOALIE))[0] == "fallback"
        assert (
            await admin_actions.remove_synonym(store_a, a, "goalie", ADMIN_ID) == "“goalie” has no synonym."
        )


async def test_a_learned_alteration_is_switched_off_and_back_on(url, tmp_path):
    records = [*KNOWN, *({"question": f"Who was World Cup winner {y}?", "answer": "x"} for y in (1930, 1934))]
    fake = generator()
    fake.index = RetrievalIndex.build(records, alterations=learn(records))
    assert fake.index.alterations.find("wc") is not None  # "World Cup" three times: "wc" learned
    async with process(url, fake) as (a, store, _):
        assert (await zone(a, "who won the 2014 wc"))[1] == KNOWN[3]["question"]
        reply = await admin_actions.remove_synonym(store, a, "wc", ADMIN_ID)
        assert reply.startswith("Switched off “wc” → world cup (learned from the dataset (acronym))")
        assert a.knowledge.alterations.find("wc") is None
        with store() as session:
            assert [(s["word"], s["means"]) for s in synonyms.synonyms(session)] == [("wc", [])]
        listing = await admin_actions.synonyms_text(store, a)
        assert listing.startswith("1 admin synonym(s);") and "“wc” → (none: switched off)" in listing
        reply = await admin_actions.remove_synonym(store, a, "wc", ADMIN_ID)  # the admin's "off" goes
        assert "applies again" in reply and a.knowledge.alterations.find("wc") is not None


@pytest.mark.parametrize(
    ("word", "means", "problem"),
    [
        ("", ["goalkeeper"], "Say which word"),
        ("goalie", [], "Say what it means"),
        ("the", ["goalkeeper"], "has no word the search uses"),
        ("goalie", ["keeper who stays inside the penalty area"], "more than 4 words"),
        ("goalie", ["x"] * 6, "At most 5"),
        ("keepers", ["keeper"], "already finds the same words"),
        ("the box", ["penalty area"], "is searched as “box” alone"),  # would turn "boxing" into it
    ],
)
async def test_a_synonym_that_could_not_work_is_refused_and_not_stored(store, word, means, problem):
    async with Answerer(generator(), batch_wait_ms=0) as answerer:
        assert problem in await admin_actions.add_synonym(store, answerer, word, means, ADMIN_ID)
    with store() as session:
        assert synonyms.synonyms(session) == []


async def test_synonym_commands_on_discord(dpy, store):
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "synonym add", interaction, word="goalie", means="goalkeeper, keeper")
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    assert "now also means: goalkeeper, keeper" in interaction.followup.send.await_args.args[0]
    assert interaction.followup.send.await_args.kwargs["ephemeral"] is True
    with store() as session:
        assert [(s["word"], s["means"]) for s in synonyms.synonyms(session)] == [
            ("goalie", ["goalkeeper", "keeper"])
        ]
    assert dpy.answerer.knowledge.alterations.find("goalies").means == ("goalkeeper", "keeper")

    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "synonym list", interaction, word="goalie")
    assert interaction.followup.send.await_args.args[0] == "“goalie” → goalkeeper, keeper (an admin's)"

    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "synonym remove", interaction, word="goalie")
    assert interaction.followup.send.await_args.args[0].startswith("Removed “goalie”")
    with store() as session:
        assert synonyms.synonyms(session) == []


async def test_synonyms_survive_a_model_swap():
    async with Answerer(generator(), batch_wait_ms=0) as answerer:
        await answerer.set_synonyms([{"word": "goalie", "means": ["goalkeeper"]}])
        answerer.swap(generator())
        assert await zone(answerer, GOALIE) == ("answer", KNOWN[0]["question"])


async def test_synonym_commands_in_the_terminal(store):
    import io

    from bot.terminal import Terminal

    script = "\n".join(
        [
            GOALIE,
            "/synonym goalie = goalkeeper, keeper",
            GOALIE,
            "/synonym goalies",
            "/synonym",
            "/synonym goalie =",
            GOALIE,
        ]
    )
    out = io.StringIO()
    async with Answerer(generator(), batch_wait_ms=0) as answerer:
        await Terminal(
            answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(script), out=out
        ).run()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("I'm not sure")  # "goalie" as typed
    assert lines[1].startswith("“goalie” now also means: goalkeeper, keeper.")
    assert lines[2] == KNOWN[0]["answer"]  # answered as the known question
    assert lines[3] == "“goalie” → goalkeeper, keeper (an admin's)"
    assert lines[4].startswith("1 admin synonym(s); 0 learned from the dataset and 0 built in")
    assert lines[5] == "“goalie” → goalkeeper, keeper"
    assert lines[6].startswith("Removed “goalie”")
    assert lines[7].startswith("I'm not sure")


async def test_a_retrain_passes_the_synonyms_to_the_trainer(store, tmp_path):
    from bot.retrain import RetrainJob, RetrainOptions
    from training.config import parse_config

    with store.begin() as session:
        repo.add_taught_pair(session, "What is VAR?", "The video assistant referee.")
    job = RetrainJob(answerer=None, session_factory=store, model_pointer=tmp_path / "none")
    data = await job._export(tmp_path)
    assert data.synonyms is None  # no synonyms: no file, no option
    assert "--synonyms" not in job._train_command(data, RetrainOptions(), tmp_path / "out")
    with store.begin() as session:
        synonyms.set_synonym(session, "goalie", ["goalkeeper"])
        synonyms.set_synonym(session, "ref", [])
    data = await job._export(tmp_path)
    config = parse_config(job._train_command(data, RetrainOptions(), tmp_path / "out")[3:])
    assert config.synonyms == data.synonyms
    assert json.loads(data.synonyms.read_text(encoding="utf-8")) == [
        {"word": "goalie", "means": ["goalkeeper"]},
        {"word": "ref", "means": []},
    ]


def test_a_word_two_askers_chose_alike_stands_for_the_dataset_word_everywhere():
    from bot.answering.knowledge import Knowledge

    knowledge = Knowledge(RetrievalIndex.build(KNOWN))
    other = "what does the goalie do"  # another question with the same word
    knowledge.add_wording("goalie role", KNOWN[0]["question"], user_id=1)
    knowledge.add_wording("the goalie's role", KNOWN[0]["question"], user_id=1)
    assert knowledge.alterations.find("goalie") is None  # one person: their wordings only
    knowledge.set_wordings(
        [
            {"wording": "goalie role", "question": KNOWN[0]["question"], "user_id": "1"},
            {"wording": "role of a goalie?", "question": KNOWN[0]["question"], "user_id": "2"},
        ]
    )
    assert knowledge.alterations.find("goalies").means == ("goalkeeper",)
    assert knowledge.search_many([other])[0][0].question == KNOWN[0]["question"]
    knowledge.set_wordings([{"wording": "goalie role", "question": KNOWN[0]["question"], "by_admin": True}])
    assert knowledge.alterations.find("goalie") is not None  # an admin's teaching is enough alone
    knowledge.set_synonyms([{"word": "goalie", "means": []}])  # ... and an admin can switch it off
    assert knowledge.alterations.find("goalie") is None


async def test_a_retrain_keeps_the_synonyms_the_serving_checkpoint_was_trained_with(store, tmp_path):
    """``qabot train --synonyms`` (make run's example glossary) are admins' too: a retrain passes them on,
    under the store's, so only an admin's /synonym changes or switches them off."""
    from bot.retrain import RetrainJob
    from training.retrieval.alterations import Alterations, admin_entries

    fake = generator()
    trained = admin_entries(
        [{"word": "goalie", "means": ["goalkeeper"]}, {"word": "ref", "means": ["referee"]}]
    )
    fake.index.alterations = Alterations([*learn(KNOWN), *trained])
    with store.begin() as session:
        repo.add_taught_pair(session, "What is VAR?", "The video assistant referee.")
        synonyms.set_synonym(session, "ref", [])  # an admin switched one off
        synonyms.set_synonym(session, "subs", ["substitutes"])
        synonyms.set_synonym(session, "the box", ["penalty area"])  # stored before /synonym refused such
    async with Answerer(fake, batch_wait_ms=0) as answerer:
        job = RetrainJob(answerer=answerer, session_factory=store, model_pointer=tmp_path / "none")
        data = await job._export(tmp_path)
    rows = json.loads(data.synonyms.read_text(encoding="utf-8"))
    assert rows == [
        {"word": "goalie", "means": ["goalkeeper"]},
        {"word": "ref", "means": ["referee"]},
        {"word": "ref", "means": []},
        {"word": "subs", "means": ["substitutes"]},
    ]  # "the box" is left out: the trainer would refuse the file (read_synonyms)
    served = Alterations(admin_entries(rows))  # what the new checkpoint's alterations make of them
    assert served.find("goalie").means == ("goalkeeper",)
    assert served.find("ref") is None and served.find("subs").means == ("substitutes",)


async def test_a_stored_phrase_searched_as_one_of_its_words_is_not_applied():
    """A "the box" row stored before /synonym refused such would turn every "boxing" question into the
    penalty area's: the bot leaves it out."""
    async with Answerer(generator(), batch_wait_ms=0) as answerer:
        await answerer.set_synonyms(
            [{"word": "the box", "means": ["penalty area"]}, {"word": "goalie", "means": ["goalkeeper"]}]
        )
        assert answerer.knowledge.alterations.find("box") is None
        assert answerer.knowledge.alterations.find("goalie") is not None


async def test_the_listing_tells_admins_of_the_synonyms_the_checkpoint_was_trained_with(store):
    """make run's model serves its glossary's 111 words as admins' synonyms: /synonym list must say they
    are there (and that /synonym remove switches one off), not "0 admin synonym(s)" alone."""
    from training.retrieval.alterations import Alterations, admin_entries

    fake = generator()
    trained = admin_entries(
        [{"word": "goalie", "means": ["goalkeeper"]}, {"word": "ref", "means": ["referee"]}]
    )
    fake.index.alterations = Alterations([*learn(KNOWN), *trained])
    async with Answerer(fake, batch_wait_ms=0) as answerer:
        await admin_actions.add_synonym(store, answerer, "keeper", ["goalkeeper"], ADMIN_ID)
        await admin_actions.remove_synonym(store, answerer, "ref", ADMIN_ID)  # the checkpoint's, off
        listing = await admin_actions.synonyms_text(store, answerer)
    # goalie: ref is switched off (the store's empty row), keeper is the store's
    assert listing.startswith("2 admin synonym(s), and 1 the model was trained with (an admin's glossary);")


async def test_an_admins_synonym_taken_back_after_a_retrain_is_gone_for_good(store, tmp_path):
    """A /retrain trains the store's synonyms into the new checkpoint, and the next retrain carries the
    checkpoint's on: taking one's synonym back afterwards left its trained copy serving ("applies again")
    and every later retrain passing it on. The same synonym is taken back, copy and all; a different one
    the model was trained with (a glossary's) applies again, as a learned one does."""
    from bot.retrain import RetrainJob
    from training.retrieval.alterations import Alterations, admin_entries

    fake = generator()
    trained = admin_entries(
        [{"word": "goalie", "means": ["goalkeeper"]}, {"word": "ref", "means": ["referee"]}]
    )
    fake.index.alterations = Alterations([*learn(KNOWN), *trained])  # as the last retrain wrote them
    with store.begin() as session:
        repo.add_taught_pair(session, "What is VAR?", "The video assistant referee.")
        synonyms.set_synonym(session, "goalie", ["goalkeeper"])  # the admin's, trained into the checkpoint
        synonyms.set_synonym(session, "ref", ["official"])  # another meaning than the trained one
    async with Answerer(fake, batch_wait_ms=0) as answerer:
        reply = await admin_actions.remove_synonym(store, answerer, "goalie", ADMIN_ID)
        assert reply.startswith("Removed “goalie”: it is searched as typed")
        assert answerer.knowledge.alterations.find("goalie") is None
        reply = await admin_actions.remove_synonym(store, answerer, "ref", ADMIN_ID)
        assert "applies again" in reply and answerer.knowledge.alterations.find("ref").means == ("referee",)
        job = RetrainJob(answerer=answerer, session_factory=store, model_pointer=tmp_path / "none")
        data = await job._export(tmp_path)
    rows = json.loads(data.synonyms.read_text(encoding="utf-8"))
    served = Alterations(admin_entries(rows))  # what the next checkpoint's alterations make of them
    assert served.find("goalie") is None and served.find("ref").means == ("referee",)
