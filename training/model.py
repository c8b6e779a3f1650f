"""Model construction: a pretrained causal LM (hub name or local ``save_pretrained`` folder) or a GPT-2
trained from scratch with a size preset and a tokenizer of our choice.

Loading a hub name when the hub cannot be reached fails within seconds with a message naming the
alternatives, instead of ``from_pretrained``'s ~25 s of retries and a traceback.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.tokenizer import EOS, load_gpt2_tokenizer

SCRATCH = "scratch"
DEFAULT_SIZE = "small"
# Architectures of the from-scratch presets (GPT2Config fields). ``small`` is tuned so that `make run`'s
# default (scratch on examples/soccer.json) memorises its answers in minutes on 2 CPU cores.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_positions": 256},
    # Measured on examples/soccer.json (277 training pairs, dataset BPE, batch 8): 4x128 at lr 3e-3 recalls
    # every answer (F1 1.0) after 30 epochs in ~80 CPU-seconds; 4x256 at lr 2e-3 reached F1 0.1 in 100.
    "small": {"n_layer": 4, "n_embd": 128, "n_head": 4, "n_positions": 512},
    "distilgpt2": {"n_layer": 6, "n_embd": 768, "n_head": 12, "n_positions": 1024},
}
TOKENIZERS = ("bpe", "gpt2")
DEFAULT_TOKENIZER = "bpe"
# Upper bound for the dataset-trained BPE; a few hundred Q&A pairs yield fewer merges than this anyway.
BPE_VOCAB_SIZE = 4096
HUB_PROBE_TIMEOUT_S = 5.0


class ModelLoadError(Exception):
    """The base model cannot be built or loaded; the message says what to use instead."""


@dataclass
class LoadedModel:
    model: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    base: str  # "scratch", a hub name, or a local folder
    size: str | None  # scratch preset (kept when continuing a qabot checkpoint), None for hub models
    tokenizer_name: str  # "bpe" (trained on the dataset), "gpt2", or "pretrained" (the base's own)

    @property
    def is_scratch(self) -> bool:
        return self.base == SCRATCH


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = BPE_VOCAB_SIZE) -> Any:
    """A byte-level BPE (GPT-2's scheme: any text encodes, no unknown tokens) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, bos_token=EOS)


def build_tokenizer(name: str, texts: Iterable[str] | None = None) -> Any:
    """The scratch model's tokenizer: ``gpt2`` (GPT-2's real BPE) or ``bpe`` (trained on ``texts``)."""
    if name == "gpt2":
        return load_gpt2_tokenizer()
    if name == "bpe":
        if texts is None:
            raise ValueError("the bpe tokenizer is trained on the dataset: pass its texts")
        return train_bpe_tokenizer(texts)
    raise ModelLoadError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")


def build_scratch_model(size: str, tokenizer: Any, dropout: float = 0.0) -> Any:
    """A randomly initialised GPT-2 of preset ``size`` whose vocabulary matches ``tokenizer``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if size not in SIZES:
        raise ModelLoadError(f"unknown --size {size!r}; choose one of {', '.join(SIZES)}")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        **SIZES[size],
    )
    return GPT2LMHeadModel(config)


def _hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the model hub answers within ``timeout_s`` (DNS included, hence the thread)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    result: list[bool] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(f"{endpoint}/api/models?limit=1", timeout=timeout_s).close()
            result.append(True)
        except urllib.error.HTTPError:
            result.append(True)  # it answered, even if with an error status
        except Exception:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 1)
    return bool(result and result[0])


def _unreachable_message(base: str) -> str:
    return (
        f"Cannot load base model {base!r}: it is not a local folder, not in the Hugging Face cache, and the "
        "hub is unreachable. Use `--base scratch` (train a GPT-2 from nothing, with --size "
        f"{'|'.join(SIZES)}) or `--base /path/to/folder` (a model saved with save_pretrained)."
    )


def load_pretrained(base: str) -> tuple[Any, Any]:
    """Model and tokenizer from a local ``save_pretrained`` folder or a hub name (fast failure offline)."""
    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json: not a save_pretrained model folder")
        try:
            return _from_pretrained(path)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"cannot load the model in {path}: {e}") from e
    # Hub names are "name" or "org/name"; anything else that does not exist is a mistyped folder.
    if base.startswith((".", "/", "~")) or base.count("/") > 1:
        raise ModelLoadError(f"--base {base}: no such folder. Use a hub name, a local folder or `scratch`")
    try:  # already downloaded once: no network needed
        return _from_pretrained(base, local_files_only=True)
    except (OSError, ValueError):
        pass
    if not _hub_reachable():
        raise ModelLoadError(_unreachable_message(base))
    try:
        return _from_pretrained(base)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load base model {base!r} from the hub: {e}") from e


def _from_pretrained(source: str | Path, **kwargs: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    return model, _with_pad(AutoTokenizer.from_pretrained(source, **kwargs))


def _with_pad(tokenizer: Any) -> Any:
    # GPT-2 family tokenizers have no pad token; pad = eos is safe because labels are masked by length.
    if tokenizer.eos_token is None:
        raise ModelLoadError("the base model's tokenizer has no EOS token, so answers could never end")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(
    base: str,
    size: str = DEFAULT_SIZE,
    tokenizer_name: str = DEFAULT_TOKENIZER,
    texts: Iterable[str] | None = None,
    dropout: float = 0.0,
) -> LoadedModel:
    """The model training starts from: ``scratch`` (preset ``size``, tokenizer ``tokenizer_name`` trained on
    ``texts`` when ``bpe``), a local ``save_pretrained`` folder, or a hub name."""
    if base == SCRATCH:  # a GPT-2 from nothing, with GPT-2's tokenizer or a BPE trained on ``texts``
        if size not in SIZES:
            raise ModelLoadError(f"unknown --size {size!r}; choose one of {', '.join(SIZES)}")
        tokenizer = build_tokenizer(tokenizer_name, texts)
        return LoadedModel(
            build_scratch_model(size, tokenizer, dropout), tokenizer, base, size, tokenizer_name
        )
    # A hub name or a local save_pretrained folder, fine-tuned with its own tokenizer...
    model, tokenizer = load_pretrained(base)
    size, tokenizer_name = None, "pretrained"
    manifest = Path(base).expanduser() / "manifest.json"
    if manifest.is_file():  # ...or a qabot checkpoint, continued: keep its lineage (size preset, tokenizer)
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
            size, tokenizer_name = info.get("size"), info.get("tokenizer") or tokenizer_name
        except (OSError, ValueError):
            pass
    return LoadedModel(model, tokenizer, base, size, tokenizer_name)
