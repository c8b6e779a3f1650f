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
from transformers.generation.logits_process import (
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from training.checkpoint import CheckpointError, load_tokenizer, read_manifest, resolve_model_dir
from training.checkpoint import model_version as folder_version
from training.decoders import GPT2Decoder, HFDecoder, supports_fast_path
from training.prompt import STOP_STRINGS, extract_answer, format_prompt
from training.retrieval import RetrievalIndex
from training.zones import ZoneThresholds

log = logging.getLogger(__name__)

# A sentence ends at . ! ? (optionally followed by a closing quote/bracket) before whitespace or the end.
_STOP_TAIL = 12  # tokens of a row's tail decoded when looking for a stop marker
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy (deterministic)
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    repetition_penalty: float = 1.0  # 1 = off; >1 discourages tokens already in prompt or answer
    no_repeat_ngram_size: int = 0  # 0 = off
    num_return_sequences: int = 1
    min_new_tokens: int = 0  # EOS and stop markers are ignored before this many tokens (benchmarks)
    seed: int | None = None  # for sampling; None = torch's global RNG

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class Generation:
    text: str
    confidence: float  # exp(mean token log-probability) in 0..1
    mean_logprob: float
    tokens: int  # tokens the model generated for this answer (including the EOS/stop token)
    latency_s: float  # from the start of the batch until this answer finished
    model_version: str
    truncated: bool  # cut by max_new_tokens rather than ending on its own


@dataclass
class DecodedRow:
    """One row of the decoding loop, before it becomes a ``Generation``."""

    ids: list[int]  # generated token ids (including the EOS / stop token)
    logprobs: list[float]  # log-probability of each generated token
    reason: str  # "stop" (EOS or a stop marker) or "length" (max_new_tokens reached)
    finished_s: float  # seconds from the start of the batch until the row finished


def trim_to_sentence(text: str) -> str:
    """Drop an unfinished last sentence; keep the text whole when it has no complete sentence."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].strip() if ends else text.strip()


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
        self._newline_ids = torch.tensor(nl, dtype=torch.long, device=self.device) if nl else None

    @property
    def confidence_threshold(self) -> float | None:
        value = self.manifest.get("confidence_threshold")
        return float(value) if value is not None else None

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

        from training.gptq import INT8_FILE, read_int8_weights
        from training.quantize import prepare_model, resolve_precision

        real = resolve_model_dir(model_dir)
        manifest = read_manifest(real, required=False)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        precision = resolve_precision(precision, dev)
        tokenizer = load_tokenizer(real)
        model = AutoModelForCausalLM.from_pretrained(str(real), dtype=torch.float32)
        int8_weights = read_int8_weights(real) if precision == "int8" else None
        try:
            model = prepare_model(model, precision, dev, int8_weights)
        except ValueError as e:  # int8.safetensors does not fit this model
            if int8_weights is None:
                raise
            raise CheckpointError(f"{real / INT8_FILE}: {e}; delete it to round weights at load time") from e
        version = manifest.get("model_version") or folder_version(real)
        index = RetrievalIndex.load(real)
        if index is None:
            log.warning("%s has no retrieval index: the model answers questions as typed", real)
        return cls(
            model, tokenizer, manifest=manifest, model_version=version, precision=precision, index=index
        )

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

    # -- generation ----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, questions: list[str], config: GenerationConfig | None = None) -> list[Generation]:
        """Answer ``questions`` as one batch: ``num_return_sequences`` results per question, in order."""
        config = config or GenerationConfig()
        if not questions:
            return []
        max_new = max(1, min(config.max_new_tokens, self.context - 8))
        if max_new != config.max_new_tokens:
            config = replace(config, max_new_tokens=max_new)
        start = time.perf_counter()
        prompts = [self.encode_question(q, max_new) for q in questions]
        prompts = [p for p in prompts for _ in range(config.num_return_sequences)]
        rows = self._decode(prompts, config, start)
        return [self._finish(row) for row in rows]

    def _decode(self, prompts: list[list[int]], config: GenerationConfig, start: float) -> list[DecodedRow]:
        """The decoding loop: one ``DecodedRow`` per prompt, in order."""
        n, dev = len(prompts), self.device
        width = max(len(p) for p in prompts)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) :] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        history = ids  # prompt + generated so far, for repetition controls
        generator = None
        if not config.greedy and config.seed is not None:
            generator = torch.Generator(device=dev).manual_seed(config.seed)
        decoder = GPT2Decoder(self.model) if self.fast else HFDecoder(self.model)

        out_ids: list[list[int]] = [[] for _ in range(n)]
        out_lps: list[list[float]] = [[] for _ in range(n)]
        result: list[DecodedRow | None] = [None] * n
        active = torch.arange(n, device=dev)  # original row index of each row still in the batch
        nl_rows: set[int] = set()  # rows that produced a newline (may be starting a stop marker)
        logits = decoder.start(ids, mask, config.max_new_tokens)
        for step in range(config.max_new_tokens):
            logits = logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)
            if step < config.min_new_tokens:
                logits[:, self.eos_id] = -math.inf
            chosen = self._choose(logits, history, config, generator)
            chosen_lp = logprobs.gather(1, chosen[:, None])[:, 0]

            done = chosen == self.eos_id
            if step >= config.min_new_tokens:
                done |= self._hit_stop(chosen, active, out_ids, nl_rows)
            now = time.perf_counter() - start
            chosen_l, lp_l, active_l, done_l = (
                chosen.tolist(),
                chosen_lp.tolist(),
                active.tolist(),
                done.tolist(),
            )
            for tok, lp, row, is_done in zip(chosen_l, lp_l, active_l, done_l, strict=True):
                out_ids[row].append(tok)
                out_lps[row].append(lp)
                if is_done:
                    result[row] = DecodedRow(out_ids[row], out_lps[row], "stop", now)
            if step == config.max_new_tokens - 1:
                break
            keep = ~done
            if not bool(keep.any()):
                break
            if not bool(keep.all()):  # drop finished rows so they cost nothing from here on
                idx = keep.nonzero()[:, 0]
                decoder.select(idx)
                active, chosen, history = active[idx], chosen[idx], history[idx]
            if config.repetition_penalty != 1.0 or config.no_repeat_ngram_size > 0:
                history = torch.cat([history, chosen[:, None]], dim=1)
            logits = decoder.step(chosen)
        now = time.perf_counter() - start
        return [
            r if r is not None else DecodedRow(out_ids[i], out_lps[i], "length", now)
            for i, r in enumerate(result)
        ]

    def _choose(
        self,
        logits: torch.Tensor,
        history: torch.Tensor,
        config: GenerationConfig,
        rng: torch.Generator | None,
    ) -> torch.Tensor:
        """Next token per row: repetition controls, then greedy or temperature/top-k/top-p sampling."""
        if config.repetition_penalty != 1.0:
            logits = RepetitionPenaltyLogitsProcessor(config.repetition_penalty)(history, logits)
        if config.no_repeat_ngram_size > 0:
            logits = NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size)(history, logits)
        if config.greedy:
            return logits.argmax(dim=-1)
        logits = logits / config.temperature
        if config.top_k > 0:
            logits = TopKLogitsWarper(config.top_k)(history, logits)
        if config.top_p < 1.0:
            logits = TopPLogitsWarper(config.top_p)(history, logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=rng)[:, 0]

    def _hit_stop(
        self, chosen: torch.Tensor, active: torch.Tensor, out_ids: list[list[int]], nl_rows: set[int]
    ) -> torch.Tensor:
        """Rows whose text (with this step's token) now contains a template stop marker."""
        hit = torch.zeros_like(chosen, dtype=torch.bool)
        is_nl = torch.isin(chosen, self._newline_ids) if self._newline_ids is not None else ~hit
        for j in is_nl.nonzero()[:, 0].tolist():
            nl_rows.add(int(active[j]))
        if not nl_rows:
            return hit
        # Markers start with a newline and are a few tokens long, so the row's tail is enough to look at.
        for j, row in enumerate(active.tolist()):
            if row in nl_rows:
                tail = self.tokenizer.decode(out_ids[row][-_STOP_TAIL:] + [int(chosen[j])])
                hit[j] = any(s in tail for s in STOP_STRINGS)
        return hit

    def _finish(self, row: DecodedRow) -> Generation:
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
