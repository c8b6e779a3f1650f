"""When two similar questions still ask about different facts, so neither may be dropped as a near-duplicate.

Character similarity cannot tell "How many goals did Pele score at the 1958 World Cup?" from the 1970 one
(96% alike), nor "Stadium 12" from "Stadium 13", nor one product of a templated catalogue from the next.
A near-duplicate is the same question typed differently, so two questions differ in fact when they differ
in a ``number`` (their digits, in order, or a code holding them; number words count too); a ``name`` (a
capitalised word, not opening a sentence, that the other lacks in any case: Tim / Tom; a question in all
capitals or all lower case names nothing); or a ``word``: function words may come and go, but every other
changed word must keep half its letters ("stel" / "steel"; not "red" / "blue"), must not be traded for its
opposite ("to" / "from", "inside" / "outside": ``OPPOSED``) nor for another word of the dataset's own
vocabulary ("mug" / "rug" in a catalogue: a typo does not recur that often), and a negation gained or lost
("can" / "can't") is another question. The answers, which must be as alike, count as well ("Yes, ..." /
"No, ..."): spelling alone cannot tell two rare words a letter apart ("height" / "weight"); answers can.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

NUMBER = "number"
NAME = "name"
WORD = "word"
DIFFERENCES = (NUMBER, NAME, WORD)

# Words whose change rarely changes what is asked: articles, forms of "be"/"do"/"have", modal verbs,
# the prepositions people swap ("at"/"in" the World Cup), contraction tails and courtesy. Question words,
# negations and contrast words (before/after, more/less) are deliberately absent: they change the fact.
# A preposition here may come or go, but not be traded for its opposite ("to" / "from": OPPOSED).
_FUNCTION_WORDS = """
    a an the is are was were be been being am do does did done has have had having can could will would
    shall should may might must of in on at to for from by with about into onto and or as it its this that
    these those there s t d ll m re ve please thanks thank hi hello hey so just
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
# Share of a changed word's letters a slip keeps (rapidfuzz's Indel similarity word for word, or letters
# kept when a stretch is aligned): "ovieve" for "ovnee" (two slips) 0.73, "steal" / "steel" 0.8; other
# words keep less: "red" / "blue" 0.29, "corner" / "goal" 0.2. At 0.5, bench/data_pipeline.py's planted
# copies lose 13 of 10,000 to it (two slips in a word of 2-3 letters: "why" / "wls"); at 0.67, 580.
SLIP_SIMILARITY = 0.5
# A slip is a one-off: a word in this share of the questions (and at least COMMON_MIN of them) belongs to
# the dataset's vocabulary, so trading it for another such word is a swap. A template's slot words recur
# in far more (each of 20 colours in 1 of 40 products), a typo practically never.
COMMON_SHARE = 0.001
COMMON_MIN = 5
TYPO_SHARE = 0.1  # a misspelling repeated through a file is still far rarer than the word it misspells
MISTYPED = 0.75  # a rare word this like a common one may be it mistyped (one slip in 4+ letters)
# ... and is plainly it (one slip in 10+ letters: "ilver" is "silver", not the "olive" it replaced;
# "wha" may be "who" as well as "what").
PLAINLY_MISTYPED = 0.9
RUN_IN_LETTERS = 4  # a common word this long found inside a rare one was run into it ("how" is too short)
# Opposites: two words that are these two words, or these two prefixes of one stem of OPPOSED_STEM letters
# or more ("in" / "out" + "side", "" / "wo" + "men", "" / "in" + "direct"), mean opposite things, however
# many letters they share. Direction and polarity words, and the prefixes that turn a word around.
_OPPOSED = """
    to/from in/out on/off up/down over/under above/below before/after pre/post more/less most/least
    max/min with/without yes/no and/or /un /in /im /il /ir /dis /non /wo
"""
OPPOSED = frozenset(frozenset(pair.split("/")) for pair in _OPPOSED.split())
OPPOSED_STEM = 3
# Words that turn a statement around: the number of them is part of the fact ("Can a keeper..." / "Can't
# a keeper..."). Also "n't" ("can t" in a comparison key: a "t" after a word ending in "n") and its
# forms typed without the apostrophe (an auxiliary + "nt": "dont", "isnt", "cant").
_NEGATIONS = "no not never cannot nor none nothing nobody neither nowhere"
NEGATIONS = frozenset(_NEGATIONS.split())
_NT_AUXILIARIES = "is are was were do does did has have had could would should must might ca wo ai"
NT_AUXILIARIES = frozenset(_NT_AUXILIARIES.split())
ANSWER_YES_NO = frozenset(("yes", "no"))  # an answer opening with one of these answers a yes/no question
# Number words: a fact like digits ("five" / "eleven" players).
_NUMBER_WORDS = """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
    million billion dozen first second third fourth fifth sixth seventh eighth ninth tenth
"""
NUMBER_WORDS = frozenset(_NUMBER_WORDS.split())
NUMBER_RUN = re.compile(r"\d+")
# A word, and whether a sentence starts before it (the start of the text, or after . ! ? :).
_WORD = re.compile(r"(?P<start>^\W*|[.!?:]\W*)?(?P<word>\w+)")


@dataclass(frozen=True, slots=True)
class AnswerFacts:
    numbers: tuple[str, ...] = ()  # number words, in order (its digits block: dedupe never compares others)
    yes_no: str = ""  # "yes" or "no" when it opens with one
    negations: int = 0  # NEGATIONS after the opening


@dataclass(frozen=True, slots=True)
class QuestionFacts:
    numbers: tuple[str, ...]  # digit runs, in order
    names: frozenset[str]  # folded capitalised words not opening a sentence
    folded: frozenset[str]  # every word, folded: what a name of the other question is looked up in
    words: tuple[str, ...]  # the comparison key's words, in order
    number_words: tuple[str, ...] = ()  # NUMBER_WORDS, in order
    negations: int = 0
    answer: AnswerFacts = AnswerFacts()  # its answer's, when given


def fold(word: str) -> str:
    """``word`` casefolded and without accents: "Pelé" and "PELE" fold alike."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def numbers_of(key: str) -> tuple[str, ...]:
    return tuple(NUMBER_RUN.findall(key))


def question_facts(question: str, key: str, answer_key: str | None = None) -> QuestionFacts:
    """The facts of ``question`` (its normalized text, for case) and ``key`` (its comparison key), and of
    its answer (``answer_key``, its comparison key) if given."""
    text = unicodedata.normalize("NFKC", question)
    found = [(m["start"] is not None, m["word"]) for m in _WORD.finditer(text)]
    # Capitals mark names only in a question that also has words in lower case (not "WHO WON IN 1970").
    has_case = any(w[0].islower() for _, w in found)
    names = frozenset(fold(w) for opens, w in found if has_case and not opens and w[0].isupper())
    folded = frozenset(fold(w) for _, w in found)
    words = tuple(key.split())
    answer = AnswerFacts()
    if answer_key is not None:
        said = answer_key.split()
        yes_no = said[0] if said and said[0] in ANSWER_YES_NO else ""
        answer = AnswerFacts(_number_words(said), yes_no, _negations(said[1:] if yes_no else said))
    return QuestionFacts(
        numbers_of(key), names, folded, words, _number_words(words), _negations(words), answer
    )


def _number_words(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(w for w in words if w in NUMBER_WORDS)


def _negations(words: Sequence[str]) -> int:
    """How many words of a comparison key negate: NEGATIONS, "n't" ("can t") and "dont"."""
    return sum(
        w in NEGATIONS
        or (w == "t" and k > 0 and words[k - 1].endswith("n"))
        or (w.endswith("nt") and w[:-2] in NT_AUXILIARIES)
        for k, w in enumerate(words)
    )


def opposed(a: str, b: str) -> bool:
    """Whether words ``a`` and ``b`` are opposites (OPPOSED): "to" / "from", "inside" / "outside",
    "men" / "women", "minimum" / "maximum"; letters they share are no sign of a slip."""
    common = 0  # letters the two end with alike: the longest stem they may share
    while common < min(len(a), len(b)) and a[-1 - common] == b[-1 - common]:
        common += 1
    return any(
        frozenset((a[: len(a) - k], b[: len(b) - k])) in OPPOSED
        for k in range(common, -1, -1)
        if k == 0 or k >= OPPOSED_STEM
    )


def inflected(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one word, singular and plural ("team" / "teams", "match" / "matches",
    "party" / "parties"): an inflection, not another thing."""
    short, long = sorted((a, b), key=len)
    return long in (short + "s", short + "es") or (short.endswith("y") and long == short[:-1] + "ies")


def _changed_spans(a: tuple[str, ...], b: tuple[str, ...]) -> list[tuple[list[str], list[str]]]:
    """The stretches where word sequence ``a`` and ``b`` differ, aligned: (words of a, words of b)."""
    from rapidfuzz.distance import Levenshtein

    spans: list[tuple[list[str], list[str]]] = []
    last_end = -1
    for op in Levenshtein.opcodes(a, b):
        if op.tag == "equal":
            continue
        if op.src_start == last_end and spans:  # touches the previous change: one stretch
            spans[-1][0].extend(a[op.src_start : op.src_end])
            spans[-1][1].extend(b[op.dest_start : op.dest_end])
        else:
            spans.append((list(a[op.src_start : op.src_end]), list(b[op.dest_start : op.dest_end])))
        last_end = op.src_end
    return spans


class Vocabulary:
    """The dataset's own words: those in COMMON_SHARE of its questions (at least COMMON_MIN). A typo is a
    one-off, so two such words are never each other's typo, and a rare word is read as the common word
    it is nearest to."""

    def __init__(self, keys: Sequence[str]) -> None:
        seen = Counter(w for key in keys for w in set(key.split()))
        least = max(COMMON_MIN, COMMON_SHARE * len(keys))
        self.counts = {w: n for w, n in seen.items() if n >= least}  # questions holding each
        self.words = frozenset(self.counts)
        self._choices = sorted(self.words - FUNCTION_WORDS)
        self._nearest: dict[str, tuple[str, float] | None] = {}
        self._held: dict[str, list[str]] = {}

    def nearest(self, word: str) -> tuple[str, float] | None:
        """The common word ``word`` may be mistyped from (MISTYPED alike), and how alike, if any."""
        from rapidfuzz.distance import Indel
        from rapidfuzz.process import extractOne

        if word not in self._nearest:
            found = extractOne(word, self._choices, scorer=Indel.normalized_similarity, score_cutoff=MISTYPED)
            self._nearest[word] = found[:2] if found else None
        return self._nearest[word]

    def swapped(self, words: list[str], other: list[str]) -> bool:
        """Whether a common word of ``words`` was traded for another word of the vocabulary: ``other``
        holds another common word ("mug" / "rug"), a rare word that plainly is one ("olive" / "ilver", which
        is "silver"), or one run into a word of ``words`` ("grey nylon" / "orangenylon"; not "where" /
        "whenre"); a common word that a rare word of ``words`` may be mistyped from is no trade ("howj" /
        "how", "any" / "howmany")."""
        if not any(w in self.words and w not in other for w in words):
            return False
        rare = [w for w in words if w not in self.words]
        for word in other:
            if word in words or word in FUNCTION_WORDS or any(inflected(word, w) for w in words):
                continue
            if word in self.words:
                # Unless a rare word here is it mistyped, or one is the other misspelt many times
                if not (
                    _slip_of_any(word, rare) or any(self._variants(word, w) for w in words if w in self.words)
                ):
                    return True
                continue
            near = self.nearest(word)
            if near and near[1] >= PLAINLY_MISTYPED and near[0] not in words:
                return True
            held = [w for w in self._held_in(word) if w not in words and not _slip_of_any(w, rare)]
            if any(_run_into(common, word, words) for common in held):
                return True
        return False

    def _variants(self, a: str, b: str) -> bool:
        """Whether common words ``a`` and ``b`` are one word and a misspelling repeated through the file
        ("capacty" for "capacity"): alike as a slip, and one under TYPO_SHARE as frequent as the other."""
        counts = sorted((self.counts[a], self.counts[b]))
        return counts[0] < TYPO_SHARE * counts[1] and _similarity(a, b) >= SLIP_SIMILARITY

    def _held_in(self, word: str) -> list[str]:
        """The common words (of RUN_IN_LETTERS or more) that ``word`` holds: "orangenylon" holds both."""
        if word not in self._held:
            self._held[word] = [w for w in self._choices if len(w) >= RUN_IN_LETTERS and w in word]
        return self._held[word]


NO_VOCABULARY = Vocabulary(())


def fact_difference(
    a: QuestionFacts, b: QuestionFacts, vocabulary: Vocabulary = NO_VOCABULARY, spelling: bool = True
) -> str | None:
    """How two questions differ in fact (``number``, ``name`` or ``word``), or None if they may be one.
    ``spelling=False`` skips the spelling test of changed rare words, leaving only the plain differences:
    numbers, names, and the dataset's common words."""
    if a.numbers != b.numbers or a.number_words != b.number_words or a.answer.numbers != b.answer.numbers:
        return NUMBER
    if not (_names_kept(a, b, vocabulary) and _names_kept(b, a, vocabulary)):
        return NAME
    if a.negations != b.negations or a.answer.negations != b.answer.negations:
        return WORD  # "can" / "can't"
    if {a.answer.yes_no, b.answer.yes_no} == ANSWER_YES_NO:
        return WORD  # "Yes, ..." / "No, ...": the questions ask opposite things
    for gone, added in _changed_spans(a.words, b.words):
        if any(c.isdigit() for w in (*gone, *added) for c in w):
            return NUMBER  # the same digits in another code: "x100a" / "x100b"
        if any(opposed(g, w) for g in gone for w in added):
            return WORD  # "to" / "from", "inside" / "outside": however alike, never a slip
        # Function words may come and go; a common word may not be traded for another.
        content_gone = [w for w in gone if w not in FUNCTION_WORDS]
        content_added = [w for w in added if w not in FUNCTION_WORDS]
        if not content_gone and not content_added:
            continue
        if vocabulary.swapped(content_gone, added) or vocabulary.swapped(content_added, gone):
            return WORD
        if spelling and not (_word_for_word(gone, added) or _letters_kept(gone, added)):
            return WORD
    return None


def _names_kept(a: QuestionFacts, b: QuestionFacts, vocabulary: Vocabulary) -> bool:
    """Whether every name of ``a`` is in ``b``: as written, or misspelt once on either side ("Polkar" and a
    catalogue's "Polar"), or run into a neighbour ("doestheqPioneer"). Only the dataset's common words
    count as misspelt, so in a small file Tim / Tom stay apart."""
    missing = a.names - b.folded
    rare = [w for w in b.folded if w not in vocabulary.words]
    for name in missing:
        if any(name in r or (vocabulary.nearest(r) or ("",))[0] == name for r in rare):
            continue
        if any(inflected(name, w) for w in b.folded):
            continue  # "Sundays" / "Sunday"
        if name not in vocabulary.words and any(w in name for w in b.folded & vocabulary.words):
            continue  # "Maplebellow" holds "maple"
        near = name not in vocabulary.words and vocabulary.nearest(name)
        if not (near and near[0] in b.folded):
            return False
    return True


def _run_into(common: str, word: str, words: list[str]) -> bool:
    """Whether ``word`` is ``common`` run into one of ``words``: "orangenylon" with "nylon"."""
    return (word.startswith(common) and word[len(common) :] in words) or (
        word.endswith(common) and word[: -len(common)] in words
    )


def _slip_of_any(word: str, words: list[str]) -> bool:
    return any(_similarity(word, w) >= SLIP_SIMILARITY for w in words)


def _similarity(a: str, b: str) -> float:
    from rapidfuzz.distance import Indel

    return Indel.normalized_similarity(a, b)


def _word_for_word(gone: list[str], added: list[str]) -> bool:
    """Whether a stretch that keeps its word count changes each word by slips only ("wrsbn ohb" / "wrsbo
    olb"): SLIP_SIMILARITY alike word for word, function words aside."""
    if len(gone) != len(added):
        return False
    pairs = zip(gone, added, strict=True)
    return all(_similarity(g, a) >= SLIP_SIMILARITY for g, a in pairs if not {g, a} <= FUNCTION_WORDS)


def _letters_kept(gone: list[str], added: list[str]) -> bool:
    """Whether each changed word, function words aside, keeps SLIP_SIMILARITY of its letters when the two
    stretches are run together and aligned: a typist's slips ("teams have" / "teamshave", "teh" / "the",
    "xtmsnioi ypneiu" / "xtm nioiypneiu"), not another word ("red steel" / "blue stel": "red" keeps one
    letter of three)."""
    from rapidfuzz.distance import Indel

    a, b = "".join(gone), "".join(added)
    kept_a, kept_b = [False] * len(a), [False] * len(b)
    for op in Indel.opcodes(a, b):
        if op.tag == "equal":
            kept_a[op.src_start : op.src_end] = [True] * (op.src_end - op.src_start)
            kept_b[op.dest_start : op.dest_end] = [True] * (op.dest_end - op.dest_start)
    for words, kept in ((gone, kept_a), (added, kept_b)):
        start = 0
        for word in words:
            share = sum(kept[start : start + len(word)]) / len(word)
            if word not in FUNCTION_WORDS and share < SLIP_SIMILARITY:
                return False
            start += len(word)
    return True
