"""The answer engine's model side: load a checkpoint and answer a batch of questions.

``Generator`` owns a causal LM + tokenizer and runs its own decoding loop instead of ``model.generate``:
left-padded batches, a KV cache, only the last position's logits, finished rows dropped from the batch
as soon as they stop, and no per-step machinery it does not need. That loop is what makes one CPU
answer many people at once (see ``bench/inference.py``). Prompts come from ``training.prompt`` so the
model sees exactly the shape it was trained on; answers are cut at EOS or a template stop marker.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import (
    MANIFEST,
    CheckpointError,
    check_finite_weights,
    load_tokenizer,
    number_in,
    read_manifest,
    resolve_model_dir,
    weights_file,
)
from training.checkpoint import model_version as folder_version
from training.prompt import STOP_STRINGS, extract_answer, format_answer, format_prompt
from training.retrieval.index import RetrievalIndex
from training.retrieval.index_files import INDEX_DIR
from training.retrieval.zones import ZoneThresholds
from training.runtime.batching import DecodedRow, DraftStats, GenerationConfig, RunningBatch
from training.runtime.decoders import supports_fast_path

log = logging.getLogger(__name__)

# A sentence ends at . ! ? (optionally followed by a closing quote/bracket) before whitespace or the end.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


@dataclass
class Generation:
    text: str
    confidence: float  # exp(mean token log-probability) in 0..1
    mean_logprob: float
    tokens: int  # tokens the model generated for this answer (including the EOS/stop token)
    latency_s: float  # from the start of the batch until this answer finished
    model_version: str
    truncated: bool  # cut by max_new_tokens rather than ending on its own


def trim_to_sentence(text: str) -> str:
    """Drop an unfinished last sentence; keep the text whole when it has no complete sentence."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].strip() if ends else text.strip()


def confidence_threshold(manifest: dict) -> float | None:
    """The manifest's confidence threshold (None: answer everything); a ValueError for anything but a
    number from 0 to 1."""
    value = manifest.get("confidence_threshold")
    if value is None:
        return None
    if not number_in(value, 0.0, 1.0):
        raise ValueError(f"confidence_threshold must be a number from 0 to 1, not {value!r}")
    return float(value)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0]


def _load_weights(auto_class: Any, real: Path) -> Any:
    """``auto_class.from_pretrained(real)`` in fp32; a damaged or missing weights file, or a config.json
    that does not fit the weights (another model size), is a ``CheckpointError`` naming the file."""
    from safetensors import SafetensorError

    weights = weights_file(real)
    try:
        return auto_class.from_pretrained(str(real), dtype=torch.float32)
    except RuntimeError as e:  # transformers' size-mismatch report (it logs the details)
        raise CheckpointError(
            f"{real}: config.json does not fit {weights} ({_first_line(e)}); retrain or pick another model"
        ) from e
    except (SafetensorError, OSError, ValueError, EOFError) as e:
        what = "config.json or " if isinstance(e, ValueError) else ""
        raise CheckpointError(
            f"{real}: {what}{weights} is damaged ({type(e).__name__}: {_first_line(e)}); retrain or pick "
            "another model"
        ) from e


class Generator:
    """Answers questions with a causal LM; thread-safe for one caller at a time (the Answerer's worker)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        manifest: dict[str, Any] | None = None,
        model_version: str = "unsaved",
        precision: str = "fp32",
        fast: bool | None = None,
        index: RetrievalIndex | None = None,
    ) -> None:
        self.model = model.eval()
        self.model_dir: Path | None = None  # the folder ``load`` read (a pointer resolved), if any
        self.index = index  # the known questions this model was trained on (None: a plain model folder)
        self.tokenizer = tokenizer
        self.manifest = manifest or {}
        self.model_version = model_version
        self.precision = precision
        self.device = next(model.parameters()).device
        # The lean GPT-2 decoding path when the architecture allows it (fast=None), else the model's forward.
        self.fast = supports_fast_path(model) if fast is None else fast
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.context = int(getattr(model.config, "n_positions", None) or model.config.max_position_embeddings)
        # Only tokens that contain a newline can complete a stop marker ("\nQuestion:"), so the stop
        # check decodes a row only after it produced one. Byte-level BPE spells "\n" as "Ċ".
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        nl = [i for i, t in enumerate(vocab) if t is not None and ("Ċ" in t or "\n" in t)]
        self.newline_ids = torch.tensor(nl, dtype=torch.long, device=self.device) if nl else None
        self.draft_stats = DraftStats()  # how often this model says the answer drafts it is given

    @property
    def confidence_threshold(self) -> float | None:
        return confidence_threshold(self.manifest)

    @property
    def zones(self) -> ZoneThresholds:
        """The retrieval zones calibrated when this model was trained (defaults for older checkpoints)."""
        return ZoneThresholds.from_dict(self.manifest.get("zones"))

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, device: str = "auto", precision: str = "auto"
    ) -> Generator:
        """Load a checkpoint folder (default ``models/current``); CPU -> int8, CUDA -> bf16/fp16.

        A plain ``save_pretrained`` folder (no ``manifest.json``, e.g. trained with TRL on qabot's exports)
        loads too, with a warning: default thresholds, no retrieval index, named after its folder."""
        from transformers import AutoModelForCausalLM

        from training.runtime.gptq import INT8_FILE, read_int8_weights
        from training.runtime.quantize import prepare_model, resolve_precision

        real = resolve_model_dir(model_dir)
        manifest = read_manifest(real, required=False)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        precision = resolve_precision(precision, dev)
        tokenizer = load_tokenizer(real)
        model = _load_weights(AutoModelForCausalLM, real)
        check_finite_weights(model, real)
        int8_weights = read_int8_weights(real) if precision == "int8" else None
        try:
            model = prepare_model(model, precision, dev, int8_weights)
        except ValueError as e:  # int8.safetensors does not fit this model
            if int8_weights is None:
                raise
            raise CheckpointError(f"{real / INT8_FILE}: {e}; delete it to round weights at load time") from e
        version = manifest.get("model_version") or folder_version(real)
        try:
            index = RetrievalIndex.load(real)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(
                f"{real}: {INDEX_DIR}/ is damaged or unreadable ({type(e).__name__}: {_first_line(e)}); "
                "retrain or pick another model"
            ) from e
        try:  # both read at every question: refused here instead
            ZoneThresholds.from_dict(manifest.get("zones"))
            confidence_threshold(manifest)
        except (ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(
                f"{real / MANIFEST}: {_first_line(e)}; retrain or pick another model"
            ) from e
        if index is None:
            log.warning("%s has no retrieval index: the model answers questions as typed", real)
        generator = cls(
            model, tokenizer, manifest=manifest, model_version=version, precision=precision, index=index
        )
        generator.model_dir = real
        return generator

    # -- prompts -------------------------------------------------------------------------------------------

    def _token_ids(self, text: str) -> list[int]:
        """Exactly the tokens training put before the answer (collate.py adds no special tokens either).
        ``verbose=False``: the tokenizer's ``model_max_length`` is the context, so an over-long question
        would also log transformers' "Token indices sequence length is longer than ..." warning, though
        ``encode_question`` cuts it and says so itself."""
        return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    def encode_question(self, question: str, max_new_tokens: int) -> list[int]:
        """Prompt token ids; a question too long for the context keeps its end (with a warning)."""
        budget = self.context - max_new_tokens
        ids = self._token_ids(format_prompt(question))
        if len(ids) <= budget:
            return ids
        q_ids = self._token_ids(question.strip())
        overhead = len(ids) - len(q_ids)
        keep = max(1, budget - overhead)
        while True:  # re-tokenizing the cut text can shift a token; shrink until it fits
            ids = self._token_ids(format_prompt(self.tokenizer.decode(q_ids[-keep:])))
            if len(ids) <= budget or keep == 1:
                break
            keep -= 1
        log.warning(
            "question of %d tokens is longer than the context allows; kept its last %d", len(q_ids), keep
        )
        return ids[-budget:]

    def draft_ids(self, answer: str) -> list[int]:
        """The tokens the model says for ``answer`` if it answers as it was trained to (with EOS)."""
        return self._token_ids(format_answer(answer, self.tokenizer.eos_token))

    # -- generation ----------------------------------------------------------------------------------------

    def _limited(self, config: GenerationConfig | None) -> GenerationConfig:
        """``config`` with ``max_new_tokens`` cut to what the context leaves room for."""
        config = config or GenerationConfig()
        max_new = max(1, min(config.max_new_tokens, self.context - 8))
        return config if max_new == config.max_new_tokens else replace(config, max_new_tokens=max_new)

    def batch(self, config: GenerationConfig | None = None, *, slots: int = 0) -> RunningBatch:
        """A running batch on this model (continuous batching): rows join with ``add``, decode with
        ``step`` and leave when they finish; see ``training.runtime.batching``. ``slots``: rows to make room
        for."""
        return RunningBatch(self, self._limited(config), slots=slots)

    @torch.inference_mode()
    def generate(
        self,
        questions: list[str],
        config: GenerationConfig | None = None,
        drafts: list[str | None] | None = None,
    ) -> list[Generation]:
        """Answer ``questions`` as one batch: ``num_return_sequences`` results per question, in order.
        ``drafts``: per question, the answer it was trained on if known (faster, same answers)."""
        config = self._limited(config)
        if not questions:
            return []
        start = time.perf_counter()
        prompts = [self.encode_question(q, config.max_new_tokens) for q in questions]
        n = config.num_return_sequences
        prompts = [p for p in prompts for _ in range(n)]
        drafts = [d for d in drafts for _ in range(n)] if drafts else None
        rows = self._decode(prompts, config, start, drafts)
        return [self.finish(row) for row in rows]

    def _decode(
        self,
        prompts: list[list[int]],
        config: GenerationConfig,
        start: float,
        drafts: list[str | None] | None = None,
    ) -> list[DecodedRow]:
        """Every prompt decoded together until the last one finishes; one ``DecodedRow`` each, in order.
        ``drafts``: answer texts (tokenized only when the batch takes drafts)."""
        batch = RunningBatch(self, config)
        ids = [self.draft_ids(d) if d else None for d in drafts] if drafts and batch.takes_drafts else None
        batch.add(list(enumerate(prompts)), started=start, drafts=ids)
        rows: dict[int, DecodedRow] = {}
        while len(batch):
            rows.update(batch.step())
        return [rows[i] for i in range(len(prompts))]

    def finish(self, row: DecodedRow) -> Generation:
        """Decode one row into a ``Generation``: answer text only, confidence over the tokens it used."""
        ids, lps, reason = row.ids, row.logprobs, row.reason
        used = len(ids)
        body = ids[:-1] if reason == "stop" and ids and ids[-1] == self.eos_id else ids
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        if reason == "stop" and any(s in text for s in STOP_STRINGS):
            # Count tokens up to the one that completed the marker, like EOS would be counted.
            used = next(
                k
                for k in range(1, len(ids) + 1)
                if any(s in self.tokenizer.decode(ids[:k]) for s in STOP_STRINGS)
            )
        answer = extract_answer(text)
        truncated = reason == "length"
        if truncated:
            answer = trim_to_sentence(answer)
        mean_lp = sum(lps[:used]) / used if used else float("-inf")
        return Generation(
            text=answer,
            confidence=math.exp(mean_lp) if used else 0.0,
            mean_logprob=mean_lp,
            tokens=used,
            latency_s=row.finished_s,
            model_version=self.model_version,
            truncated=truncated,
        )
