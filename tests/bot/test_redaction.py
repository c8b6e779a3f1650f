"""No Discord token reaches a retrain's status messages, its result or its ``TrainingRun.error``, nor the
CLI's error line (``training.redact``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.answering.answerer import Answerer
from bot.cli.common import fail
from bot.retrain import RetrainJob, RetrainOptions
from bot.retrain.trainer_process import STDERR_TAIL_CHARS, TrainerFailed, TrainerProcess
from bot.status import ThrottledStatus
from storage.models import TrainingRun
from tests.bot.fakes import FakeGenerator

TOKEN = "MTA4NzY1NDMyMTA5ODc2NTQz" + "." + "GhT3xQ" + "." + "k9Zb2-Lr_7vQeWx1NcPa0sYdF4uJmH8tRgE"


async def _retrain(tmp_path, store, base, monkeypatch=None):
    """One retrain with ``base`` as BASE_DATASETS: its result, every status text shown, and its run row."""
    shown: list[str] = []

    async def edit(text: str) -> None:
        shown.append(text)

    status = ThrottledStatus(edit, interval=0)
    async with Answerer(FakeGenerator(version="old-model"), batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer,
            session_factory=store,
            model_pointer=tmp_path / "models" / "current",
            base_datasets=[base],
        )
        if monkeypatch is not None:

            async def crash(*args, **kwargs):
                raise TrainerFailed(
                    f"Training failed: {base}: fields ['DISCORD_TOKEN={TOKEN}']\n```\n{TOKEN}\n```"
                )

            monkeypatch.setattr(job, "_train", crash)

        async def on_progress(progress) -> None:
            await status.update(progress.describe())

        result = await job.run(RetrainOptions(triggered_by="test"), on_progress)
        await status.final(f"{result.status}: {result.message}")
    with store() as session:
        [run] = session.scalars(select(TrainingRun))
    return result, shown, run


async def test_a_failed_retrain_masks_the_token_in_its_result_status_and_run_row(
    tmp_path, store, monkeypatch
):
    base = tmp_path / "base.json"
    base.write_text('[{"question": "Q?", "answer": "A."}]')
    result, shown, run = await _retrain(tmp_path, store, base, monkeypatch)
    assert result.status == "failed" and "DISCORD_TOKEN=***" in result.message
    assert TOKEN not in result.message and TOKEN not in run.error
    assert shown and not any(TOKEN in text for text in shown)


@pytest.mark.slow
async def test_a_settings_file_in_base_datasets_never_shows_its_token(tmp_path, store):
    env = tmp_path / ".env"
    env.write_text(f"DISCORD_TOKEN={TOKEN}\nDATABASE_URL=sqlite:///data/qabot.db\n")
    result, shown, run = await _retrain(tmp_path, store, env)  # the real trainer child reads it
    assert result.status == "failed" and ".env" in result.message
    assert TOKEN not in result.message and TOKEN not in run.error
    assert not any(TOKEN in text for text in shown)


async def test_the_status_message_masks_every_text():
    shown: list[str] = []

    async def edit(text: str) -> None:
        shown.append(text)

    status = ThrottledStatus(edit, interval=0)
    await status.update(f"loading {TOKEN}")
    await status.final(f"done: DISCORD_TOKEN={TOKEN}")
    assert shown == ["loading ***", "done: DISCORD_TOKEN=***"]


def test_the_cli_error_line_masks_the_token(capsys):
    fail(f"cannot log in: DISCORD_TOKEN={TOKEN} was refused")
    assert capsys.readouterr().err == "error: cannot log in: DISCORD_TOKEN=*** was refused\n"


def test_the_trainer_stderr_tail_is_masked_before_it_is_cut(tmp_path):
    """The tail was cut to its last 1,500 characters first: a token the cut fell into lost its head, no
    longer looked like a token, and its secret part was kept."""
    line = "warning: bad record " + TOKEN + " "
    (tmp_path / "err").write_text(line + "x" * (STDERR_TAIL_CHARS - len(line) + 30) + "\n")  # cut: 30 in
    tail = TrainerProcess(["true"], tmp_path / "err").stderr_tail()
    assert TOKEN[-20:] not in tail
    assert tail.endswith(" " + "x" * (STDERR_TAIL_CHARS - len(line) + 30)) and len(tail) <= STDERR_TAIL_CHARS


def test_qabot_runs_logs_mask_the_secrets_members_paste():
    """A question quoted in a log line ("answerer failed on …") shows no pasted API key or JWT (the bot
    token's shape is ``training.redact``'s, installed before)."""
    import logging

    from bot.launcher import members_secrets_filter

    key = "ghp_abcdefghijklmnop" + "qrstuvwxyz0123456789"
    record = logging.LogRecord("qabot", logging.ERROR, __file__, 1, "failed on %r", (f"my key {key}",), None)
    record.exc_text = f"Traceback ...\nValueError: {key}"
    assert members_secrets_filter().filter(record)
    assert record.getMessage() == "failed on 'my key [secret]'" and key not in record.exc_text
