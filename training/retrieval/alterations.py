"""Word alterations (QnA Maker's name): other words for what people type ("subs" → "substitutes",
"wc" → "world cup"), so BM25 finds a dataset's own vocabulary. Applied to the query's lexical views at
search time; each typed word or phrase with alterations becomes a slot of alternatives of which a known
question scores its best (``BM25View.exact_slots``), so an alteration never scores above what typing that
question's own words would.

Learned from the dataset when the index is built (``learn``; saved as ``retrieval/alterations.json``):
abbreviations that are prefixes of frequent words, acronyms of frequent word sequences and of the
dataset's own "long form (ABBR)" definitions; plus a short generic list of chat abbreviations (``GENERIC``).
Admins add their own (``/synonym``, kept in the store); ``merged`` puts them over the learned ones.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from training.retrieval.lexical import STOPWORDS, content_words, stem

ALTERATIONS_FILE = "alterations.json"
FORMAT_VERSION = 1
SOURCES = ("learned", "generic", "admin")
MIN_FREQUENCY = 2  # a word (or word sequence) seen fewer times in the dataset is nobody's abbreviation
PREFIX_LENGTHS = (3, 5)  # abbreviations people type: "sub", "ref", "prem", "champ"
MIN_REST = 2  # ... of a word at least this much longer ("card" is no abbreviation of "cards")
ACRONYM_LENGTHS = (2, 5)  # letters: "wc", "var", "ucl", "afcon"
MAX_ALTERNATIVES = 3  # per word; a prefix shared by more word families abbreviates none of them
MAX_LEARNED = 20_000  # entries kept from a large dataset (the most frequent words first)
MAX_PHRASE_WORDS = 4  # a key (what is typed) or alternative of more content words is refused
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”|/\n]+")
_DEFINED = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9&-]{1,9})\s*\)")  # "... expected goals (xG)"
_VOWELS = frozenset("aeiouy")
_COMPOUND = re.compile(r"\b\w+(?:-\w+)+\b")
_TOKEN = re.compile(r"[\w'\u2019]+")
_UPPER = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Chat abbreviations of any community (English): not a domain's vocabulary.
GENERIC: dict[str, tuple[str, ...]] = {
    "ur": ("your",),
    "ppl": ("people",),
    "pls": ("please",),
    "plz": ("please",),
    "thx": ("thanks",),
    "bc": ("because",),
    "cuz": ("because",),
    "coz": ("because",),
    "abt": ("about",),
    "whats": ("what",),
    "wat": ("what",),
    "wut": ("what",),
    "hows": ("how",),
    "whos": ("who",),
    "wheres": ("where",),
    "smth": ("something",),
    "sth": ("something",),
    "diff": ("difference",),
    "rly": ("really",),
    "prob": ("probably",),
    "fav": ("favourite", "favorite"),
    "fave": ("favourite", "favorite"),
    "info": ("information",),
    "pic": ("picture",),
    "avg": ("average",),
    "approx": ("approximately",),
    "yr": ("year",),
    "yrs": ("years",),
    "hr": ("hour",),
    "hrs": ("hours",),
    "mins": ("minutes",),
    "secs": ("seconds",),
    "pts": ("points",),
    "num": ("number",),
    "nr": ("number",),
    "vs": ("against", "versus"),
    "b4": ("before",),
    "tho": ("though",),
    "imo": ("in my opinion",),
    "idk": ("do not know",),
}
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


@dataclass(frozen=True)
class Alteration:
    """What ``word`` (a word or short phrase as people type it) may mean: ``means``, and where that
    came from (``SOURCES``; ``rule`` says which for a learned one: prefix, acronym, defined)."""

    word: str
    means: tuple[str, ...]
    source: str
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"word": self.word, "means": list(self.means), "source": self.source}
        if self.rule:
            out["rule"] = self.rule
        return out


def key_of(phrase: str) -> tuple[str, ...]:
    """What a phrase is looked up by: the stems of its content words (so "refs" finds "ref")."""
    return tuple(stem(w) for w in content_words(phrase))


@dataclass
class Alterations:
    """A set of alterations, looked up by the stems of what was typed; a later entry for the same key
    (an admin's over a learned one) replaces the earlier one; one with no ``means`` removes it."""

    entries: list[Alteration] = field(default_factory=list)

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, ...], Alteration] = {}
        for entry in self.entries:
            key = key_of(entry.word)
            means = tuple(m for m in entry.means if key_of(m) and key_of(m) != key)  # "whats" is "what"
            if key and len(key) <= MAX_PHRASE_WORDS and (means or not entry.means):
                by_key[key] = replace(entry, means=means)
        self.entries = [e for e in by_key.values() if e.means]
        self._entries = {key: e for key, e in by_key.items() if e.means}
        self._alternatives = {
            key: [words for words in (content_words(m) for m in e.means) if words]
            for key, e in by_key.items()
            if e.means
        }
        self._longest = max((len(k) for k in self._alternatives), default=0)

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self._alternatives)

    def merged(self, *others: Iterable[Alteration]) -> Alterations:
        """These entries with ``others``' over them (an empty ``means`` takes an entry out)."""
        entries = list(self.entries)
        for other in others:
            entries += list(other)
        return Alterations(entries)

    def __iter__(self):  # noqa: ANN204 - an iterator of Alteration
        return iter(self.entries)

    def find(self, phrase: str) -> Alteration | None:
        """The alteration that applies where ``phrase`` is typed ("refs" finds "ref"'s), or None."""
        return self._entries.get(key_of(phrase))

    def slots(self, text: str) -> list[list[list[str]]] | None:
        """``text``'s content words in slots for ``BM25View.exact_slots``: first the words without
        alterations (one alternative), then one slot per word or phrase that has some, its words as typed
        first; None when nothing in ``text`` has an alteration (search it as typed)."""
        if not self._alternatives:
            return None
        words = content_words(text)
        stems = [stem(w) for w in words]
        plain: list[str] = []
        slots: list[list[list[str]]] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                alternatives = self._alternatives.get(tuple(stems[i : i + n]))
                if alternatives is not None:
                    slots.append([words[i : i + n], *alternatives])
                    i += n
                    break
            else:
                plain.append(words[i])
                i += 1
        return [[plain], *slots] if slots else None

    def rewrite(self, text: str) -> str | None:
        """``text`` with each word or phrase that has alterations replaced by its first one ("whats var
        for" → "whats video assistant referee for"), for the sentence encoder; None when nothing has."""
        if not self._alternatives:
            return None
        tokens = [
            (m.start(), m.end(), words) for m in _TOKEN.finditer(text) if (words := content_words(m[0]))
        ]
        stems = [stem(words[0]) if len(words) == 1 else None for _, _, words in tokens]
        out, last, i = [], 0, 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                key = tuple(stems[i : i + n])
                alternatives = self._alternatives.get(key) if None not in key else None
                if alternatives:
                    out += [text[last : tokens[i][0]], " ".join(alternatives[0])]
                    last = tokens[i + n - 1][1]
                    i += n
                    break
            else:
                i += 1
        return "".join([*out, text[last:]]) if out else None

    # -- persistence ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "alterations": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, payload: Any) -> Alterations:
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"{ALTERATIONS_FILE}: not a format-{FORMAT_VERSION} list of alterations")
        items = payload.get("alterations")
        if not isinstance(items, list):
            raise ValueError(f"{ALTERATIONS_FILE}: 'alterations' is not a list")
        return cls([parse(item) for item in items])

    def save(self, folder: Path) -> Path:
        path = folder / ALTERATIONS_FILE
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=0), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> Alterations | None:
        """The alterations saved in an index folder, or None (an index saved before they were)."""
        path = folder / ALTERATIONS_FILE
        if not path.is_file():
            return None
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def parse(item: Any) -> Alteration:
    """An ``Alteration`` from its JSON form; ValueError for anything else."""
    if not isinstance(item, dict):
        raise ValueError(f"{ALTERATIONS_FILE}: an alteration is not an object: {str(item)[:40]!r}")
    word, means, source = item.get("word"), item.get("means"), item.get("source")
    if not isinstance(word, str) or not isinstance(means, list) or not all(isinstance(m, str) for m in means):
        raise ValueError(
            f"{ALTERATIONS_FILE}: an alteration needs a word and a list of means: {str(item)[:40]!r}"
        )
    if source not in SOURCES:
        raise ValueError(f"{ALTERATIONS_FILE}: source must be one of {SOURCES}, got {str(source)[:20]!r}")
    rule = item.get("rule")
    return Alteration(word, tuple(means), source, rule if isinstance(rule, str) else None)


def generic() -> list[Alteration]:
    return [Alteration(word, means, "generic") for word, means in GENERIC.items()]


def read_synonyms(path: Path) -> list[dict[str, Any]]:
    """The admins' synonyms in a JSON file (``[{"word", "means": [...]}]``: what a retrain passes); a
    ValueError naming the file for anything else."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read synonyms ({type(e).__name__}: {e})") from e
    if not isinstance(items, list) or not all(
        isinstance(i, dict)
        and isinstance(i.get("word"), str)
        and isinstance(i.get("means"), list)
        and all(isinstance(m, str) for m in i["means"])
        for i in items
    ):
        raise ValueError(f'{path}: synonyms must be a list of {{"word": text, "means": [text, ...]}}')
    return items


def admin_entries(pairs: Iterable[Mapping[str, Any]]) -> list[Alteration]:
    """The store's synonyms (``{"word", "means": [...]}``) as admin alterations, in order."""
    return [Alteration(str(p["word"]), tuple(p.get("means") or ()), "admin") for p in pairs]


# -- learning --------------------------------------------------------------------------------------------

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
    for clause in clauses:
        run: list[str] = []  # a stretch of words that may make a name: no function words, no numbers
        for word in [*clause, ""]:
            if word.isalpha() and word not in FUNCTION:
                run.append(word)
                continue
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
    by_initials: dict[str, Counter[str]] = defaultdict(Counter)
    for words, n in sequences.items():
        initials = "".join(w[0] for w in words)
        # A name for one thing: its rarest word mostly comes in it ("red card"; not "scored twice"), and
        # short (longer acronyms are learned where the dataset writes them: "IFAB", "UEFA").
        named = len(words) <= NAMED_WORDS and n >= COLLOCATION * min(counts[w] for w in words)
        named = named or words in compounds
        n += compounds[words]
        if (named and n >= MIN_FREQUENCY) or initials in written:
            by_initials[initials][" ".join(words)] += n
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
