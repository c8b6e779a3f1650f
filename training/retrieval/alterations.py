"""Word alterations (QnA Maker's name): other words for what people type ("subs" → "substitutes",
"wc" → "world cup"), so BM25 finds a dataset's own vocabulary. Applied to the query's lexical views at
search time; each typed word or phrase with alterations becomes a slot of alternatives of which a known
question scores its best (``BM25View.exact_slots``), so an alteration never scores above what typing that
question's own words would.

This module holds what search time needs: the entries, their lookup (``Alterations.slots``, ``rewrite``),
their file format (``retrieval/alterations.json``), a short generic list of chat abbreviations
(``GENERIC``) and the admins' own (``/synonym``, kept in the store; ``merged`` puts them over the learned
ones). Learning them from a dataset when the index is built is ``training.retrieval.alterations_learning``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from training.retrieval.lexical import content_words, stem

ALTERATIONS_FILE = "alterations.json"
FORMAT_VERSION = 1
SOURCES = ("learned", "generic", "admin")
MAX_PHRASE_WORDS = 4  # a key (what is typed) or alternative of more content words is refused
# A text whose other words (two or more) are mostly unknown to the dataset is in another language: its
# short words are its own, not the dataset's abbreviations ("cor" is Portuguese for colour).
FOREIGN_WORDS, KNOWN_SHARE = 2, 1 / 3
_TOKEN = re.compile(r"[\w'\u2019]+")


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


def narrowed_key(phrase: str) -> str | None:
    """Why a typed phrase would apply far more widely than it reads, or None: "the box" is looked up as
    "box" alone (stopwords are not searched), so it would turn every "box" and "boxing" into its meaning
    ("How long is a round in boxing?" became the penalty area's question)."""
    words, key = _TOKEN.findall(phrase), content_words(phrase)
    if len(words) > 1 and len(key) == 1:
        return (
            f"“{phrase}” is searched as “{key[0]}” alone (words like “the” and “of” are left out), so it "
            f"would apply to every question with “{key[0]}” in it; give “{key[0]}” itself if that is meant"
        )
    return None


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
        self._prefixes = {key for key, e in by_key.items() if e.source == "learned" and e.rule == "prefix"}

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

    def _usable(self, stems: list[str], known: Callable[[str], bool] | None) -> dict:
        """The alternatives that apply to a text of these stems: a learned prefix ("cor" of "corner") only
        where the text is in the dataset's language (a word of it known to ``known``, the index's
        vocabulary), not in a Portuguese question where "cor" is a word of its own."""
        if known is None or not self._prefixes or not self.other_language(stems, known):
            return self._alternatives
        return {k: v for k, v in self._alternatives.items() if k not in self._prefixes}

    def other_language(self, stems: list[str], known: Callable[[str], bool]) -> bool:
        """Whether a text of these stems is in another language than the dataset's: two or more words
        without alterations, under a third of them ``known`` (to the index)."""
        others = [s for s in stems if (s,) not in self._alternatives]
        return len(others) >= FOREIGN_WORDS and sum(map(known, others)) < KNOWN_SHARE * len(others)

    def slots(self, text: str, known: Callable[[str], bool] | None = None) -> list[list[list[str]]] | None:
        """``text``'s content words in slots for ``BM25View.exact_slots``: first the words without
        alterations (one alternative), then one slot per word or phrase that has some, its words as typed
        first; None when nothing in ``text`` has an alteration (search it as typed). ``known``: whether
        the dataset knows a stem (``_usable``)."""
        if not self._alternatives:
            return None
        words = content_words(text)
        stems = [stem(w) for w in words]
        usable = self._usable(stems, known)
        plain: list[str] = []
        slots: list[list[list[str]]] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                alternatives = usable.get(tuple(stems[i : i + n]))
                if alternatives is not None:
                    slots.append([words[i : i + n], *alternatives])
                    i += n
                    break
            else:
                plain.append(words[i])
                i += 1
        return [[plain], *slots] if slots else None

    def rewrite(self, text: str, known: Callable[[str], bool] | None = None) -> str | None:
        """``text`` with each word or phrase that has alterations replaced by its first one ("whats var
        for" → "whats video assistant referee for"), for the sentence encoder; None when nothing has."""
        if not self._alternatives:
            return None
        tokens = [
            (m.start(), m.end(), words) for m in _TOKEN.finditer(text) if (words := content_words(m[0]))
        ]
        stems = [stem(words[0]) if len(words) == 1 else None for _, _, words in tokens]
        usable = self._usable([s for s in stems if s is not None], known)
        out, last, i = [], 0, 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                key = tuple(stems[i : i + n])
                alternatives = usable.get(key) if None not in key else None
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


SYNONYM_SHAPE = '{"word": text, "means": [text, ...]}'


def read_json_list(path: Path, what: str, shape: str) -> list[Any]:
    """The JSON list in ``path`` (a side file of ``what``: synonyms, wordings); a ValueError naming the
    file when it is missing, unreadable or not a list of ``shape``."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what} file") from None
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: JSON nested too deep
        expected = f"; expected a JSON list of {shape}" if isinstance(e, json.JSONDecodeError) else ""
        raise ValueError(f"{path}: cannot read {what} ({type(e).__name__}: {e}){expected}") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: {what} must be a list of {shape}")
    return items


def read_synonyms(path: Path) -> list[dict[str, Any]]:
    """The admins' synonyms in a JSON file (``[{"word", "means": [...]}]``: what a retrain passes); a
    ValueError naming the file, and the entry and field at fault, for anything else."""
    path = Path(path)
    items = read_json_list(path, "synonyms", SYNONYM_SHAPE)
    for n, item in enumerate(items, 1):
        where = f"{path}: synonym {n}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not an object {SYNONYM_SHAPE} (got {type(item).__name__})")
        if "word" not in item:
            looks_like = " (this looks like a Q&A dataset, not a glossary)" if "question" in item else ""
            raise ValueError(f"{where}, field 'word': missing; an entry is {SYNONYM_SHAPE}{looks_like}")
        if not isinstance(item["word"], str):
            raise ValueError(f"{where}, field 'word': not a text (got {str(item['word'])[:40]!r})")
        if "means" not in item:
            raise ValueError(
                f"{where} ({item['word'][:40]!r}), field 'means': missing; an entry is {SYNONYM_SHAPE}"
            )
        means = item["means"]
        if not isinstance(means, list) or not all(isinstance(m, str) for m in means):
            raise ValueError(f"{where}, field 'means': not a list of texts (got {str(means)[:40]!r})")
        if problem := narrowed_key(item["word"]):
            raise ValueError(f"{where}, field 'word': {problem}")
    return items


def admin_entries(pairs: Iterable[Mapping[str, Any]]) -> list[Alteration]:
    """The store's synonyms (``{"word", "means": [...]}``) as admin alterations, in order; a phrase
    ``narrowed_key`` refuses (stored before /synonym refused such: "the box") is left out."""
    return [
        Alteration(str(p["word"]), tuple(p.get("means") or ()), "admin")
        for p in pairs
        if not narrowed_key(str(p["word"]))
    ]


def retrain_synonyms(
    trained: Alterations | None, stored: Iterable[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The admins' synonyms a retrain gives the trainer (``--synonyms``): those the serving checkpoint was
    trained with (a glossary, what earlier retrains carried), then the store's over them (an empty one
    switches a word off), so a retrain keeps what no admin took back. Second: the (word, why) of the rows
    left out, phrases ``narrowed_key`` refuses (stored before /synonym refused such; ``read_synonyms``
    would refuse the file)."""
    rows = [{"word": a.word, "means": list(a.means)} for a in (trained or ()) if a.source == "admin"]
    rows += [{"word": s["word"], "means": list(s["means"])} for s in stored]
    left_out = [(r["word"], why) for r in rows if (why := narrowed_key(r["word"]))]
    return [r for r in rows if not narrowed_key(r["word"])], left_out
