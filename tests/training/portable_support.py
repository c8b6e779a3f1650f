"""A tiny trained checkpoint made ready for plain transformers the way ``write_checkpoint`` does it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.tiny_checkpoint import shared_tiny_checkpoint
from training.interop import prepare_for_transformers

MAX_NEW_TOKENS = 40
_shared: dict[str, Path] = {}


def shared_portable_checkpoint(factory) -> Path:
    """The session's tiny checkpoint (``tests/tiny_checkpoint.py``), copied, with qabot's generation
    config, context length and chat template saved in it (``factory``: pytest's tmp_path_factory)."""
    if "dir" not in _shared:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = factory.mktemp("portable") / "tiny-portable"
        shutil.copytree(shared_tiny_checkpoint(factory), folder)
        model = AutoModelForCausalLM.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        prepare_for_transformers(model, tokenizer, MAX_NEW_TOKENS)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        _shared["dir"] = folder
    return _shared["dir"]
