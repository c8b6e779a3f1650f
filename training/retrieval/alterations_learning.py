"""Learning word alterations from a dataset when the index is built (``learn``; the entries, their
lookup and file format are ``training.retrieval.alterations``): abbreviations that are prefixes of
frequent words, acronyms of frequent word sequences (names; kinds of one thing, "free kick" and "penalty
kick"; closed compounds, "goalkeeper"; a name after an acronym, "UEFA Champions League") and of the
dataset's own "long form (ABBR)" definitions, plus the generic chat list. Also what askers' choices of a
question for their wording say a word they typed stands for (``choice_pair``, ``from_choices``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from training.retrieval.alterations import MAX_PHRASE_WORDS, Alteration, Alterations, generic, key_of
from training.retrieval.lexical import STOPWORDS, content_words, stem

MIN_FREQUENCY = 2  # a word (or word sequence) seen fewer times in the dataset is nobody's abbreviation
PREFIX_LENGTHS = (3, 5)  # abbreviations people type: "sub", "ref", "prem", "champ"
MIN_REST = 2  # ... of a word at least this much longer ("card" is no abbreviation of "cards")
ACRONYM_LENGTHS = (2, 5)  # letters: "wc", "var", "ucl", "afcon"
MAX_ALTERNATIVES = 3  # per word; a prefix shared by more word families abbreviates none of them
MAX_LEARNED = 20_000  # entries kept from a large dataset (the most frequent words first)
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”|/\n]+")
_DEFINED = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9&-]{1,9})\s*\)")  # "... expected goals (xG)"
_VOWELS = frozenset("aeiouy")
_COMPOUND = re.compile(r"\b\w+(?:-\w+)+\b")
_UPPER = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b")
_PROPER = re.compile(r"(?<=[a-z0-9,] )[A-Z][a-z]+")  # a capitalised word inside a sentence


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Everyday English words that are prefixes or initials of a dataset's words by chance ("car" of "career",
# "go" of "golden goal"): never learned as abbreviations of them.
COMMON = _words(
    """
    able about add age ago air all also and any are area arm art ask away bad bag ball bar base bat bed
    bee best bet big bit black blue boat body book born boss both box boy bus busy but buy call came can
    cap car care case cat cent chat city clean club cold come cook cool cost could cow cry cup cut dad
    date day dead deal dear did die dog done door down draw dry due each ear east easy eat egg end even
    ever eye face fact fair fall fan far farm fast fat fear feel feet few fill film find fine fire fish
    fit five fix fly food foot for form four free from fun game gas gave get girl give glad go god gold
    gone good got great grew grow gun guy had hair half hall hand hard has hat have he head hear heat
    held help her here hero hi high him his hit hold hole home hope hot how huge idea ill inch into iron
    its job join joke just keep kept key kid kind king knew know lab lady lake land last late law lay lead
    left leg less let lie life lift like line list live long look lord lose lost lot love low luck mad
    made mail main make man many map mark may me meal mean meet men met mid mind miss mix mom more most
    move much must my name near neck need net new news next nice nine no nor not note now odd off oil ok
    old one only open our out over own pack page paid pain pair park part pass past pay per pet pick
    pie pin plan play plus poll pool poor pop port post pot pull push put race rain ran rate raw read
    real red rest rice rich ride ring rise road rock role roll room root rose row rule run sad safe said
    sale salt same sat save saw say sea seat see seem seen self sell send set she ship shop shot show
    shut sick side sign sing sit six size ski sky slow small snow so soft sold some son song soon sort
    spot star stay step still stop such sun sure take talk tall tax tea team tell ten term test than
    that them then they thin this tie till time tiny tip told too took top total town toy tree trip true
    try turn two type up us use van very via view wait walk wall want war warm was wash way we wear week
    well went were west wet what when who why wide wife will win wind wise wish with won wood word work
    yes yet you young
    im ive id ill dont cant wont isnt lol lmao ok gg gl hf gn gm ty np xd ez wp rn tbh ngl fr af ig ik
    ye ya yo hey bro dm pm irl btw omg wtf smh ikr jk nvm fyi asap aka etc
    """
)


# Words that never start an acronym's long form: question words, auxiliaries, pronouns, common verbs.
FUNCTION = _words(
    """
    what which who whom whose when where why how whats did does do done doing has have had having can
    could may might must shall should would will was were been being am is are get gets got make makes
    made take takes took give gives given go goes went say said see seen know known any each every all
    some many much more most other another such than very too also just only same both either
    neither he she it we they you i me him her us them my his its our their your one two three first
    last between after before during under over about against into through since until while
    """
)
NAMED_WORDS = 3  # words in a sequence whose initials are learned without the dataset writing them
COLLOCATION = 0.4  # share of its rarest word's uses that a word sequence must hold to be a name
KIND_HEADS = 3  # word pairs ending in the same word, each seen MIN_FREQUENCY times: kinds of one thing
MIN_PART = 4  # letters in each word of a closed compound ("goal|keeper"; not "in|side")


CHOICE_USERS = 2  # askers whose choices must agree before a word they typed stands for a dataset word


def choice_pair(wording: str, question: str, known: Callable[[str], bool]) -> tuple[str, str] | None:
    """What an asker's choice of ``question`` for their ``wording`` says about one word: (the one word they
    typed that neither the question nor the dataset has (``known``), the one word of the question their
    wording lacks), or None when the choice does not single out one such pair."""
    typed_words, meant_words = content_words(wording), content_words(question)
    typed_stems, meant_stems = {stem(w) for w in typed_words}, {stem(w) for w in meant_words}
    typed = [
        w
        for w in dict.fromkeys(typed_words)
        if stem(w) not in meant_stems
        and w.isalpha()
        and w not in FUNCTION
        and w not in COMMON
        and not known(w)
    ]
    meant = [w for w in dict.fromkeys(meant_words) if stem(w) not in typed_stems and w not in FUNCTION]
    if len(typed) != 1 or len(meant) != 1:
        return None  # "what does the goalie do" for "the role of the goalkeeper": "role" or "goalkeeper"?
    return typed[0], meant[0]


def from_choices(
    pairs: Iterable[tuple[tuple[str, str], set[str]]], min_users: int = CHOICE_USERS
) -> list[Alteration]:
    """Alterations that people's choices agree on: each (typed word, meaning) with the users who chose it
    (``"admin"``: an admin taught it, enough alone); a word stands for the meaning most of them chose once
    ``min_users`` did."""
    users: dict[tuple[str, ...], dict[tuple[str, ...], set[str]]] = defaultdict(lambda: defaultdict(set))
    words: dict[tuple[str, ...], str] = {}  # by stems ("goalie", "goalie's"): one spelling of each
    for (typed, meant), who in pairs:
        typed_key, meant_key = key_of(typed), key_of(meant)
        words.setdefault(typed_key, typed)
        words.setdefault(meant_key, meant)
        users[typed_key][meant_key] |= who
    out = []
    for typed_key, meanings in sorted(users.items()):
        meant_key, who = max(meanings.items(), key=lambda kv: (len(kv[1]), kv[0]))
        if len(who) >= min_users or "admin" in who:
            out.append(Alteration(words[typed_key], (words[meant_key],), "learned", "choices"))
    return out


def learn(records: Sequence[Mapping[str, Any]], *, with_generic: bool = True) -> Alterations:
    """Alterations learned from ``records``' questions and answers (see the module docstring), plus
    ``GENERIC`` unless ``with_generic`` is False. Deterministic: the same records give the same file."""
    texts = [f"{r.get('question', '')}\n{r.get('answer', '')}" for r in records]
    clauses = [content_words(part) for text in texts for part in _CLAUSE.split(text)]
    counts: Counter[str] = Counter(w for clause in clauses for w in clause)
    known = {stem(w) for w in counts}
    learned: dict[str, Alteration] = {}
    for entry in [*_prefixes(counts, known), *_acronyms(texts, clauses)]:
        if entry.word not in learned or entry.rule == "defined":  # the dataset's own definition wins
            learned[entry.word] = entry
    entries = list(learned.values())[:MAX_LEARNED]
    return Alterations([*(generic() if with_generic else []), *entries])


def _prefixes(counts: Counter[str], known: set[str]) -> list[Alteration]:
    """Abbreviations as prefixes of frequent words, typed words the dataset does not use ("subs" of
    "substitutes", "ref" of "referee"), each for the one or few word families (stems) that most share it."""
    families: dict[str, Counter[str]] = defaultdict(Counter)  # stem -> its words and their counts
    for word, n in counts.items():
        if word.isalpha():
            families[stem(word)][word] += n
    by_prefix: dict[str, Counter[str]] = defaultdict(Counter)  # prefix -> family stem -> count
    low, high = PREFIX_LENGTHS
    for family, words in families.items():
        total = sum(words.values())
        if total < MIN_FREQUENCY:
            continue
        for word in words:
            for n in range(low, min(high, len(word) - MIN_REST) + 1):
                if word[n - 1] not in _VOWELS:  # "sub", "ref", "prem", "champ"; not "sco", "fina"
                    by_prefix[word[:n]][family] += total
    out = []
    for prefix, found in sorted(by_prefix.items(), key=lambda kv: (-max(kv[1].values()), kv[0])):
        if prefix in STOPWORDS or prefix in COMMON or stem(prefix) in known:
            continue
        ranked = found.most_common()
        if len(ranked) > MAX_ALTERNATIVES:
            continue  # "con" of contest, control, conduct, concede...: no one word meant
        top = ranked[0][1]
        means = tuple(families[f].most_common(1)[0][0] for f, n in ranked if 2 * n >= top)
        out.append(Alteration(prefix, means, "learned", "prefix"))
    return out


def _acronyms(texts: Sequence[str], clauses: Sequence[list[str]]) -> list[Alteration]:
    """Acronyms: the initials of word sequences seen ``MIN_FREQUENCY`` times ("world cup" → "wc"), or once
    where the dataset writes the acronym itself ("VAR"), and the dataset's "long form (ABBR)" definitions."""
    defined: dict[str, str] = {}
    for text in texts:
        for m in _DEFINED.finditer(text):
            before = re.split(r"[()\[\].;:!?]", text[max(0, m.start() - 120) : m.start()])[-1]
            short = m[1]
            long_form = _long_form(short, content_words(before))
            if long_form:
                defined.setdefault(short.lower(), long_form)
    written = {m.lower() for text in texts for m in _UPPER.findall(text)}
    low, high = ACRONYM_LENGTHS
    counts: Counter[str] = Counter(w for clause in clauses for w in clause)
    sequences: Counter[tuple[str, ...]] = Counter()
    ends: Counter[tuple[str, ...]] = Counter()  # word pairs that end a stretch ("award a penalty kick?")
    for clause in clauses:
        run: list[str] = []  # a stretch of words that may make a name: no function words, no numbers
        for word in [*clause, ""]:
            if word.isalpha() and word not in FUNCTION:
                run.append(word)
                continue
            if len(run) >= 2:
                ends[tuple(run[-2:])] += 1
            for n in range(low, min(high, len(run)) + 1):
                for i in range(len(run) - n + 1):
                    words = tuple(run[i : i + n])
                    if n <= NAMED_WORDS or "".join(w[0] for w in words) in written:
                        sequences[words] += 1
            run = []
    # Hyphenated compounds name one thing ("centre-back", "full-back"): they count twice.
    compounds = Counter(
        tuple(content_words(c))
        for text in texts
        for c in _COMPOUND.findall(text)
        if len(content_words(c)) > 1
    )
    # Kinds of one thing: word pairs that share their last word with others ("free kick", "goal kick",
    # "penalty kick"), each seen a few times, name kinds of it even where both words are common alone.
    # Proper names are no kinds ("Brazil won", "Italy beat"): words the dataset capitalises mid-sentence.
    proper = {m.lower() for text in texts for m in _PROPER.findall(text)}
    kinds = [w for w, n in ends.items() if n >= MIN_FREQUENCY and w[0] not in proper]
    heads = Counter(words[-1] for words in kinds)

    def is_name(words: tuple[str, ...], n: int) -> bool:
        # A name for one thing: its rarest word mostly comes in it ("red card"; not "scored twice"), and
        # short (longer acronyms are learned where the dataset writes them: "IFAB", "UEFA").
        collocated = n >= COLLOCATION * min(counts[w] for w in words)
        if len(words) <= NAMED_WORDS and collocated and n >= MIN_FREQUENCY:
            return True
        if words[0] not in proper and heads[words[-1]] >= KIND_HEADS and ends[words] > MIN_FREQUENCY:
            return True
        return words in compounds and n + compounds[words] >= MIN_FREQUENCY

    names = {words for words, n in sequences.items() if is_name(words, n)}
    by_initials: dict[str, Counter[str]] = defaultdict(Counter)
    for words, n in sequences.items():
        initials = "".join(w[0] for w in words)
        # A name extended by an acronym the dataset writes before it ("UEFA Champions League" where
        # "Champions League" is a name) is a name once seen: "ucl".
        extended = len(words) > 2 and words[0] in written and words[1:] in names
        if words in names or extended or initials in written:
            by_initials[initials][" ".join(words)] += n + compounds[words]
    # Closed compounds of two dataset words ("goalkeeper": goal + keeper), where no name has the initials.
    for word, n in counts.items():
        if n < MIN_FREQUENCY or not word.isalpha():
            continue
        for cut in range(MIN_PART, len(word) - MIN_PART + 1):
            head, tail = word[:cut], word[cut:]
            if min(counts[head], counts[tail]) >= MIN_FREQUENCY and head[0] + tail[0] not in by_initials:
                by_initials[head[0] + tail[0]][word] += n
    out = [Alteration(short, (long_form,), "learned", "defined") for short, long_form in defined.items()]
    for initials, found in sorted(by_initials.items(), key=lambda kv: (-max(kv[1].values()), kv[0])):
        if not low <= len(initials) <= high or initials in STOPWORDS or initials in COMMON:
            continue
        ranked = found.most_common()
        top = ranked[0][1]
        means = [phrase for phrase, n in ranked if 2 * n >= top]
        if len(means) > MAX_ALTERNATIVES:
            continue
        out.append(Alteration(initials, tuple(means), "learned", "acronym"))
    return out


def _long_form(short: str, before: list[str]) -> str | None:
    """The words before "(ABBR)" that it abbreviates (Schwartz & Hearst, PSB 2003, a little relaxed: the
    first letter may sit inside the first word, as "xG" in "expected goals"), or None."""
    letters = [c for c in short.lower() if c.isalnum()]
    if not letters or not before:
        return None
    words = before[-min(len(letters) + 3, 2 * len(letters)) :]
    text = " ".join(words)
    j = len(text)
    for c in reversed(letters):  # each letter, right to left, in order in the words before
        j = text.rfind(c, 0, j)
        if j < 0:
            return None
    start = text.rfind(" ", 0, j) + 1
    long_form = text[start:]
    n_words = len(long_form.split())
    if n_words < 2 or n_words > MAX_PHRASE_WORDS or long_form.replace(" ", "") == short.lower():
        return None
    return long_form
