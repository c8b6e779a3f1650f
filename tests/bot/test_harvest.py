"""Harvest (``bot.desk.harvest``, ``bot.discord_app.harvest``, ``/harvest``, ``qabot harvest``): a recorded
channel history (``tests/bot/data/harvest_history.json``) read through spec'd discord.py channels and
messages, the pairs it answered proposed for review once, what the bot knows left out, and the next run
resuming after the last message read."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import MagicMock

import discord
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.discord_app.harvest import harvest_channel
from storage.models import Candidate
from tests.bot.fakes import FakeGenerator
from tests.bot.fixtures import ADMIN_ID, invoke, make_interaction, make_member

HISTORY = json.loads((Path(__file__).parent / "data" / "harvest_history.json").read_text(encoding="utf-8"))
TRUSTED = frozenset({900})
KNOWN = [{"question": "Who won the 2014 World Cup?", "answer": "Germany."}]


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator.knowing(KNOWN)


async def _aiter(items):
    for item in items:
        yield item


def member(user_id: int, roles=(), bot: bool = False) -> MagicMock:
    m = MagicMock(spec=discord.Member, id=user_id, bot=bot)
    m.roles = [MagicMock(spec=discord.Role, id=r) for r in roles]
    return m


def roles_of(user_id: int) -> list[int]:
    for m in [*HISTORY["messages"], *(x for p in HISTORY["forum"]["posts"] for x in p["messages"])]:
        if m["author"] == user_id:
            return m["roles"]
    return []


def message(record: dict, channel_id: int) -> MagicMock:
    """A spec'd discord.Message from a recorded one."""
    msg = MagicMock(spec=discord.Message, id=record["id"], content=record["content"])
    msg.author = member(record["author"], record["roles"], record.get("bot", False))
    reply_to = record.get("reply_to")
    msg.reference = MagicMock(spec=discord.MessageReference, message_id=reply_to) if reply_to else None
    msg.jump_url = f"https://discord.com/channels/5151/{channel_id}/{record['id']}"
    msg.mentions = [member(999, bot=True)] if record.get("to_bot") else []
    reactions = []
    if record.get("checked_by"):
        reaction = MagicMock(spec=discord.Reaction, emoji="✅")
        users = [member(u, roles_of(u)) for u in record["checked_by"]]
        reaction.users = MagicMock(side_effect=lambda limit=None, users=users: _aiter(users))
        reactions.append(reaction)
    msg.reactions = reactions
    return msg


def history_of(records: list[dict], channel_id: int):
    """``channel.history`` over ``records``: oldest first, after a message, at most ``limit``."""

    def history(limit=100, after=None, oldest_first=None):
        assert oldest_first is True
        kept = [r for r in records if after is None or r["id"] > after.id][:limit]
        return _aiter([message(r, channel_id) for r in kept])

    return MagicMock(side_effect=history)


def text_channel() -> MagicMock:
    channel = MagicMock(spec=discord.TextChannel, id=HISTORY["channel"]["id"])
    channel.guild = MagicMock(spec=discord.Guild, id=5151)
    channel.history = history_of(HISTORY["messages"], channel.id)
    return channel


def forum_channel() -> MagicMock:
    forum = MagicMock(spec=discord.ForumChannel, id=HISTORY["forum"]["id"])
    forum.guild = MagicMock(spec=discord.Guild, id=5151)
    threads = []
    for post in HISTORY["forum"]["posts"]:
        thread = MagicMock(spec=discord.Thread, id=post["id"])
        thread.name = post["title"]
        thread.applied_tags = [MagicMock(spec=discord.ForumTag) for _ in post["tags"]]
        for tag, name in zip(thread.applied_tags, post["tags"], strict=True):
            tag.name = name
        thread.history = history_of(post["messages"], post["id"])
        threads.append(thread)
    forum.threads = threads
    forum.archived_threads = MagicMock(side_effect=lambda limit=None: _aiter([]))
    return forum


def proposed(store) -> list[tuple[str, str, str | None]]:
    with store() as s:
        rows = s.scalars(select(Candidate).order_by(Candidate.id))
        return [(c.question, c.answer, c.marked_by) for c in rows]


async def known_none(questions):
    return [False] * len(questions)


async def test_a_channels_answered_questions_are_proposed_once_and_the_next_run_resumes(store):
    result = await harvest_channel(text_channel(), store, known_none, TRUSTED)
    assert result.read == len(HISTORY["messages"]) and result.last_message_id == 4016
    assert proposed(store) == [
        ("How do I reset my account password?",  # a trusted member's reply, its next message joined
         "Go to Settings → Account → Reset password.\nYou get an e-mail within a minute.", None),
        ("Does the stadium have wifi?", "Yes: the network is StadiumGuest, no password.", "101"),  # ✅ asker
        ("Who won the 2014 World Cup?", "Germany, 1-0 against Argentina.", None),
        ("Can I bring an umbrella into the ground?", "Only small folding ones.", "200"),  # ✅ trusted
    ]  # fmt: skip
    # Not proposed: an untrusted reply nobody marked, chatter marked ✅, the bot, and the same question
    # asked again later (4013) within the run.
    again = await harvest_channel(text_channel(), store, known_none, TRUSTED)
    assert (again.read, again.found, again.proposed) == (0, 0, [])  # resumed after 4016


async def test_what_was_proposed_before_or_is_known_is_left_out(store):
    from storage import review

    await harvest_channel(text_channel(), store, known_none, TRUSTED)
    with store.begin() as s:  # forget the cursor: the whole history is read again
        s.delete(s.get(review.HarvestCursor, "4000"))

    async def knows_world_cup(questions):
        return ["World Cup" in q for q in questions]

    again = await harvest_channel(text_channel(), store, knows_world_cup, TRUSTED)
    assert (again.found, again.known, again.queued, again.proposed) == (4, 1, 3, [])
    assert len(proposed(store)) == 4


async def test_without_trusted_roles_only_marked_answers_count(store):
    await harvest_channel(text_channel(), store, known_none, frozenset())
    assert [q for q, _, _ in proposed(store)] == ["Does the stadium have wifi?"]


async def test_a_forums_solved_posts_are_proposed_with_the_marked_answer(store):
    result = await harvest_channel(forum_channel(), store, known_none, TRUSTED)
    assert result.read == 5  # the post not marked solved is not read
    assert proposed(store) == [
        ("Where do I collect my season ticket?\nI renewed online last week.",
         "At the ticket office, gate 4, with your ID.", None),
        ("Can I pay with cash at the kiosks?", "Card only since 2023.", "101"),
    ]  # fmt: skip
    again = await harvest_channel(forum_channel(), store, known_none, TRUSTED)
    assert again.read == 0  # each post is harvested once


@pytest.mark.parametrize("dpy", [{"trusted_role_ids": [900]}], indirect=True)
async def test_the_harvest_command_leaves_out_what_the_bot_answers(dpy, store):
    interaction = make_interaction(dpy, make_member(ADMIN_ID))
    await invoke(dpy, "harvest", interaction, channel=text_channel())
    text = interaction.followup.send.await_args.args[0]
    assert text.startswith(
        "Read 16 message(s), found 4 answered question(s): 3 proposed for review, 1 already"
    )
    assert "Who won the 2014 World Cup?" not in [q for q, _, _ in proposed(store)]


def test_qabot_harvest_without_a_token_fails_fast(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    url = str(store.kw["bind"].url)
    result = CliRunner().invoke(app, ["harvest", "--channel", "4000", "--db", url])
    assert result.exit_code == 2 and "set DISCORD_TOKEN" in result.output


async def test_a_reply_with_a_secret_or_past_the_limits_is_not_proposed(store):
    from training.data.limits import MAX_ANSWER_CHARS

    token = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"
    key = "sk-proj-" + "a1B2c3D4" * 5  # an API key: anyone asking would be served it too
    records = [
        {"id": 1, "author": 100, "roles": [], "content": "How do I log the bot in?"},
        {"id": 2, "author": 200, "roles": [900], "content": f"Use this: {token}", "reply_to": 1},
        {"id": 3, "author": 101, "roles": [], "content": "What are the ground rules here?"},
        {"id": 4, "author": 200, "roles": [900], "content": "r" * 1900, "reply_to": 3},
        *({"id": 5 + i, "author": 200, "roles": [900], "content": "r" * 1900} for i in range(2)),
        {"id": 10, "author": 102, "roles": [], "content": "Is there a family stand?"},
        {"id": 11, "author": 200, "roles": [900], "content": "Yes, block C.", "reply_to": 10},
        {"id": 12, "author": 103, "roles": [], "content": "Which key does the stats bot use?"},
        {"id": 13, "author": 200, "roles": [900], "content": f"This one: {key}", "reply_to": 12},
    ]
    channel = text_channel()
    channel.history = history_of(records, channel.id)
    result = await harvest_channel(channel, store, known_none, TRUSTED)
    assert (result.found, result.unfit, len(result.proposed)) == (4, 3, 1)  # the joined answer: 5,702 chars
    assert MAX_ANSWER_CHARS < 3 * 1900 and "3 left out" in result.text()
    assert proposed(store) == [("Is there a family stand?", "Yes, block C.", None)]


async def test_a_forum_post_marked_solved_after_a_harvest_is_harvested_by_the_next(store):
    forum = forum_channel()
    await harvest_channel(forum, store, known_none, TRUSTED)
    assert len(proposed(store)) == 2
    [later] = [t for t in forum.threads if t.id == 5002]
    later.applied_tags[0].name = "Solved"  # the asker marks it solved a day later
    again = await harvest_channel(forum, store, known_none, TRUSTED)
    assert again.read == 2 and [q for q, _, _ in proposed(store)][-1].startswith("Is there a family section?")


async def test_posts_harvested_before_do_not_use_up_a_runs_posts(store, monkeypatch):
    from bot.discord_app import harvest

    monkeypatch.setattr(harvest, "FORUM_POSTS", 2)
    forum = forum_channel()
    for thread in forum.threads:
        thread.applied_tags[0].name = "Solved"
    first = await harvest_channel(forum, store, known_none, TRUSTED)
    second = await harvest_channel(forum, store, known_none, TRUSTED)
    assert (first.read, second.read) == (4, 3)  # two posts, then the third (was: never read)
    assert len(proposed(store)) == 3


@pytest.mark.parametrize("case", ["category", "not_a_snowflake", "negative"])
def test_qabot_harvest_of_a_category_or_a_bad_id_is_a_one_line_error(store, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    token = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"
    monkeypatch.setenv("DISCORD_TOKEN", token)

    class Client:  # discord.Client over HTTP, as far as the harvest uses it
        def __init__(self, **_):
            pass

        async def __aenter__(self):
            return self

        async def __aexit__(self, *_):
            return None

        async def login(self, _token):
            return None

        async def fetch_channel(self, channel_id):
            if case == "not_a_snowflake":  # was "Discord could not be reached" (exit 3)
                response = MagicMock(status=400, reason="Bad Request")
                raise discord.HTTPException(response, {"message": "Value is not snowflake."})
            category = MagicMock(spec=discord.CategoryChannel, id=channel_id)  # no history: AttributeError
            category.type = discord.ChannelType.category
            return category

    monkeypatch.setattr(discord, "Client", Client)
    url = str(store.kw["bind"].url)
    channel = "-5" if case == "negative" else "4000"
    result = CliRunner().invoke(app, ["harvest", "--channel", channel, "--db", url, "--model", str(tmp_path)])
    assert isinstance(result.exception, SystemExit) and token not in result.output, result.output
    said = {"category": "is a category", "not_a_snowflake": "refused to read channel 4000"}.get(
        case, "--channel"
    )
    assert result.exit_code == (1 if case == "not_a_snowflake" else 2) and said in result.stderr


async def test_an_answer_read_by_the_next_run_to_a_question_this_run_read_is_found(store):
    records = [
        {"id": 1, "author": 100, "roles": [], "content": "Is there a family stand at the ground?"},
        {"id": 2, "author": 101, "roles": [], "content": "good question, anyone?"},
        {"id": 3, "author": 200, "roles": [900], "content": "Yes, block C.", "reply_to": 1},
    ]
    by_id = {r["id"]: r for r in records}
    channel = text_channel()

    def history(limit=100, after=None, oldest_first=None):
        kept = [r for r in records if after is None or r["id"] > after.id][:limit]
        out = [message(r, channel.id) for r in kept]
        for msg, r in zip(out, kept, strict=True):
            if r.get("reply_to"):  # Discord sends a reply with the message it replies to
                msg.reference.resolved = message(by_id[r["reply_to"]], channel.id)
        return _aiter(out)

    channel.history = MagicMock(side_effect=history)
    first = await harvest_channel(channel, store, known_none, TRUSTED, limit=2)  # stops before the answer
    second = await harvest_channel(channel, store, known_none, TRUSTED, limit=2)
    assert (first.read, first.found, second.read, second.found) == (2, 0, 1, 1)
    assert proposed(store) == [("Is there a family stand at the ground?", "Yes, block C.", None)]


async def test_a_marked_answer_is_its_message_alone_and_no_answer_joins_a_link(store):
    # The ✅ was on the first message; the author's next line (a phishing link) was proposed with it.
    records = [
        {"id": 1, "author": 100, "roles": [], "content": "Where is the away section?"},
        {"id": 2, "author": 300, "roles": [], "content": "North stand, gates 9-12.", "reply_to": 1,
         "checked_by": [100]},
        {"id": 3, "author": 300, "roles": [], "content": "Also: free upgrades at https://evil.example/vip"},
        {"id": 4, "author": 101, "roles": [], "content": "Can I leave at half-time and come back?"},
        {"id": 5, "author": 200, "roles": [900], "content": "No re-entry once you leave.", "reply_to": 4},
        {"id": 6, "author": 200, "roles": [900], "content": "Your ticket is scanned out."},
        {"id": 7, "author": 200, "roles": [900], "content": "Appeals: discord.gg/fake-support"},
    ]  # fmt: skip
    channel = text_channel()
    channel.history = history_of(records, channel.id)
    await harvest_channel(channel, store, known_none, TRUSTED)
    assert proposed(store) == [
        ("Where is the away section?", "North stand, gates 9-12.", "100"),
        ("Can I leave at half-time and come back?",
         "No re-entry once you leave.\nYour ticket is scanned out.", None),  # not the link after them
    ]  # fmt: skip


def test_the_desk_drops_what_was_calibrated_with_an_overridden_answer_cut(tmp_path, store):
    # harvest and gaps decide "already answered" as the bot does: an ANSWER_SCORE set by hand answers by
    # its own margin, without the strong score or the second opinion calibrated with the old cut.
    from bot.desk.service import checkpoint_knowledge
    from training.retrieval.index import RetrievalIndex
    from training.retrieval.zones import NEVER

    RetrievalIndex.build([{"question": "Who won Euro 2016?", "answer": "Portugal."}]).save(tmp_path)
    zones = {"answer_score": 0.45, "answer_margin": 0.12, "suggest_score": 0.3, "strong_score": 0.58,
             "agree_score": 0.5, "agree_margin": 0.06}  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"zones": zones}))
    _, served = checkpoint_knowledge(tmp_path, store, {"answer_score": 0.45})
    assert (served.answer_score, served.strong_score, served.agree_score) == (0.45, NEVER, NEVER)
    _, calibrated = checkpoint_knowledge(tmp_path, store, {})
    assert (calibrated.strong_score, calibrated.agree_score) == (0.58, 0.5)


async def test_harvested_pairs_lose_mentions_and_emoji_and_answers_end_at_chat_questions_and_asides(store):
    # The answer swallowed its author's "lol", next question, words to the bot and reply to someone else;
    # mentions and custom emoji were kept in both texts.
    records = [
        {"id": 1, "author": 100, "roles": [], "content": "<@999> how do I reset my account password?"},
        {"id": 2, "author": 200, "roles": [900], "reply_to": 1,
         "content": "<@100> Settings → Account, ask <@&555> if stuck <:pepe:123456789012345678>"},
        {"id": 3, "author": 200, "roles": [900], "content": "lol"},
        {"id": 4, "author": 200, "roles": [900], "content": "You get an e-mail within a minute."},
        {"id": 5, "author": 101, "roles": [], "content": "Is there a family stand at the ground?"},
        {"id": 6, "author": 200, "roles": [900], "content": "Yes, block C.", "reply_to": 5},
        {"id": 7, "author": 200, "roles": [900], "content": "what time do the gates open btw"},
        {"id": 8, "author": 102, "roles": [], "content": "Can I bring an umbrella into the ground?"},
        {"id": 9, "author": 200, "roles": [900], "content": "Only small folding ones.", "reply_to": 8},
        {"id": 10, "author": 200, "roles": [900], "content": "<@999> remember that one", "to_bot": True},
        {"id": 11, "author": 103, "roles": [], "content": "Where is the away section at the ground?"},
        {"id": 12, "author": 104, "roles": [], "content": "great game"},
        {"id": 13, "author": 200, "roles": [900], "content": "North stand, gates 9-12.", "reply_to": 11},
        {"id": 14, "author": 200, "roles": [900], "content": "Same as last season, yes.", "reply_to": 12},
    ]  # fmt: skip
    channel = text_channel()
    channel.history = history_of(records, channel.id)
    await harvest_channel(channel, store, known_none, TRUSTED)
    assert proposed(store) == [
        ("how do I reset my account password?", "Settings → Account, ask if stuck", None),
        ("Is there a family stand at the ground?", "Yes, block C.", None),
        ("Can I bring an umbrella into the ground?", "Only small folding ones.", None),
        ("Where is the away section at the ground?", "North stand, gates 9-12.", None),
    ]


async def test_a_post_tagged_solved_with_an_emoji_is_harvested_as_the_bot_tags_it(store):
    from bot.desk.harvest import solved
    from bot.discord_app.forums import solved_tag

    for name in ("✅ Solved", "Solved ✅", "RESOLVED!", "answered", "Unsolved", "Question", "not solved"):
        forum = MagicMock(spec=discord.ForumChannel)
        forum.available_tags = [MagicMock(spec=discord.ForumTag)]
        forum.available_tags[0].name = name
        assert solved([name]) == (solved_tag(forum) is not None), name  # one rule for both
    forum = forum_channel()
    [later] = [t for t in forum.threads if t.id == 5002]
    later.applied_tags[0].name = "✅ Solved"  # as tests/bot/threads_support's forum names it
    await harvest_channel(forum, store, known_none, TRUSTED)
    assert any(q.startswith("Is there a family section?") for q, _, _ in proposed(store))


async def test_qabot_harvest_over_http_knows_trusted_members_by_their_raw_role_ids():
    # Logged in over HTTP only, the guild is an unavailable stub: Member.roles is empty.
    from discord.guild import Guild

    from bot.discord_app.harvest import Trust, said_of

    state = discord.Client(intents=discord.Intents.none())._connection
    guild = Guild._create_unavailable(state=state, guild_id=5151, data=None)
    data = {"id": "4000", "type": 0, "name": "help", "position": 0, "guild_id": "5151"}
    channel = discord.TextChannel(state=state, guild=guild, data=data)
    user = {"id": "200", "username": "helper", "discriminator": "0", "avatar": None, "global_name": None}
    data = {"id": "4002", "channel_id": "4000", "guild_id": "5151", "author": user,
            "member": {"roles": ["900"], "joined_at": None, "deaf": False, "mute": False, "flags": 0},
            "content": "Go to Settings.", "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": False, "type": 0}  # fmt: skip
    answer = discord.Message(state=state, channel=channel, data=data)
    assert isinstance(answer.author, discord.Member) and answer.author.roles == []
    trust = Trust(TRUSTED)
    said = await said_of(answer, trust)
    assert trust(said) and trust(200)
