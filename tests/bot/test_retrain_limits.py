"""A retrain leaves out the store's pairs past the dataset limits instead of failing on them: the trainer
refuses a file holding one, and a store may hold pairs taught before the limits existed."""

from __future__ import annotations

import json

from bot import async_store
from bot.answering.answerer import Answerer
from bot.retrain import RetrainData, RetrainJob, RetrainOptions
from tests.bot.fakes import FakeGenerator
from training.data import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS

OK = {"question": "What is offside?", "answer": "Being past the second-last defender."}
LONG_ANSWER = {"question": "Tell me everything?", "answer": "word " * (MAX_ANSWER_CHARS // 5 + 1)}
LONG_QUESTION = {"question": "why " * (MAX_QUESTION_CHARS // 4 + 1), "answer": "Because."}


def test_drop_oversized_keeps_the_pairs_within_the_limits(tmp_path):
    export = tmp_path / "export.json"
    at_limits = {"question": "q" * MAX_QUESTION_CHARS, "answer": "a" * MAX_ANSWER_CHARS}
    export.write_text(json.dumps([OK, LONG_ANSWER, at_limits, LONG_QUESTION]))
    data = RetrainData(store_export=export, base=[])
    assert data.drop_oversized() == 2
    assert json.loads(export.read_text()) == [OK, at_limits]
    assert data.drop_oversized() == 0


def test_an_export_of_only_oversized_pairs_is_no_export(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([LONG_ANSWER]))
    data = RetrainData(store_export=export, base=[tmp_path / "base.json"])
    assert data.drop_oversized() == 1 and data.store_export is None and data.files == [tmp_path / "base.json"]


async def test_a_retrain_trains_without_the_oversized_pairs_and_says_so(tmp_path, store, monkeypatch):
    for pair in (OK, LONG_ANSWER):
        await async_store.teach(store, pair["question"], pair["answer"], admin_id=1)
    base = tmp_path / "base.json"
    base.write_text(json.dumps([OK]))
    trained_on: list[list[dict]] = []
    details: list[str] = []
    async with Answerer(FakeGenerator(version="old-model"), batch_wait_ms=1) as answerer:
        job = RetrainJob(
            answerer=answerer,
            session_factory=store,
            model_pointer=tmp_path / "models" / "current",
            base_datasets=[base],
        )

        async def train(data, options, tmp, on_progress):
            trained_on.append(json.loads(data.store_export.read_text()))
            details.append(job.progress.detail)
            raise RuntimeError("stop here")

        monkeypatch.setattr(job, "_train", train)
        await job.run(RetrainOptions(triggered_by="test"))
    assert [r["question"] for r in trained_on[0]] == [OK["question"]]
    assert details == ["1 records from the store (1 too long to train on left out) + 1 base dataset(s)"]
