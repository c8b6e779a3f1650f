"""What a batch of questions gets: retrieval, then a zone, then (for answers) the model.

1. Each question is matched against what the bot knows (``bot.answering.knowledge``).
2. ``training.retrieval.zones.decide`` puts it in a zone: *answer* (a strong match, clearly ahead of the
   runner-up), *suggest* ("did you mean" up to three known questions) or *fallback* (not sure); a pair
   taught since training and clearly ahead of the checkpoint's best is offered from its own, lower cut
   (``Knowledge.live_suggest``); one not answered may be read with the previous one (``followups``).
3. A trained question is answered by the model **for the matched known question**, whose answer it
   memorised (the taught answer goes along as the draft the model verifies: ``training.runtime.batching``).
   Below the calibrated confidence threshold, or for a pair the model never learned (taught or corrected
   since training, or held out for evaluation), the pair's stored answer is served.

Without an index (a plain ``save_pretrained`` folder) a question is answered closed-book, as typed.
``route`` does steps 1–2, ``finish`` makes the ``Answer``; ``answer_batch`` is both around one
``Generator.generate``. Runs on the torch thread.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from bot.answering.chatter import chat_reply, not_asked
from bot.answering.followups import follows_on, read_with_context
from bot.answering.knowledge import LIVE_ORIGINS
from training.retrieval.zones import MAX_SUGGESTIONS, NEVER, Decision, ZoneThresholds, decide
from training.secret_shapes import SECRET, holds_secret, mask_secrets

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.answering.followups import Turn
    from bot.answering.knowledge import Knowledge
    from training.retrieval.index import Match
    from training.runtime.generate import Generation, GenerationConfig, Generator

log = logging.getLogger(__name__)

# Far more than any model context here holds; cutting characters first keeps tokenizing cheap, and the
# Generator then keeps the end of what is left if it is still longer than the context.
MAX_QUESTION_CHARS = 4000
_SPACES = re.compile(r"\s+")
ZERO_WIDTH_JOINER = "\u200d"


@dataclass
class Answer:
    text: str  # what the asker is shown (the fallback text when not sure; a plain list for "suggest")
    confidence: float
    unanswered: bool  # the fallback zone: nobody answered this question
    tokens: int
    latency_s: float  # from the request arriving until its answer was ready (queueing included)
    model_version: str
    question: str  # the cleaned question that was asked
    truncated: bool = False
    zone: str = "answer"  # "answer" | "suggest" | "fallback"
    matched_question: str | None = None  # the known question used (or, for "suggest", the best one)
    match_score: float | None = None  # its retrieval score, 0..1
    suggestions: tuple[str, ...] = field(default_factory=tuple)  # "suggest": the known questions offered
    answered_by: str = "model"  # "model" | "index" (the pair's stored answer) | "taught" | "correction" | ""
    followup_of: str | None = None  # the previous question it was read with (``bot.answering.followups``)
    # Unanswered, and no question to teach: "chat" ("thanks!", "?") or "abuse" ("fuck off"); never
    # escalated, and logged with that zone, not as unanswered (``chatter.not_asked``).
    not_asked: str | None = None
    # Said before the answer by the terminal and the CLI (the Discord listener says it for itself, also
    # where a remark gets no reply): a secret pasted into a channel is readable by all (``SECRET_WARNING``).
    warning: str | None = None


SECRET_WARNING = (
    "⚠️ Your message holds what looks like a secret (a token, a key or a password): anyone who can read it "
    "can use it. Delete the message and reset that secret."
)


# Characters that show as nothing but are not whitespace: with format characters (zero-width space and
# joiner, ...) a message of only these is empty, not a question to answer "not sure" and escalate.
_BLANKS = frozenset(" \u2800\u3164\u115f\u1160\uffa0")  # space, braille blank, Hangul fillers


class EmptyQuestion(ValueError):
    """What was asked has no words (front ends answer it with how to ask, not as a failure)."""


def _joins_emoji(chars: list[str], i: int) -> bool:
    """A zero-width joiner between two characters that are not letters or digits (an emoji sequence)."""
    return (
        chars[i] == ZERO_WIDTH_JOINER
        and 0 < i < len(chars) - 1
        and not chars[i - 1].isalnum()
        and not chars[i + 1].isalnum()
        and not chars[i - 1].isspace()
        and not chars[i + 1].isspace()
    )


def clean_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question on one line, without control or zero-width characters (as training cleans its records),
    in NFC; empty -> EmptyQuestion; too long -> keep the end."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, not {type(question).__name__}")
    # Control characters (and lone surrogates) become spaces: a newline inside a question could otherwise
    # fake the template's "\nAnswer:" marker. Format characters go: "ho\u200bw many players" must be the
    # "how many players" the index was built from; only a joiner inside an emoji sequence (👨‍👩‍👧) stays.
    chars = [" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in question]
    kept = (c for i, c in enumerate(chars) if unicodedata.category(c) != "Cf" or _joins_emoji(chars, i))
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", "".join(kept))).strip()
    if all(c in _BLANKS or unicodedata.category(c) == "Cf" for c in text):  # "" too
        raise EmptyQuestion("The question is empty: type a question with some words in it.")
    if len(text) > max_chars:
        log.warning("question of %d characters is too long; keeping its last %d", len(text), max_chars)
        text = text[-max_chars:].lstrip()
    return text


def suggestion_text(
    suggestions: tuple[str, ...] | list[str] = (), *, style: Literal["list", "line", "buttons"] = "list"
) -> str:
    """How "did you mean" reads, wherever it is shown: ``list``, the known questions numbered one a line (a
    suggestion's ``Answer.text``: ``qabot ask``/``chat``, the store); ``line``, numbered on one line (a
    scripted terminal session answers one line per question); ``buttons``, the line above Discord's
    buttons, which name the questions themselves."""
    if style == "buttons":
        return "Did you mean one of these?"
    if style == "line":
        return "Did you mean: " + " | ".join(f"{i}) {q}" for i, q in enumerate(suggestions, 1))
    return "Did you mean:\n" + "\n".join(f"{i}. {q}" for i, q in enumerate(suggestions, 1))


@dataclass
class BatchSettings:
    """What the Answerer decides for every batch (snapshotted per batch, like the generator)."""

    config: GenerationConfig
    zones: ZoneThresholds
    threshold: float | None  # model confidence below which a trained pair's stored answer is served
    fallback: str


@dataclass
class Routed:
    """A question after retrieval: its zone decision, and what the model must answer (None: nothing)."""

    question: str
    decision: Decision | None  # None: no index, the model answers the question as typed (closed book)
    prompt: str | None  # the known question the model answers, or the question itself (closed book)
    draft: str | None = None  # the answer it was trained on for that question (its likely answer)
    followup_of: str | None = None  # the previous question it was read with, when that was better
    secret: bool = False  # it holds a secret (``holds_secret``): the store masks it, the asker is warned


def _without_secrets(question: str) -> str:
    """``question`` with any secret it holds taken out: "my key is sk-proj-… why" searched "sk" (the
    sweeper-keeper's abbreviation) and answered the sweeper-keeper."""
    masked = mask_secrets(question)
    return question if masked == question else " ".join(masked.replace(SECRET, " ").split())


def route(
    knowledge: Knowledge,
    questions: list[str],
    settings: BatchSettings,
    contexts: Sequence[Turn | None] | None = None,
) -> list[Routed]:
    """Retrieval and a zone for each question; which of them the model must answer, and on what.
    ``contexts``: each question's conversation's previous turn (None: none), for follow-ups."""
    if not knowledge.available:
        return [Routed(q, None, q, secret=holds_secret(q)) for q in questions]
    searched = [_without_secrets(q) for q in questions]  # a key's characters are no words asked
    matched = knowledge.search_many(searched)
    cut, zones = knowledge.live_suggest, settings.zones
    live_cut = cut is not None and cut < zones.suggest_score
    contexts = [
        replace(c, question=_without_secrets(c.question)) if c is not None else None
        for c in (contexts or [None] * len(questions))
    ]  # a key in the previous question is no words to search either
    # A follow-up's words stand for its context ("who are their derby rivals"): the second opinion, which
    # reads the words typed, does not answer it alone; read with the context, it may be.
    partial = replace(zones, agree_score=NEVER)
    decisions = []
    for matches, question, context in zip(matched, questions, contexts, strict=True):
        own = partial if context is not None and follows_on(question) else zones
        d = decide(matches, own)
        if d.zone == "fallback" and live_cut and _taught_ahead(matches, zones.answer_margin):
            d = decide(matches, replace(own, suggest_score=cut))  # taught since: offered from its own cut
        decisions.append(d)
    read = read_with_context(knowledge, searched, decisions, contexts, zones)
    out = []
    for q, searched_q, (d, followup_of) in zip(questions, searched, read, strict=True):
        # Only a trained pair is the model's to answer: it answers the matched known question.
        trained = d.zone == "answer" and d.match is not None and d.match.origin == "trained"
        prompt, draft = (d.match.question, d.match.answer) if trained else (None, None)
        out.append(Routed(q, d, prompt, draft, followup_of, secret=searched_q is not q))
    return out


def _taught_ahead(matches: list[Match], margin: float) -> bool:
    """The best match is a pair taught since training, clearly ahead (``margin``) of the best the
    checkpoint knows: else the question is about what the checkpoint covers, and its cut decides."""
    if not matches or matches[0].origin not in LIVE_ORIGINS:
        return False
    known = [m.score for m in matches if m.origin not in LIVE_ORIGINS]
    # Not among the top few: at most the last one's score.
    best_known = known[0] if known else (matches[-1].score if len(matches) >= MAX_SUGGESTIONS else 0.0)
    return matches[0].score - best_known >= margin


def finish(routed: Routed, gen: Generation | None, version: str, settings: BatchSettings) -> Answer:
    """The ``Answer`` for a routed question, given the model's generation when it had to answer."""
    if routed.decision is None:
        assert gen is not None
        answer = _closed_book(routed.question, gen, version, settings)
    else:
        answer = _answer(routed.question, routed.decision, gen, version, settings)
    if holds_secret(answer.text):  # what a model wrote is no cleaned dataset: it never posts a key
        answer = replace(answer, text=mask_secrets(answer.text))
    if answer.unanswered:  # the offensive classifier runs on a few of these only (``chatter.asks``)
        answer = replace(answer, not_asked=not_asked(routed.question))
    if routed.secret:  # what the store masks: no warning for what it keeps
        answer = replace(answer, warning=SECRET_WARNING)
    return replace(answer, followup_of=routed.followup_of) if routed.followup_of else answer


def answer_batch(
    generator: Generator, knowledge: Knowledge, questions: list[str], settings: BatchSettings
) -> list[Answer]:
    """Answers for ``questions`` as one batch (latency_s left 0: the caller knows when each arrived)."""
    routed = route(knowledge, questions, settings)
    # One model batch for every answer the model gives.
    asked = [r for r in routed if r.prompt is not None]
    prompts, drafts = [r.prompt for r in asked], [r.draft for r in asked]
    generated = iter(generator.generate(prompts, settings.config, drafts) if prompts else [])
    version = generator.model_version
    return [finish(r, next(generated) if r.prompt is not None else None, version, settings) for r in routed]


def _answer(
    question: str, d: Decision, gen: Generation | None, version: str, settings: BatchSettings
) -> Answer:
    common = {"question": question, "model_version": version, "zone": d.zone, "latency_s": 0.0}
    if d.match is not None:
        common["match_score"] = round(d.match.score, 4)
        if d.zone != "fallback":  # a far match was not used: votes on "not sure" must not nudge it
            common["matched_question"] = d.match.question
    if d.zone == "suggest":
        offered = tuple(m.question for m in d.suggestions)
        return Answer(
            text=suggestion_text(offered), confidence=d.match.score, unanswered=False, tokens=0,
            suggestions=offered, answered_by="", **common,
        )  # fmt: skip
    if d.zone == "fallback":
        score = d.match.score if d.match else 0.0
        text = chat_reply(question) or settings.fallback  # "thanks!" is not a question it failed
        return Answer(text=text, confidence=score, unanswered=True, tokens=0, answered_by="", **common)
    match = d.match
    if gen is None:  # a pair the model never learned (taught, corrected, held out): served as stored
        by = match.origin if match.origin in ("taught", "correction") else "index"
        return Answer(text=match.answer, confidence=match.score, unanswered=False, tokens=0,
                      answered_by=by, **common)  # fmt: skip
    confident = bool(gen.text) and (settings.threshold is None or gen.confidence >= settings.threshold)
    return Answer(
        text=gen.text if confident else match.answer,
        confidence=gen.confidence,
        unanswered=False,
        tokens=gen.tokens,
        truncated=gen.truncated and confident,
        answered_by="model" if confident else "index",
        **common,
    )


def _closed_book(question: str, gen: Generation, version: str, settings: BatchSettings) -> Answer:
    """No index: the model answered the question as typed; its confidence decides."""
    unanswered = not gen.text or (settings.threshold is not None and gen.confidence < settings.threshold)
    return Answer(
        text=settings.fallback if unanswered else gen.text,
        confidence=gen.confidence,
        unanswered=unanswered,
        tokens=gen.tokens,
        latency_s=0.0,
        model_version=version,
        question=question,
        truncated=gen.truncated,
        zone="fallback" if unanswered else "answer",
        answered_by="" if unanswered else "model",
    )
