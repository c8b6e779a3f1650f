"""Follow-up questions: "and in 2018?", "what about a rabona" read with the conversation's previous question.

A front end keeps a ``ConversationMemory`` (the previous ``Turn`` per conversation key: a thread and user, a
terminal session) and asks ``await memory.ask(answerer, key, text)``. ``read_with_context`` (called by
``answer_path.route``) answers as alone a question answered alone, and one without a follow-up's form
(``follows_on``: opening with "and"/"what about"/... or referring back); otherwise it searches it joined to
the previous one and takes that only when better. A candidate counts only if the question alone supports it
(``SUPPORT``, ``SUPPORT_RANK``), the previous one alone relates to it (``RELATED``), and it is not what was
just answered or offered. When that finds nothing, a short follow-up that names nothing (``elliptical``) is
read from the joined search alone: the known questions the two messages together score at least as high as
either alone (``_elliptical_reading``); joined to an unrelated message a stand-alone question is only
diluted, so its own match never passes. How the numbers were chosen, and what they give: docs/notes.md.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.answering.chatter import asks_nothing
from bot.answering.years import year_reading, year_swapped
from training.retrieval.zones import MAX_SUGGESTIONS, Decision, ZoneThresholds, decide

if TYPE_CHECKING:
    from bot.answering.knowledge import Knowledge
    from training.retrieval.index import Match

# Measured on examples/followups.json's dev part (bench/followups.py; the test part is only reported). On
# examples/followups_confirm.json, written after them: e5 54.5% right, 73.9% right or offered (docs/notes.md).
# With the elliptical reading: 60.2% / 81.8% there; on examples/followups_blind.json, written before it and
# measured once, 70.0% / 85.7%, 4.3% wrong, 24 of 25 stand-alone questions unchanged (docs/notes.md).
# Read only with a follow-up's form (s4fu): 56.8% / 85.2% / 3.4% there, 20 of 20; on the blind set, then
# seen before, 67.1% / 84.3% / 4.3%, 25 of 25.
SUPPORT = 0.2  # the question alone must score a candidate at least this (chatter scores ~0.1-0.17)
SUPPORT_RANK = 4  # ... and rank it among its own best few (a question that stands alone has its own topic)
RELATED = 0.15  # ... and the previous question alone too (or joining them does not dilute it: see _better)
CLEARLY_HIGHER = 0.05  # "did you mean" with context replaces "did you mean" alone when this much higher
# It answers one the question alone does not prefer (of the candidates it keeps) only this much above the
# previous message alone, else offers them, the question's favourite first: the lead is the previous one's.
# "and a red?" after "What does a yellow card signify?": the idea of yellow and red cards, +0.058, over the
# straight red the question alone prefers; the two it so answers rightly on the dev sets gained 0.12, 0.14.
DISAGREE_GAIN = 0.1
SEARCH_K = 100  # candidates per search (the previous question relates to ones past its first 20)
MAX_CONTEXT_CHARS = 300  # a chain of follow-ups keeps its newest words
DEFAULT_TTL_S = 600.0  # a conversation's previous question is forgotten after 10 quiet minutes
DEFAULT_MAX_CONVERSATIONS = 10_000  # the least recently active go first
_RANK = {"fallback": 0, "suggest": 1, "answer": 2}
# The elliptical reading answers only a question it scores this much above the previous message alone:
# joined to an unrelated message, a stand-alone question can lift the previous one's runner-up by a hair
# (+0.06: "how did england win it in 66" answered with the VAR's purpose); the follow-ups it answers rightly
# gain 0.16 and more (examples/followups.json and followups_confirm.json). Less: "did you mean" at most.
ELLIPSIS_ANSWER_GAIN = 0.1
# The form of a follow-up: opening like one or referring back to something (and short, if it names nothing).
ELLIPSIS_MAX_WORDS = 8
_LEADS = re.compile(r"^\s*(?:and|what about|how about|what of|or|but|also|same for|then|y|e|et)\b", re.I)
_REFERS = re.compile(
    r"\b(?:it|its|that|those|they|them|their|he|him|his|she|her|there|one|else|same)\b", re.I
)


@dataclass(frozen=True)
class Turn:
    """A conversation's previous question: the text it was read as, and the known question it was
    answered with (answer zone; None: not answered, or not known to the caller)."""

    question: str
    matched: str | None = None


class Answered(Protocol):
    """What ``turn_of`` reads from an ``answer_path.Answer``."""

    question: str
    zone: str
    matched_question: str | None
    match_score: float | None
    followup_of: str | None


AnswerT = TypeVar("AnswerT", bound=Answered, covariant=True)


class Asks(Protocol[AnswerT]):
    """What ``ConversationMemory.ask`` calls: ``bot.answering.answerer.Answerer``."""

    async def answer(self, question: str, *, context: Turn | None = None) -> AnswerT: ...


def read_as(answer: Answered) -> str:
    """What the question was read as: with its context when it was a follow-up (as it is logged). A
    follow-up's "did you mean" choice teaches no wording: neither its words alone nor these."""
    return f"{answer.followup_of} {answer.question}" if answer.followup_of else answer.question


def turn_of(answer: Answered) -> Turn:
    """The ``Turn`` an answer leaves: read with its context when it was a follow-up."""
    text = read_as(answer)
    matched = answer.matched_question if answer.zone == "answer" else None
    return Turn(text[-MAX_CONTEXT_CHARS:].lstrip(), matched)


class ConversationMemory:
    """The previous ``Turn`` of each conversation (any hashable key), forgotten after ``ttl_s`` seconds
    of quiet; at most ``max_conversations`` (the least recently active go first). Event-loop only."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.max_conversations, self.clock = ttl_s, max_conversations, clock
        self._turns: OrderedDict[Hashable, tuple[float, Turn]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._turns)

    def previous(self, key: Hashable) -> Turn | None:
        """The conversation's previous turn, or None (none yet, or expired)."""
        found = self._turns.get(key)
        if found is None:
            return None
        if self.clock() - found[0] > self.ttl_s:
            del self._turns[key]
            return None
        return found[1]

    def record(self, key: Hashable, answer: Answered) -> Turn:
        """Remember ``answer`` (``answer_path.Answer``) as the conversation's previous turn; chatter
        ("thanks!", "lol": not sure, and close to no known question or asking nothing) keeps the turn
        before it."""
        previous = self.previous(key)
        # e5 scores "lol" 0.26, "ok but why" 0.21 to their nearest question: words decide too.
        chatter = (
            answer.zone == "fallback"
            and not answer.followup_of
            and ((answer.match_score or 0.0) < SUPPORT or asks_nothing(answer.question))
        )
        turn = previous if chatter and previous is not None else turn_of(answer)
        self._turns[key] = (self.clock(), turn)
        self._turns.move_to_end(key)
        while len(self._turns) > self.max_conversations:
            self._turns.popitem(last=False)
        return turn

    def forget(self, key: Hashable) -> None:
        self._turns.pop(key, None)

    async def ask(self, answerer: Asks[AnswerT], key: Hashable, question: str, **options: Any) -> AnswerT:
        """``answerer.answer(question, context=..., **options)`` in conversation ``key``, remembered for the
        next question (not when it raises: an empty question, a busy answerer, a timeout)."""
        answer = await answerer.answer(question, context=self.previous(key), **options)
        self.record(key, answer)
        return answer


def read_with_context(
    knowledge: Knowledge,
    questions: Sequence[str],
    decisions: list[Decision],
    contexts: Sequence[Turn | None],
    zones: ZoneThresholds,
) -> list[tuple[Decision, str | None]]:
    """Each question's decision, read with its ``contexts`` turn where that is better; with the context's
    text when it was used (else None). One search for all that need it; on the torch thread."""
    todo = [
        i
        for i, (d, c) in enumerate(zip(decisions, contexts, strict=True))
        if c and d.zone != "answer" and follows_on(questions[i])
    ]
    out: list[tuple[Decision, str | None]] = [(d, None) for d in decisions]
    if not todo:
        return out
    # Per question: itself (scores for SUPPORT), joined to the previous text, and to the known question
    # the previous one was answered with; a turn without ``matched`` is matched here.
    queries: list[str] = []
    swaps: dict[int, str] = {}
    for i in todo:
        turn = contexts[i]
        assert turn is not None
        before = _encodable(turn.question[-MAX_CONTEXT_CHARS:])  # a caller's own Turn may be long, or odd
        queries += [questions[i], f"{before} {questions[i]}", before]
        queries += [f"{_encodable(turn.matched)} {questions[i]}"] if turn.matched else []
        if (swapped := year_swapped(questions[i], before)) is not None:
            swaps[i] = swapped
            queries.append(swapped)
    found = iter(knowledge.search_many(queries, SEARCH_K))
    for i in todo:
        turn = contexts[i]
        assert turn is not None
        alone, joined, previous = next(found), next(found), next(found)
        answered = turn.matched
        if answered is None:  # not answered, or the caller did not say: what it alone is answered or offered
            before = decide(previous[:MAX_SUGGESTIONS], zones)
            answered = before.match.question if before.zone != "fallback" and before.match else None
        candidates = [joined, next(found)] if turn.matched else [joined]
        better = _better(decisions[i], alone, previous, candidates, answered, zones)
        if better is None and elliptical(questions[i]):
            better = _elliptical_reading(decisions[i], alone, previous, candidates, answered, zones)
        if better is not None and better.zone == "suggest":
            better = _with_own_best(better, alone, previous, candidates, answered)
        if i in swaps:  # the previous question asked for another year reads best as typed
            read = year_reading(next(found), answered, zones, better or decisions[i])
            better = better if read is decisions[i] else read  # unchanged: not read with the context
        if better is not None:
            out[i] = (better, turn.question[-MAX_CONTEXT_CHARS:])
    return out


def _better(
    own: Decision,
    alone: list[Match],
    previous: list[Match],
    candidates: list[list[Match]],
    answered: str | None,
    zones: ZoneThresholds,
) -> Decision | None:
    """The best decision over ``candidates`` (the joined searches), if better than ``own``: of the known
    questions that the question alone supports and the context relates to: the previous question alone, or
    joining the two does not dilute the question's own score for it (e5 scores siblings low: "Which nation
    became champion at Brazil 2014?" scores Russia 2018 0.124, "when do u get a corner" a goal kick 0.139;
    joined to an unrelated message, a question's own matches score lower)."""
    support = {m.question: m.score for m in alone[:SUPPORT_RANK]}
    related = {m.question: m.score for m in previous}
    floor = previous[-1].score if previous else 0.0  # past the previous one's last: at most its score
    offer_only = zones.offer_only()

    def read(matches: list[Match]) -> Decision:
        kept = [
            m
            for m in matches
            if m.question != answered
            and support.get(m.question, 0.0) >= SUPPORT
            and _relates(related.get(m.question, 0.0), m.score, support[m.question])
        ]
        d = decide(kept[:MAX_SUGGESTIONS], zones)
        # Only the margin was short: the question alone preferring it to the runner-up settles it.
        short = d.zone == "suggest" and d.match is not None and d.match.score >= zones.answer_score
        if short and (len(kept) < 2 or support[kept[0].question] >= support[kept[1].question]):
            d = Decision("answer", d.match)
        if d.zone == "answer" and d.match is not None:
            preferred = sorted(kept[:MAX_SUGGESTIONS], key=lambda m: support[m.question], reverse=True)
            gain = d.match.score - related.get(d.match.question, floor)
            if preferred[0].question != d.match.question and gain < DISAGREE_GAIN:
                d = decide(preferred, offer_only)
        return d

    best = _best(read(matches) for matches in candidates)
    if best is None or best.match is None:
        return None
    if _RANK[best.zone] > _RANK[own.zone]:
        return best
    if best.zone == own.zone == "suggest" and _score(best) >= _score(own) + CLEARLY_HIGHER:
        return best
    return None


def _relates(previous: float, joined: float, alone: float) -> bool:
    """Whether the context relates to a known question: the previous message alone scores it ``RELATED``,
    or the joined reading scores it no lower than the question alone (joining did not dilute it)."""
    return previous >= RELATED or joined >= alone


def follows_on(question: str) -> bool:
    """Whether ``question`` has the form of a follow-up: opening with "and", "what about", ... or referring
    back ("it", "their", "the women's one"). Only such a message is read with its context: a question of its
    own ("who won the world cup 2022" after "what about the women's one") is answered as alone, and so is
    a bare number or punctuation ("2", "?!": in the terminal a number picks a "did you mean" option)."""
    return bool(_LEADS.search(question) or _REFERS.search(question))


def elliptical(question: str) -> bool:
    """Whether ``question`` has the form of a follow-up that need name nothing: ``follows_on``, in at most
    ``ELLIPSIS_MAX_WORDS`` words. Form alone changes nothing: ``_elliptical_reading`` still asks the joined
    search."""
    return 0 < len(re.findall(r"\w+", question)) <= ELLIPSIS_MAX_WORDS and follows_on(question)


def _elliptical_reading(
    own: Decision,
    alone: list[Match],
    previous: list[Match],
    candidates: list[list[Match]],
    answered: str | None,
    zones: ZoneThresholds,
) -> Decision | None:
    """The best decision over ``candidates`` (the joined searches), if better than ``own``: the zones over the
    known questions, other than ``answered``, that the joined reading scores at least as high as the question
    alone and as the previous one alone (a question past either search's last scores at most its last): what
    the two messages mean together. Neither the previous question's own match (the joined text is diluted
    from it) nor, after an unrelated message, a stand-alone question's own (diluted from that) passes."""
    floor_alone = alone[-1].score if alone else 0.0
    floor_previous = previous[-1].score if previous else 0.0
    by_alone = {m.question: m.score for m in alone}
    by_previous = {m.question: m.score for m in previous}

    def read(matches: list[Match]) -> Decision:
        kept = [
            m
            for m in matches
            if m.question != answered
            and m.score >= by_alone.get(m.question, floor_alone)
            and m.score >= by_previous.get(m.question, floor_previous)
        ]
        d = decide(kept[:MAX_SUGGESTIONS], zones)
        if d.zone == "answer" and d.match is not None:
            gain = d.match.score - by_previous.get(d.match.question, floor_previous)
            if gain < ELLIPSIS_ANSWER_GAIN:  # barely above the previous message alone: offered, not answered
                d = decide(kept[:MAX_SUGGESTIONS], zones.offer_only())
        return d

    best = _best(read(matches) for matches in candidates)
    if best is None or best.match is None or _RANK[best.zone] <= _RANK[own.zone]:
        return None
    return best


def _with_own_best(
    offer: Decision,
    alone: list[Match],
    previous: list[Match],
    candidates: list[list[Match]],
    answered: str | None,
) -> Decision:
    """``offer`` (a "did you mean" read with the context) offering also the question alone's best, when it
    supports it (``SUPPORT``) and the context relates to it (as in ``_better``), though the joined reading
    scores it under the cut: after the exact "Which nation became champion at Brazil 2014?", "and in 2018?"
    joined ranks the women's 2023 title and the Jules Rimet trophy above Russia 2018, its own first."""
    own = alone[0] if alone else None
    if (
        own is None
        or own.score < SUPPORT
        or own.question in {answered, *(m.question for m in offer.suggestions)}
    ):
        return offer
    before = next((m.score for m in previous if m.question == own.question), 0.0)
    joined = max((m.score for ms in candidates for m in ms if m.question == own.question), default=-1.0)
    related = _relates(before, joined, own.score)
    return replace(offer, suggestions=(*offer.suggestions[: MAX_SUGGESTIONS - 1], own)) if related else offer


def _encodable(text: str) -> str:
    """``text`` without lone surrogates (a raw line read with surrogateescape): the encoder's tokenizer
    refuses them, which would fail every question in the batch."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _score(d: Decision) -> float:
    return d.match.score if d.match is not None else 0.0


def _best(decisions: Iterable[Decision]) -> Decision | None:
    """The decision of the best zone, then score (the first of equals), or None."""
    return max(decisions, key=lambda d: (_RANK[d.zone], _score(d)), default=None)
