"""What the bot knows: the checkpoint's retrieval index plus what admins taught since it was trained.

Taught pairs and corrections must be answered at once, long before a retrain, and bm25s cannot add
documents to a built index: they live in a second, small *live* index, rebuilt on every change (only
changed records are re-encoded) and weighed with the checkpoint index's term statistics, so that its
scores are on the scale the zones were calibrated on. A search asks both and merges: a live pair replaces
a trained one with the same question (``training.data.comparison_key``, the rule a retrain dedupes the
taught pairs by) and wins a tie. A taught pair is offered ("did you mean") from the live index's own,
lower cut (``live_suggest``). An asker's choice among suggestions is learned as another wording of that
question (``add_wording``), which serves the question's current answer and is dropped while the question
is unknown; 👍/👎 votes nudge a pair's score (``nudge``), and a 👎 takes back the learned wording that
brought the answer (``forget_wording``).

Not thread-safe by itself: the ``Answerer`` calls it from its one torch thread only.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from training.data import comparison_key
from training.retrieval.alterations import Alterations, admin_entries
from training.retrieval.alterations_learning import choice_pair, from_choices
from training.retrieval.embedder import Embedder
from training.retrieval.index import Match, RetrievalIndex
from training.retrieval.lexical import dataset_years
from training.retrieval.vectors import Vectors
from training.retrieval.zones import MAX_SUGGESTIONS, OFF_TOPIC_PASS, OFF_TOPIC_PROBES, suggest_cut

log = logging.getLogger(__name__)


WORDING = "wording"  # the origin of a learned wording in the live index (never served as such)
LIVE_ORIGINS = ("taught", "correction")  # pairs taught since training (``live_suggest`` applies to them)
NEAR_SAMPLE = 200  # the checkpoint's questions asked of the live index to place ``live_suggest``
# 👍/👎 move a pair's score by NUDGE_PER_VOTE per net vote, at most NUDGE_MAX either way: a match
# people keep rejecting stops winning close calls without waiting for a retrain.
NUDGE_PER_VOTE = 0.02
NUDGE_MAX = 0.1


def _encoder_name(index: RetrievalIndex | None) -> str | None:
    return index.embedder.name if index is not None and index.embedder is not None else None


class Knowledge:
    """The trained index (may be None: a plain model folder) and a live index of taught pairs."""

    def __init__(self, base: RetrievalIndex | None) -> None:
        self.base = base
        self.live: RetrievalIndex | None = None
        self._live_pairs: dict[str, dict[str, str]] = {}  # question key -> {"question", "answer", "origin"}
        self._nudges: dict[str, float] = {}
        self._wordings: dict[str, tuple[str, str]] = {}  # wording key -> (wording, the question chosen)
        self._admin_wordings: set[str] = set()  # keys of wordings an admin taught: votes never forget them
        # Who chose each wording ("admin": an admin taught it), and the one word it says a dataset word is
        # typed as (``training.retrieval.alterations_learning.choice_pair``), for alterations people agree on.
        self._wording_users: dict[str, set[str]] = {}
        self._word_pairs: dict[str, tuple[str, str] | None] = {}
        self._chosen: dict[str, dict[str, str]] = {}  # wording key -> its known question's record
        self._known: dict[str, dict[str, str]] | None = None  # base records by question key, when needed
        # Each live record's (question, pair) vectors, by (question, answer): a rebuild encodes only what
        # changed (encoding is the costly part: 6 s for 1,000 records on a small CPU).
        self._encoded: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._stale = False  # the live index is rebuilt lazily, on the thread that searches
        # Where "did you mean" starts for a best match taught since training (None: nothing taught).
        self.live_suggest: float | None = None
        self._probes: np.ndarray | None = None  # OFF_TOPIC_PROBES' vectors, for live_suggest
        # Admins' synonyms (``set_synonyms``) over the checkpoint's alterations: what every search applies.
        self._synonyms: list[dict[str, Any]] = []
        self.alterations = self._alterations()

    @property
    def available(self) -> bool:
        """True when there is anything to retrieve from (else the model answers closed-book)."""
        return self.base is not None or bool(self._live_pairs)

    def __len__(self) -> int:
        return (len(self.base) if self.base is not None else 0) + len(self._live_pairs)

    # -- changes ---------------------------------------------------------------------------------------

    def with_base(self, base: RetrievalIndex | None) -> Knowledge:
        """The same live pairs and nudges over a new checkpoint's index (after a model swap)."""
        other = Knowledge(base)
        other._nudges = dict(self._nudges)
        other._live_pairs = dict(self._live_pairs)
        other._wordings = dict(self._wordings)
        other._admin_wordings = set(self._admin_wordings)
        other._wording_users = {k: set(v) for k, v in self._wording_users.items()}
        other._word_pairs = {k: other._word_pair(*w) for k, w in other._wordings.items()}  # new vocabulary
        other.set_synonyms(self._synonyms)
        if _encoder_name(base) == _encoder_name(self.base):  # the same encoder: its vectors still hold
            other._encoded, other._probes = dict(self._encoded), self._probes
        other._stale = bool(other._live_pairs or other._wordings)
        return other

    def set_synonyms(self, synonyms: Iterable[Mapping[str, Any]]) -> None:
        """Replace the admins' synonyms (``{"word", "means": [...]}``, later ones win; empty ``means``:
        ``word`` has no alterations, not even learned ones), applied from the next search on."""
        self._synonyms = [{"word": s["word"], "means": list(s.get("means") or ())} for s in synonyms]
        self.alterations = self._alterations()
        self._stale = True  # the live index searches with them too

    def _alterations(self) -> Alterations:
        """The checkpoint's alterations, then those people's choices agree on, then the admins'."""
        learned = self.base.alterations if self.base is not None else Alterations()
        pairs = [(p, self._wording_users.get(k, set())) for k, p in self._word_pairs.items() if p is not None]
        chosen = [a for a in from_choices(pairs) if learned.find(a.word) is None]
        if not chosen and not self._synonyms:
            return learned
        return learned.merged(chosen, admin_entries(self._synonyms))

    def _word_pair(self, wording: str, question: str) -> tuple[str, str] | None:
        known = self.base.knows if self.base is not None else (lambda word: False)
        return choice_pair(wording, question, known)

    def set_live(self, pairs: Iterable[dict[str, str]]) -> None:
        """Replace the live pairs (``{"question", "answer", "origin"}``; a later one wins a repeat)."""
        self._live_pairs = {}
        self._stale = True  # even with no pairs: the old live index must go
        for pair in pairs:
            self.add_live(pair["question"], pair["answer"], pair.get("origin", "taught"))

    def add_live(self, question: str, answer: str, origin: str = "taught") -> None:
        """Teach one pair now: it is answered from the next question on."""
        pair = {"question": question, "answer": answer, "origin": origin}
        self._live_pairs[comparison_key(question)] = pair
        self._stale = True

    def set_wordings(self, wordings: Iterable[Mapping[str, Any]]) -> None:
        """Replace the learned wordings (``{"wording", "question"}``, optionally ``"by_admin"`` and
        ``"user_id"``; a later one wins a repeat)."""
        self._wordings, self._admin_wordings = {}, set()
        self._wording_users, self._word_pairs = {}, {}
        self._stale = True
        for item in wordings:
            self._add_wording(
                item["wording"], item["question"], bool(item.get("by_admin")), item.get("user_id")
            )
        self.alterations = self._alterations()

    def add_wording(
        self, wording: str, question: str, *, by_admin: bool = False, user_id: str | int | None = None
    ) -> None:
        """Answer ``wording`` (what someone typed) as known ``question`` (the suggestion they chose, or what
        an admin taught it as: ``by_admin``, which no member's vote takes back). Where ``CHOICE_USERS``
        people's choices (or an admin's) say one word they typed means a word of the dataset, it does
        (``training.retrieval.alterations_learning.from_choices``)."""
        if self._add_wording(wording, question, by_admin, user_id):
            self.alterations = self._alterations()

    def _add_wording(self, wording: str, question: str, by_admin: bool, user_id: str | int | None) -> bool:
        key = comparison_key(wording)
        if not key or key == comparison_key(question):
            return False
        if key not in self._wordings or self._wordings[key][1] != question:
            self._wording_users[key] = set()
            self._word_pairs[key] = self._word_pair(wording, question)
        self._wordings[key] = (wording, question)
        self._wording_users[key].add("admin" if by_admin else str(user_id))
        self._admin_wordings.discard(key)
        if by_admin:
            self._admin_wordings.add(key)
        self._stale = True
        return True

    def forget_wording(self, question: str, known: str) -> str | None:
        """A 👎 on an answer to ``question`` that used known question ``known``: forget the learned wording
        that made ``known`` the match (one mapped to it that scores ``question`` at least as high as
        ``known`` itself does), and return that wording; None when no learned wording was the reason."""
        [base], [live] = self._search([question], MAX_SUGGESTIONS + 2)
        target = comparison_key(known)
        mapped = [
            m for m in live if m.origin == WORDING and comparison_key(self._as_known(m).question) == target
        ]
        if not mapped:
            return None
        direct = [m for m in live if m.origin != WORDING]
        if target not in self._live_pairs:
            direct += base
        if any(comparison_key(m.question) == target and m.score > mapped[0].score for m in direct):
            return None  # the known question matched by itself: the wording was not why
        key = comparison_key(mapped[0].question)
        if key in self._admin_wordings:
            return None  # an admin's decision: members' votes do not undo it
        wording, _ = self._wordings.pop(key)
        self._wording_users.pop(key, None)
        if self._word_pairs.pop(key, None) is not None:
            self.alterations = self._alterations()
        self._stale = True
        return wording

    def nudge(self, question: str, votes: int) -> None:
        """Shift ``question``'s future scores by ``votes`` (+1 per 👍, -1 per 👎), within ±NUDGE_MAX."""
        key = comparison_key(question)
        value = self._nudges.get(key, 0.0) + NUDGE_PER_VOTE * votes
        self._nudges[key] = max(-NUDGE_MAX, min(NUDGE_MAX, value))

    def set_votes(self, totals: Mapping[str, int]) -> None:
        """Replace every nudge with the net votes per known question (the store's ``vote_totals``)."""
        self._nudges = {}
        for question, votes in totals.items():
            self.nudge(question, votes)

    def _as_known(self, match: Match) -> Match:
        """A live match of a learned wording as the known question it stands for (its current answer)."""
        known = self._chosen[comparison_key(match.question)]
        return replace(
            match, question=known["question"], answer=known["answer"], origin=known.get("origin", "trained")
        )

    def _record(self, question: str) -> dict[str, str] | None:
        """The known question's record (a live pair, else the checkpoint's), or None when unknown."""
        key = comparison_key(question)
        if key in self._live_pairs:
            return self._live_pairs[key]
        if self._known is None:
            records = self.base.records if self.base is not None else []
            self._known = {comparison_key(r["question"]): r for r in records}
        return self._known.get(key)

    def _rebuild(self) -> None:
        self._stale = False
        records = list(self._live_pairs.values())
        self._chosen = {}
        for key, (wording, question) in self._wordings.items():
            record = self._record(question)
            if record is not None and key not in self._live_pairs:  # a taught pair for it says more
                self._chosen[key] = record
                records.append({"question": wording, "answer": record["answer"], "origin": WORDING})
        if not records:
            self.live, self._encoded, self.live_suggest = None, {}, None
            return
        embedder = self.base.embedder if self.base is not None else None
        vectors = self._vectors(records, embedder) if embedder is not None else None
        # With the checkpoint's term statistics: a BM25 of its own over twenty questions would give every
        # word about the same idf, and its scores would not be on the scale the zones were calibrated on.
        self.live = RetrievalIndex.build(
            records, embedder, vectors, like=self.base, alterations=self.alterations
        )
        self.live_suggest = self._live_cut()

    def _live_cut(self) -> float:
        """``live_suggest``: the checkpoint's "did you mean" cut sits above the off-topic probes' matches
        among all its questions (other sports' questions reach high there); among the few pairs taught
        since, they reach far lower, and so may a taught pair asked in other words. The same rule over
        the live index alone, and above all but ``OFF_TOPIC_PASS`` of the checkpoint's own questions (on
        the topic, not answered by a taught pair: what people ask that must not be offered one)."""
        assert self.live is not None
        if self._probes is None and self.live.dense:
            self._probes = self.live.encode(OFF_TOPIC_PROBES)
        off = self.live.search_many(OFF_TOPIC_PROBES, 1, vectors=self._probes)
        cut = suggest_cut([m[0].score if m else 0.0 for m in off])
        if self.base is None or not len(self.base):
            return cut
        rows = range(len(self.base))
        if len(rows) > NEAR_SAMPLE:
            rows = sorted(random.Random(0).sample(rows, NEAR_SAMPLE))
        known = [self.base.records[r]["question"] for r in rows]
        vectors = self.base.vectors.questions[list(rows)] if self.base.dense and self.live.dense else None
        near = []
        for question, matches in zip(known, self.live.search_many(known, 3, vectors=vectors), strict=True):
            key = comparison_key(question)
            taught = [m for m in matches if m.origin in LIVE_ORIGINS and comparison_key(m.question) != key]
            near.append(taught[0].score if taught else 0.0)
        return max(cut, float(np.quantile(near, 1 - OFF_TOPIC_PASS, method="higher")) + 0.01)

    def _vectors(self, records: list[dict[str, str]], embedder: Embedder) -> Vectors:
        """The records' vectors, encoding only those not encoded before (and forgetting the rest)."""
        keys = [(r["question"], r["answer"]) for r in records]
        new = [r for r, key in zip(records, keys, strict=True) if key not in self._encoded]
        if new:
            encoded = Vectors.encode(embedder, new)
            for r, question, pair in zip(new, encoded.questions, encoded.pairs, strict=True):
                self._encoded[(r["question"], r["answer"])] = (question, pair)
        self._encoded = {key: self._encoded[key] for key in keys}
        questions, pairs = zip(*(self._encoded[key] for key in keys), strict=True)
        return Vectors(np.stack(questions), np.stack(pairs))

    # -- search ----------------------------------------------------------------------------------------

    def search_many(self, queries: Sequence[str], k: int = MAX_SUGGESTIONS) -> list[list[Match]]:
        """Per query, up to ``k`` matches from both indexes, best first, one per distinct question."""
        if not queries:
            return []
        base, live = self._search(queries, k)
        return [self._merge(b, lv, k) for b, lv in zip(base, live, strict=True)]

    def _search(self, queries: Sequence[str], k: int) -> tuple[list[list[Match]], list[list[Match]]]:
        """Each index's own matches per query (the checkpoint's ``k + 2``, the live one's ``k``)."""
        if self._stale:
            self._rebuild()
        # Years as the dataset writes them ("in 66": 1966; "1998": France '98), by both indexes alike.
        indexes = [i for i in (self.base, self.live) if i is not None]

        def written_short(year: str) -> bool:  # "Italia '90"
            return any(year in i.short_years for i in indexes)

        def in_full(term: str) -> bool:  # in a known question or its answer
            return any(i.has_term(term) for i in indexes)

        def asked_in_full(term: str) -> bool:  # in a known question
            return any(i.knows_term(term) for i in indexes)

        queries = [dataset_years(q, written_short, in_full, asked_in_full) for q in queries]
        # Both indexes use the same encoder (the live one is built with the base's): encode once.
        encoder = self.base if self.base is not None else self.live
        altered = self.alterations
        vectors = encoder.encode_queries(queries, altered) if encoder is not None else None
        none: list[list[Match]] = [[] for _ in queries]
        if self.base is not None:
            base = self.base.search_many(queries, k + 2, vectors=vectors, alterations=altered)
        else:
            base = none
        live = self.live.search_many(queries, k, vectors=vectors) if self.live is not None else none
        return base, live

    def _merge(self, base: list[Match], live: list[Match], k: int) -> list[Match]:
        # The live index weighs words like the checkpoint's: the best answer-words score is over both,
        # and a question's is the best of what stands for it with the answer served (itself, a correction,
        # a learned wording). A replaced answer's words are not served: where they were the checkpoint's
        # best, its best is unknown and the second opinion abstains (``math.inf``).
        top = max((m.answer_words_top for m in [*base, *live]), default=0.0)
        answer_words: dict[str, float] = {}
        best: dict[str, Match] = {}
        for from_base, match in [*((False, m) for m in live), *((True, m) for m in base)]:
            if match.origin == WORDING:  # a learned wording stands for the question it was chosen as
                match = self._as_known(match)
            key = comparison_key(match.question)  # live first: on a tie the newer word stays
            replaced = from_base and key in self._live_pairs
            if replaced and match.answer != self._live_pairs[key]["answer"]:
                if match.answer_words >= match.answer_words_top > 0:
                    top = math.inf
                continue
            answer_words[key] = max(answer_words.get(key, 0.0), match.answer_words)
            if replaced:
                continue  # taught or corrected since training: the live pair speaks for this question
            nudged = self._nudges.get(key)
            if nudged:
                match = replace(match, score=max(0.0, min(1.0, match.score + nudged)))
            if key not in best or match.score > best[key].score:
                best[key] = match
        # Stable sort, live pairs listed first: an equal score puts what was taught ahead.
        merged = sorted(best.values(), key=lambda m: -m.score)[:k]
        return [
            replace(m, answer_words=answer_words[comparison_key(m.question)], answer_words_top=top)
            for m in merged
        ]
