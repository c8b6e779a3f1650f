"""Continuous batching: rows that decode together, one token per step, joining and leaving between steps.

A ``RunningBatch`` holds the rows a ``Generator`` is answering right now. ``add`` queues new rows; ``step``
chooses one token for every decoding row, returns the rows that finished with it (EOS, a template stop
marker or their token limit), which leave at once, and runs the remaining rows' tokens and the new rows'
prompts through the model in one forward pass (the weights are read once for both); ``drop`` removes rows
nobody waits for any more. This is iteration-level scheduling (Orca, OSDI 2022; vLLM, TGI): a question
that arrives mid-batch starts at the next step, and a short answer is not held back by a long one. Each
row decodes exactly as it would alone (its positions, padding mask, stop checks, token limit and
repetition controls are its own); ``Generator.generate`` is the same loop with every row added at once.

A row may join with a *draft* of its answer, verified in its join's forward pass (``_verify``). Rows join
a running batch only on the lean GPT-2 decoder (``GPT2Decoder.can_join``); with any other architecture a
batch takes new rows once it is empty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from transformers.generation.logits_process import (
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from training.prompt import DEFAULT_MAX_NEW_TOKENS, STOP_STRINGS
from training.runtime.decoders import GPT2Decoder, HFDecoder


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0  # 0 = greedy (deterministic)
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    repetition_penalty: float = 1.0  # 1 = off; >1 discourages tokens already in prompt or answer
    no_repeat_ngram_size: int = 0  # 0 = off
    num_return_sequences: int = 1
    min_new_tokens: int = 0  # EOS and stop markers are ignored before this many tokens (benchmarks)
    seed: int | None = None  # for sampling; None = torch's global RNG
    drafts: bool = True  # verify answer drafts when given (greedy only; see training.runtime.batching)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


class DecodingModel(Protocol):
    """What a running batch needs of the model it decodes with: a ``Generator``, or a test's stand-in."""

    model: Any
    tokenizer: Any
    fast: bool  # GPT-2 blocks: the lean decoder
    device: Any
    pad_id: int
    eos_id: int | None
    newline_ids: Any
    draft_stats: DraftStats


_STOP_TAIL = 12  # earlier tokens of a row decoded with the new one when looking for a stop marker


class DraftStats:
    """What share of the draft tokens a model said (a moving average); drafts stop when it is low."""

    MIN_SHARE = 0.5  # below: draft only every PROBE_EVERY-th join
    PROBE_EVERY = 16
    EMA = 0.2

    def __init__(self) -> None:
        self.share = 1.0
        self._skipped = 0

    def wanted(self) -> bool:
        if self.share >= self.MIN_SHARE:
            return True
        self._skipped = (self._skipped + 1) % self.PROBE_EVERY
        return self._skipped == 0

    def update(self, said: int, offered: int) -> None:
        if offered:
            self.share = (1 - self.EMA) * self.share + self.EMA * said / offered


@dataclass
class DecodedRow:
    """One finished row of the decoding loop, before it becomes a ``Generation``."""

    ids: list[int]  # generated token ids (including the EOS / stop token)
    logprobs: list[float]  # log-probability of each generated token
    reason: str  # "stop" (EOS or a stop marker) or "length" (its token limit reached)
    finished_s: float  # seconds from the row joining until it finished


@dataclass
class _Row:
    key: Hashable
    prompt: list[int]
    max_new: int
    started: float
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    newline: bool = False  # produced a newline: may be starting a stop marker
    draft: list[int] = field(default_factory=list)  # what it will likely say (checked at its join)


class RunningBatch:
    """The rows one ``Generator`` is decoding, with one ``GenerationConfig``; one caller at a time."""

    def __init__(self, generator: DecodingModel, config: GenerationConfig, *, slots: int = 0) -> None:
        self.generator = generator
        self.config = config
        self.slots = slots  # rows to make room for at once (more still fit: the cache grows)
        model = generator.model
        self._decoder = GPT2Decoder(model) if generator.fast else HFDecoder(model)
        self._rows: list[_Row] = []  # decoding, in the decoder's slot order
        self._joining: list[_Row] = []  # added, prefilled in the next step
        self._logits: torch.Tensor | None = None  # next-token logits of each live row, in row order
        self._rng = None
        if not config.greedy and config.seed is not None:
            self._rng = torch.Generator(device=generator.device).manual_seed(config.seed)
        self._history = config.repetition_penalty != 1.0 or config.no_repeat_ngram_size > 0
        # Verifying a draft compares it with the greedy choice at each position, in one pass.
        self._drafts = (
            config.drafts
            and self._decoder.drafts
            and config.greedy
            and not self._history
            and not config.min_new_tokens
        )

    def __len__(self) -> int:
        return len(self._rows) + len(self._joining)

    @property
    def keys(self) -> list[Hashable]:
        return [r.key for r in (*self._rows, *self._joining)]

    @property
    def takes_drafts(self) -> bool:
        """Whether ``add`` uses drafts (greedy, no repetition controls, the GPT-2 decoder, drafts on)."""
        return self._drafts

    @property
    def can_join(self) -> bool:
        """Whether ``add`` may be called now (always, on the GPT-2 decoder; else only when empty)."""
        return self._decoder.can_join or not len(self)

    def add(
        self,
        prompts: Sequence[tuple[Hashable, list[int]]],
        *,
        max_new_tokens: Sequence[int | None] | None = None,
        started: float | None = None,
        drafts: Sequence[list[int] | None] | None = None,
    ) -> None:
        """Rows ``(key, prompt token ids)`` that join at the next ``step`` (their prompts go through the
        model in that step's forward pass). A row's own ``max_new_tokens`` may be lower than the
        config's (None: the config's); its draft (token ids, None: none) is what it will likely say."""
        if not prompts:
            return
        if not self.can_join:
            raise RuntimeError("this decoder cannot add rows to a running batch")
        limit = self.config.max_new_tokens
        limits = [min(limit, m or limit) for m in (max_new_tokens or [None] * len(prompts))]
        started = time.perf_counter() if started is None else started
        drafts = drafts if self._drafts and drafts is not None else [None] * len(prompts)
        self._joining += [
            _Row(k, p, m, started, draft=list(d or [])[:m])
            for (k, p), m, d in zip(prompts, limits, drafts, strict=True)
        ]

    def _prompts(self, rows: list[_Row]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Left-padded prompt ids (each followed by its draft), their mask and the largest token limit."""
        texts = [r.prompt + r.draft for r in rows]
        width = max(len(t) for t in texts)
        ids = torch.full((len(rows), width), self.generator.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, text in enumerate(texts):
            ids[i, width - len(text) :] = torch.tensor(text)
            mask[i, width - len(text) :] = 1
        dev = self.generator.device
        return ids.to(dev), mask.to(dev), max(r.max_new for r in rows)

    @torch.inference_mode()
    def drop(self, keys: Sequence[Hashable]) -> None:
        """Remove rows whose answer nobody waits for any more (their callers timed out)."""
        gone = set(keys)
        self._joining = [r for r in self._joining if r.key not in gone]
        self._evict([i for i, r in enumerate(self._rows) if r.key in gone])

    @torch.inference_mode()
    def step(self) -> list[tuple[Hashable, DecodedRow]]:
        """One token for every decoding row, and the prompts of the rows that joined through the model
        in the same forward pass; returns the rows that finished, which have left the batch."""
        finished: list[tuple[Hashable, DecodedRow]] = []
        chosen = self._choose_all(finished) if self._rows else None
        joining, self._joining = self._joining, []
        if any(r.draft for r in joining) and not self.generator.draft_stats.wanted():
            for r in joining:
                r.draft = []
        if self._rows or joining:
            join = self._prompts(joining) if joining else None
            tail = 1 + max((len(r.draft) for r in joining), default=0)
            extra = {"tail": tail} if tail > 1 else {}
            self._logits = self._decoder.step(chosen, join, slots=self.slots, **extra)
            self._rows += joining
            if tail > 1:
                self._verify(len(self._rows) - len(joining), tail, finished)
        return finished

    def _verify(self, first: int, tail: int, finished: list[tuple[Hashable, DecodedRow]]) -> None:
        """The rows from ``first`` on just joined, each with the logits of its last ``tail`` positions:
        each keeps the longest start of its draft that greedy decoding chooses, the rest is taken back;
        rows that end within their draft leave at once. A draft is the answer the model was taught for
        the matched question, usually exactly what it says: a memorised answer is so said in one forward
        pass instead of one per token, and a wrong draft costs its tokens' share of one pass and changes
        nothing (speculative decoding's verification, with the known answer as the draft: REST, He et
        al., NAACL 2024)."""
        live, new = self._logits[:first], self._logits[first:].view(len(self._rows) - first, tail, -1)
        choice = new.max(dim=-1).indices.tolist()
        lse = torch.logsumexp(new.float(), dim=-1)
        nexts, leaving, back, counts, offered, said = [], [], [], [], 0, 0
        for i, row in enumerate(self._rows[first:]):
            draft, m, a, reason = row.draft, len(row.draft), 0, None
            at = tail - 1 - m  # the position whose logits choose the first answer token
            if m:
                d = torch.tensor(draft, device=new.device)
                lps = (new[i, at : at + m].float().gather(1, d[:, None])[:, 0] - lse[i, at : at + m]).tolist()
                newline = self._newlines(d)
            while a < m and reason is None and choice[i][at + a] == draft[a]:
                row.ids.append(draft[a])
                row.logprobs.append(lps[a])
                reason = self._ends(row, draft[a], newline[a])
                a += 1
            offered, said, row.draft = offered + m, said + a, []
            nexts.append(new[i, at + a] if reason is None else new[i, at])
            if reason is not None:
                took = time.perf_counter() - row.started
                finished.append((row.key, DecodedRow(row.ids, row.logprobs, reason, took)))
                leaving.append(first + i)
            elif a < m:
                back.append(first + i)
                counts.append(m - a)
        self.generator.draft_stats.update(said, offered)
        self._decoder.rewind(back, counts)
        self._logits = torch.cat([live, torch.stack(nexts)])
        self._evict(leaving)

    def _choose_all(self, finished: list[tuple[Hashable, DecodedRow]]) -> torch.Tensor | None:
        """Choose every decoding row's token; rows that end with it go to ``finished`` and leave. The
        tokens of the rows that stay (None when none does)."""
        gen, config, rows = self.generator, self.config, self._rows
        logits = self._logits.float()
        # A token's log-probability is its logit less the row's log-sum-exp (the whole log_softmax is
        # not needed, only the chosen token's); taken before EOS masking and repetition controls.
        lse = torch.logsumexp(logits, dim=-1)
        young = [i for i, r in enumerate(rows) if len(r.ids) < config.min_new_tokens]
        # Repetition controls rewrite whole rows; EOS masking changes no token it lets be chosen.
        raw = logits.clone() if self._history else logits
        if young:  # EOS is not allowed before min_new_tokens
            logits[young, gen.eos_id] = -math.inf
        chosen = self._choose(logits)
        chosen_l = chosen.tolist()
        lp_l = (raw.gather(1, chosen[:, None])[:, 0] - lse).tolist()
        newline = self._newlines(chosen)
        now = time.perf_counter()
        leaving: list[int] = []
        for i, (row, tok, lp) in enumerate(zip(rows, chosen_l, lp_l, strict=True)):
            row.ids.append(tok)
            row.logprobs.append(lp)
            reason = self._ends(row, tok, newline[i])
            if reason is None:
                continue
            finished.append((row.key, DecodedRow(row.ids, row.logprobs, reason, now - row.started)))
            leaving.append(i)
        self._logits = None  # the next step's come from the decoder
        order = self._evict(leaving)
        if not self._rows:
            return None
        return chosen if not leaving else chosen[torch.tensor(order, device=chosen.device)]

    # -- internals ---------------------------------------------------------------------------------------

    def _ends(self, row: _Row, tok: int, newline: bool) -> str | None:
        """Why ``row`` ends with ``tok``, just appended: "stop" (EOS or a stop marker), "length" (its
        token limit), or None (it goes on)."""
        row.newline = row.newline or newline
        if len(row.ids) > self.config.min_new_tokens and (
            tok == self.generator.eos_id or (row.newline and self._hit_stop(row))
        ):
            return "stop"
        return "length" if len(row.ids) >= row.max_new else None

    def _evict(self, rows: list[int]) -> list[int]:
        if not rows:
            return list(range(len(self._rows)))
        order = self._decoder.evict(rows)
        self._rows = [self._rows[o] for o in order]
        if self._logits is not None:
            self._logits = self._logits[torch.tensor(order, device=self._logits.device)] if order else None
        return order

    def _choose(self, logits: torch.Tensor) -> torch.Tensor:
        """Next token per row: repetition controls, then greedy or temperature/top-k/top-p sampling."""
        config = self.config
        if self._history:  # per row, over its own prompt and answer (never another row's padding)
            for i, row in enumerate(self._rows):
                history = torch.tensor([row.prompt + row.ids], device=logits.device)
                one = logits[i : i + 1]
                if config.repetition_penalty != 1.0:
                    one = RepetitionPenaltyLogitsProcessor(config.repetition_penalty)(history, one)
                if config.no_repeat_ngram_size > 0:
                    one = NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size)(history, one)
                logits[i] = one[0]
        if config.greedy:  # max's indices are argmax's (the first largest), at a third of its cost here
            return logits.max(dim=-1).indices
        logits = logits / config.temperature
        if config.top_k > 0:
            logits = TopKLogitsWarper(config.top_k)(None, logits)
        if config.top_p < 1.0:
            logits = TopPLogitsWarper(config.top_p)(None, logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=self._rng)[:, 0]

    def _newlines(self, chosen: torch.Tensor) -> list[bool]:
        """Rows whose token contains a newline: only those can complete a stop marker ("\\nQuestion:")."""
        nl = self.generator.newline_ids
        if nl is None:
            return [True] * len(chosen)
        return torch.isin(chosen, nl).tolist()

    def _hit_stop(self, row: _Row) -> bool:
        # Markers start with a newline and are a few tokens long, so the row's tail is enough to look at.
        tail = self.generator.tokenizer.decode(row.ids[-(_STOP_TAIL + 1) :])
        return any(s in tail for s in STOP_STRINGS)
