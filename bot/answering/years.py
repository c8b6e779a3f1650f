"""A follow-up that names a year and nothing else ("and in 2018?", "e em 2018?"): the previous question asked
again as typed for that year (``year_swapped``), and how that reading's decision is taken
(``year_reading``). Joined to the previous question, its siblings outranked the year asked for;
``bot.answering.followups`` asks this reading beside the joined ones."""

from __future__ import annotations

import re

from training.retrieval.index import Match
from training.retrieval.lexical import MEASURES
from training.retrieval.zones import MAX_SUGGESTIONS, Decision, ZoneThresholds, decide

# A message naming a year and nothing else ("and in 2018?", "what about '66", "e em 2018?"); and a year in the
# previous question: four digits, or two after an apostrophe, "in" or "the" ("in 66", "the 82 world cup").
_LEAD_YEAR = (
    r"(?:(?:and|what about|how about|or|also|y|e|et)\b\W*)*(?:(?:in|the|one|of|en|em|no|na|el|for)\s+)*"
    r"['’]?(?P<year>(?:18|19|20)\d\d|\d\d)"
)
_YEAR_ONLY = re.compile(rf"(?i)^\W*{_LEAD_YEAR}\W*$")
_CHAINED = re.compile(rf"(?i)\s+{_LEAD_YEAR}\W*$")  # a year follow-up read with the question before it
_YEAR = re.compile(
    r"(?<![\w'’])(?:18|19|20)\d\d(?![\w'’]|[-/–]\d)"  # "the 2014 team" names a year, "the 23 man squad" none
    rf"|(?:(?<=['’])|(?<=\bin )|(?<=\bthe ))\d\d(?![\w'’]|[-/–]\d|\s+{MEASURES}\b)",
    re.I,
)


def year_swapped(question: str, previous: str) -> str | None:
    """The previous question asked again for the year ``question`` names alone: "and in 2018?" after "who
    won the wc in 2014" is "who won the wc in 2018" (joined, the siblings of the previous question outrank
    it). None unless ``question`` names a year and nothing else, and ``previous`` one year."""
    asked = _YEAR_ONLY.match(question)
    if asked is None or _YEAR_ONLY.match(previous):  # a year asked after a year alone: nothing to ask again
        return None
    chained = _CHAINED.search(previous)  # "who won the wc in 2014 and 2018?": the chain asks on for a year
    if chained is not None and len(list(_YEAR.finditer(previous[: chained.start()]))) == 1:
        previous = previous[: chained.start()]
    years = list(_YEAR.finditer(previous))
    if len(years) != 1:
        return None
    old, new = years[0], asked["year"]
    if len(new) == 2 and len(old[0]) == 4:  # "and 78?" after "who won the 1974 wc": the nearer century
        new = min((c + new for c in ("18", "19", "20")), key=lambda y: abs(int(y) - int(old[0])))
    start = old.start()
    if len(new) == 4 and previous[start - 1 : start] in ("'", "’"):  # "and 1990?" after "mexico '86"
        start -= 1  # "mexico 1990", which the search reads as the dataset writes it
    return f"{previous[:start]}{new}{previous[old.end() :]}"


def year_reading(
    matches: list[Match], answered: str | None, zones: ZoneThresholds, current: Decision
) -> Decision:
    """``current``, or the previous question asked for the year named (``year_swapped``) where that reads
    better: answered when its zones answer another question than the one just answered (that one close
    by, it is offered: "and in 2014?" after Messi's 2012 goals is no question about his Barcelona total);
    else its first offer put first in ``current``'s, or offered alone when ``current`` offers nothing."""
    full = decide(matches[:MAX_SUGGESTIONS], zones)
    if full.match is None or full.zone == "fallback":
        return current
    if full.zone == "answer" and full.match.question != answered:
        return full
    others = [m for m in matches if m.question != answered]
    offer = decide(others[:MAX_SUGGESTIONS], zones.offer_only())
    if offer.zone != "suggest" or current.zone == "answer":
        return current
    first = offer.suggestions[0]
    kept = (
        [m for m in current.suggestions if m.question != first.question] if current.zone == "suggest" else []
    )
    return Decision("suggest", first, (first, *kept[: MAX_SUGGESTIONS - 1]))
