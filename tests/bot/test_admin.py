"""Admin slash commands, called as the command tree would (checks included) with spec'd Interactions."""

from __future__ import annotations

import gzip
import json
import logging
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest
from sqlalchemy import select

from bot import async_store
from bot.discord_app.permissions import REFUSAL
from bot.retrain import RetrainBusy, RetrainJob
from storage.models import TaughtPair
from tests.bot.fixtures import ADMIN_ID, invoke, make_interaction, make_member

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def admin_interaction(bot, **kwargs):
    return make_interaction(bot, make_member(ADMIN_ID), **kwargs)


def taught(store) -> list[tuple[str, str]]:
    with store() as session:
        return [(p.question, p.answer) for p in session.scalars(select(TaughtPair).order_by(TaughtPair.id))]


def sent_text(interaction) -> str:
    call = interaction.followup.send.await_args or interaction.response.send_message.await_args
    return call.args[0] if call.args else call.kwargs.get("content", "")


ADMIN_COMMANDS = [
    ("retrain", {}),
    ("export", {"format": "json"}),
    ("teach", {"question": "q?", "answer": "a."}),
    ("synonym add", {"word": "goalie", "means": "goalkeeper"}),
    ("synonym remove", {"word": "goalie"}),
    ("synonym list", {}),
    ("unanswered", {}),
    ("stats", {}),
    ("model", {}),
    ("reload", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), ADMIN_COMMANDS)
async def test_non_admins_are_refused_ephemerally_and_logged(dpy, store, caplog, name, kwargs):
    dpy.retrain_job = MagicMock(spec=RetrainJob)
    interaction = make_interaction(dpy, make_member(1), guild=MagicMock(spec=discord.Guild, id=5))
    with caplog.at_level(logging.WARNING):
        await invoke(dpy, name, interaction, **kwargs)
    interaction.response.send_message.assert_awaited_once()
    assert interaction.response.send_message.await_args.args[0] == REFUSAL
    assert interaction.response.send_message.await_args.kwargs["ephemeral"] is True
    interaction.response.defer.assert_not_awaited()
    dpy.retrain_job.start.assert_not_called()
    assert taught(store) == []
    assert any(f"refused /{name}" in r.getMessage() and "(1)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "user",
    [
        make_member(7, manage_guild=True),  # Discord's "Manage Server"
        make_member(8, roles=("Coach",)),  # ADMIN_ROLE
        make_member(ADMIN_ID),  # ADMIN_USER_IDS
    ],
    ids=["manage-server", "admin-role", "admin-user-id"],
)
async def test_admins_by_permission_role_or_id_may_teach(dpy, store, user):
    dpy.settings.admin_role = "Coach"
    interaction = make_interaction(dpy, user)
    await invoke(dpy, "teach", interaction, question="What is VAR?", answer="The video assistant referee.")
    assert "Learned pair" in sent_text(interaction)
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)  # before the model
    assert interaction.followup.send.await_args.kwargs["ephemeral"] is True
    assert taught(store) == [("What is VAR?", "The video assistant referee.")]


async def test_a_role_with_another_name_is_not_admin(dpy, store):
    dpy.settings.admin_role = "Coach"
    interaction = make_interaction(dpy, make_member(9, roles=("Player",)))
    await invoke(dpy, "teach", interaction, question="q?", answer="a.")
    assert sent_text(interaction) == REFUSAL and taught(store) == []


async def test_retrain_reports_progress_in_one_status_message_and_the_failure(dpy, store, tmp_path):
    # An empty store and no BASE_DATASETS: the job fails before training, and says why.
    pointer = tmp_path / "models" / "current"
    dpy.retrain_job = RetrainJob(answerer=dpy.answerer, session_factory=store, model_pointer=pointer)
    interaction = admin_interaction(dpy)
    await invoke(dpy, "retrain", interaction, epochs=2)
    assert interaction.response.send_message.await_args.args[0].startswith("🛠️ Retrain started")
    status = await interaction.original_response()
    final = status.edit.await_args.kwargs["content"]
    assert final.startswith("❌ Retrain failed") and "previous model keeps answering" in final
    # The public status says no more: the trainer's output goes to the admin alone (and the log).
    assert all("Nothing to train on" not in c.kwargs["content"] for c in status.edit.await_args_list)
    details = interaction.followup.send.await_args
    assert "Nothing to train on" in details.args[0] and details.kwargs["ephemeral"] is True
    assert dpy.answerer.model_version == "fake-v1"


async def test_teach_refuses_an_answer_past_the_limit(dpy, store):
    interaction = admin_interaction(dpy)
    await invoke(dpy, "teach", interaction, question="Rules?", answer="x" * 104_000)
    text = interaction.response.send_message.await_args.args[0]
    assert "104,000 characters" in text and "4,000" in text and taught(store) == []


async def test_teach_refuses_a_token_shaped_secret(dpy, store):
    """The bot would repeat a taught answer to anyone: a token-shaped string is never taught."""
    token = "N" + "a" * 23 + "." + "b" * 6 + "." + "c" * 27  # built here: no token-shaped literal in the repo
    interaction = admin_interaction(dpy)
    await invoke(dpy, "teach", interaction, question="What is the bot token?", answer=f"It is {token}")
    text = interaction.response.send_message.await_args.args[0]
    assert "holds a secret" in text and token not in text and taught(store) == []


async def test_teach_refuses_any_secret_the_store_masks(dpy, store):
    """A GitHub or OpenAI key taught would be served to anyone as surely as a Discord token: every shape
    ``mask_secrets`` knows is refused, not only a Discord token's."""
    for key in ("ghp_" + "a1B2" * 9, "sk-proj-" + "Ab3dEf" * 5):  # built here: no key-shaped literal
        interaction = admin_interaction(dpy)
        await invoke(dpy, "teach", interaction, question="What is the key?", answer=f"It is {key}")
        text = interaction.response.send_message.await_args.args[0]
        assert "secret" in text and key not in text
    assert taught(store) == []


async def test_teach_refuses_a_secret_hidden_by_a_zero_width_space_or_a_line_break(dpy, store):
    token = "N" + "a" * 23 + "." + "b" * 6 + "." + "c" * 27
    for hidden in (f"{token[:9]}\u200b{token[9:]}", f"{token[:30]}\n{token[30:]}"):
        interaction = admin_interaction(dpy)
        await invoke(dpy, "teach", interaction, question="What is the bot token?", answer=f"It is {hidden}")
        assert "holds a secret" in interaction.response.send_message.await_args.args[0]
    assert taught(store) == []


async def test_unanswered_and_stats_show_questions_as_text_not_markdown(dpy, store):
    phishing = "[free nitro](https://evil.example) ```unclosed"
    for _ in range(2):
        await async_store.log_exchange(store, SimpleNamespace(
            question=phishing, text="?", unanswered=True, confidence=0.1, latency_s=0.1, model_version="v",
            zone="fallback",
        ), source="discord")  # fmt: skip
    interaction = admin_interaction(dpy)
    await invoke(dpy, "unanswered", interaction)
    shown = interaction.followup.send.await_args.args[0]
    # The masked link's bracket is escaped (so it shows as text), and so are the backticks.
    assert "2× \\[free nitro]" in shown and "\\`\\`\\`unclosed" in shown
    interaction = admin_interaction(dpy)
    await invoke(dpy, "stats", interaction)
    description = interaction.followup.send.await_args.kwargs["embed"].description
    assert "\\[free nitro]" in description and "\\`\\`\\`" in description


async def test_a_second_retrain_sees_the_running_jobs_progress(dpy):
    dpy.retrain_job = MagicMock(spec=RetrainJob)
    dpy.retrain_job.start.side_effect = RetrainBusy("**train** · step 3/10")
    interaction = admin_interaction(dpy)
    await invoke(dpy, "retrain", interaction)
    text = interaction.response.send_message.await_args.args[0]
    assert "already running" in text and "step 3/10" in text


async def test_retrain_cancel(dpy):
    dpy.retrain_job = MagicMock(spec=RetrainJob)
    dpy.retrain_job.cancel = AsyncMock(return_value=True)
    interaction = admin_interaction(dpy)
    await invoke(dpy, "retrain", interaction, cancel=True)
    dpy.retrain_job.cancel.assert_awaited_once()
    dpy.retrain_job.start.assert_not_called()
    assert "cancelled" in interaction.response.send_message.await_args.args[0]


async def test_export_sends_the_store_as_an_ephemeral_attachment(dpy, store):
    await async_store.teach(store, "Who won in 2014?", "Germany.", admin_id=1)
    interaction = admin_interaction(dpy, guild=MagicMock(spec=discord.Guild, id=5, filesize_limit=8 * 2**20))
    await invoke(dpy, "export", interaction, format="json")
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True
    file: discord.File = call.kwargs["file"]
    assert file.filename == "qabot-json.json"
    assert json.loads(file.fp.read()) == [{"question": "Who won in 2014?", "answer": "Germany."}]
    assert sent_text(interaction) == "1 rows, format `json`."  # no KTO warning outside kto exports


async def test_kto_export_reply_carries_the_label_balance_warning(dpy, store):
    await async_store.teach(store, "Who won in 2014?", "Germany.", admin_id=1)
    interaction = admin_interaction(dpy, guild=MagicMock(spec=discord.Guild, id=5, filesize_limit=8 * 2**20))
    await invoke(dpy, "export", interaction, format="kto")
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True and call.kwargs["file"].filename == "qabot-kto.jsonl"
    assert sent_text(interaction) == (
        "1 rows, format `kto`.\n⚠️ kto: all 1 rows are desirable; KTO needs both kinds (downvoted or "
        "corrected answers are the undesirable ones)"
    )


async def test_export_over_the_upload_limit_is_gzipped(dpy, store):
    for i in range(40):
        await async_store.teach(
            store, f"Question number {i} about football?", "A long answer. " * 40, admin_id=1
        )
    interaction = admin_interaction(dpy, guild=MagicMock(spec=discord.Guild, id=5, filesize_limit=4000))
    await invoke(dpy, "export", interaction, format="jsonl")
    file: discord.File = interaction.followup.send.await_args.kwargs["file"]
    assert file.filename == "qabot-jsonl.jsonl.gz"
    lines = gzip.decompress(file.fp.read()).decode().splitlines()
    assert len(lines) == 40


def unanswered(question: str) -> SimpleNamespace:
    return SimpleNamespace(
        question=question, text="I'm not sure.", confidence=0.1, unanswered=True, latency_s=0.01,
        model_version="fake-v1", zone="fallback", matched_question=None, match_score=None,
    )  # fmt: skip


async def test_unanswered_groups_similar_questions_most_asked_first(dpy, store):
    questions = [
        "who is the best goalkeeper ever",  # the oldest, but asked once
        "how long is a match",
        "How long is a football match?",
        "how long does a match last",
        "what time is kickoff",
    ]
    for question in questions:
        await async_store.log_exchange(store, unanswered(question), source="discord")
    interaction = admin_interaction(dpy)
    await invoke(dpy, "unanswered", interaction)
    text = sent_text(interaction)
    lines = [line for line in text.splitlines() if line.startswith("•")]
    assert lines[0].startswith("• 3× how long is a match (+2 similar)")  # its oldest example
    assert lines[1].startswith("• 1× who is the best goalkeeper ever")  # then the oldest single ones
    assert lines[2].startswith("• 1× what time is kickoff")
    assert len(lines) == 3 and "/teach" in text
    assert interaction.followup.send.await_args.kwargs["ephemeral"] is True


async def test_unanswered_leaves_out_chat_and_abuse_logged_before_the_store_told_them_apart(dpy, store):
    """Rows an older bot logged as unanswered ("2× hi", "thanks!", "fuck off", "😂😂😂") are no questions
    to teach: /unanswered and the gaps leave them out as the store does new ones."""
    from bot.desk.service import read_gap_rows

    for question in ["hi", "hi", "thanks!", "lol", "?", "...", "😂😂😂", "fuck off", "what time is kickoff"]:
        await async_store.log_exchange(store, unanswered(question), source="discord")  # no not_asked: old
    interaction = admin_interaction(dpy)
    await invoke(dpy, "unanswered", interaction)
    lines = [line for line in sent_text(interaction).splitlines() if line.startswith("•")]
    assert len(lines) == 1 and lines[0].startswith("• 1× what time is kickoff")
    assert [r["question"] for r in read_gap_rows(store, None, None)] == ["what time is kickoff"]


async def test_unanswered_when_there_are_none(dpy):
    interaction = admin_interaction(dpy)
    await invoke(dpy, "unanswered", interaction)
    assert sent_text(interaction) == "No unanswered questions. 🎉"


async def test_teach_is_answered_at_once(dpy, store):
    interaction = admin_interaction(dpy)
    await invoke(dpy, "teach", interaction, question="What is VAR?", answer="The video assistant referee.")
    assert "answered from now on" in sent_text(interaction)
    answer = await dpy.answerer.answer("what is VAR")  # reworded, before any retrain
    assert (answer.text, answer.answered_by) == ("The video assistant referee.", "taught")


async def test_stats_shows_counts_model_metrics_and_a_png_chart(dpy, store):
    import discord.ext.test as dpytest

    for i in range(3):
        await dpytest.message(f"<@{dpy.user.id}> question {i}")
    interaction = admin_interaction(dpy)
    await invoke(dpy, "stats", interaction)
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True  # top questions are other users' words: admins only
    assert interaction.response.defer.await_args.kwargs["ephemeral"] is True
    description = call.kwargs["embed"].description
    assert "Questions: 3" in description and "fake-v1" in description and "f1 0.750" in description
    file: discord.File = call.kwargs["file"]
    assert file.filename == "questions.png" and file.fp.read().startswith(PNG_MAGIC)


async def test_model_summarises_the_manifest(dpy):
    interaction = admin_interaction(dpy)
    await invoke(dpy, "model", interaction)
    text = sent_text(interaction)
    assert "fake-v1" in text and "scratch" in text
    assert "exact_match 0.250" in text and "f1 0.750" in text  # the manifest's metrics
    assert "Confidence threshold: 0.500" in text  # and its calibrated threshold


async def test_reload_swaps_to_what_model_dir_points_at(dpy):
    dpy.retrain_job = MagicMock(spec=RetrainJob)
    dpy.retrain_job.reload = AsyncMock(return_value="run-2")
    interaction = admin_interaction(dpy)
    await invoke(dpy, "reload", interaction)
    assert sent_text(interaction) == "Now serving `run-2`."


async def test_reload_failure_keeps_the_old_model(dpy):
    dpy.retrain_job = MagicMock(spec=RetrainJob)
    dpy.retrain_job.reload = AsyncMock(side_effect=OSError("no such folder"))
    interaction = admin_interaction(dpy)
    await invoke(dpy, "reload", interaction)
    assert "previous model keeps answering" in sent_text(interaction)


def test_the_metrics_say_the_low_held_out_scores_are_the_model_alone():
    """`/stats` and `/model` showed "exact_match 0.000, f1 0.116 … eval_loss 9.626": a newcomer read a
    broken model, while retrieval answers those questions and the known ones score 1.000."""
    from bot.admin_actions import format_metrics

    text = format_metrics({"exact_match": 0.0, "f1": 0.116, "eval_loss": 9.626, "recall_f1": 1.0})
    assert (
        text
        == "known questions f1 1.000; held out, the model alone: exact_match 0.000, f1 0.116, eval_loss 9.626"
    )
    assert format_metrics({"f1": 0.5}) == "f1 0.500" and format_metrics({}) == "none recorded"
