"""Harvest what a channel already answered: question/answer pairs found in its history, proposed to the
review queue (``storage.candidates``, source "harvest"). No ``discord`` here: the Discord side
(``bot.discord_app.harvest``) turns messages into ``Said`` records, in the order they were posted.

What counts as answered (``find_pairs``):
- a forum post marked solved (a tag named like ``SOLVED_TAGS``, emoji aside: ``solved_name``): its title
  and first message, answered by the message marked ✅ in it, else a trusted member's reply, else the first
  reply by someone else;
- a trusted member's (``TRUSTED_ROLE_IDS``) reply to someone else's message;
- a reply marked ✅ by the person it replied to or by a trusted member.
A marked answer is the message marked; another is its message and its author's next few messages
(``joins_answer``: no link, chat or question; none to a bot or replying to someone else). ``harvest`` then
leaves out what the bot already answers (``known``), what was proposed before (``candidates.propose``),
repeats within the run, and pairs with a secret or past the size limits (``fit``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.answering.chatter import (
    CHAT_WORDS,
    GREETINGS,
    QUESTION_MARKS,
    is_chat,
    looks_like_question,
    word_set,
)

CHECK = "✅"
SOLVED_TAGS = ("answered", "solved", "resolved")  # forum tags that mark a post solved (any case, emoji aside)
MIN_ANSWER_CHARS = 2
MIN_QUESTION_WORDS = 3  # shorter messages ("lol", "thanks!") are chatter, not questions
MAX_JOINED = 5  # an unmarked answer joins at most this many consecutive messages of its author


# A question asked back (or a new one) opens like these; ``looks_like_question`` alone also takes many an
# answer for a question ("It is a sign of respect…", "A player who can…": 94 of examples/' 444 answer lines).
_ASKING = word_set(
    "what whats what's which who whos who's whom whose where wheres where's when why how hows how's"
)
_AUXILIARIES = word_set(
    """is isn't isnt are aren't arent am was were do does did don't dont doesn't doesnt didn't can can't
    cant could couldn't should shall will would wont won't may might have has had"""
)
_SUBJECTS = word_set("you u ya they he she we i")  # who an auxiliary asks about ("can you", "do they")
_BE = word_set("is isn't isnt are aren't arent was were")
_THINGS = word_set("it this that there")  # "is it", "was that"; "do it from the spot" orders
_HOW_MUCH = word_set("long many much often far old big come")  # "how long", not "how it works"
_CONTRACTED = word_set("whats what's whos who's wheres where's hows how's whens")  # "whats the score"
_WHEN = word_set("when where whenever wherever")  # "when the ball crosses the line, it's a goal"
_OPENERS = GREETINGS | word_set("ok okay so but and also plus btw pls plz please quick question")
_CLAUSE = re.compile(r"[,;:.!\n]")
_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Said:
    """One message as the harvest needs it."""

    id: int
    author_id: int
    content: str
    reply_to: int | None = None  # the message it replies to
    author_roles: frozenset[int] = frozenset()
    author_bot: bool = False
    checked_by: frozenset[int] = frozenset()  # who reacted ✅
    url: str | None = None
    to_bot: bool = False  # it mentions a bot


@dataclass(frozen=True)
class Post:
    """A forum post: its thread's title and tags, and its messages (the first is the question's body)."""

    id: int
    title: str
    tags: tuple[str, ...]
    messages: tuple[Said, ...]


@dataclass(frozen=True)
class Pair:
    """A question/answer found in the history, with where it came from."""

    question: str
    answer: str
    question_message: Said
    answer_message: Said
    how: str  # "forum" | "reply" | "reaction" (which rule found it)
    marked_by: int | None = None


@dataclass
class HarvestResult:
    """What one harvest did: messages read, pairs found, and what became of them."""

    read: int = 0
    found: int = 0
    proposed: list[int] = field(default_factory=list)  # candidate ids
    known: int = 0  # the bot answers them already
    unfit: int = 0  # left out: a secret-looking text, or past the question/answer size limits
    queued: int = 0  # proposed before (still waiting, or decided)
    last_message_id: int | None = None

    def text(self) -> str:
        return (
            f"Read {self.read} message(s), found {self.found} answered question(s): {len(self.proposed)} "
            f"proposed for review, {self.known} already known, {self.queued} already proposed"
            + (f", {self.unfit} left out (a token-like secret, or too long)." if self.unfit else ".")
        )


def _asks_of(words: list[str]) -> bool:
    """Whether an auxiliary and its subject stand at ``words``' start: "can you", "is it", "do they"."""
    if len(words) < 2 or words[0] not in _AUXILIARIES:
        return False
    return words[1] in _SUBJECTS or (words[0] in _BE and words[1] in _THINGS)


def is_question(text: str) -> bool:
    """A question (asked back, or a new one) rather than an answer: a "?", or ``looks_like_question`` and
    its first clause that is not chat asks (``_clause_asks``). Answers that open with an interrogative do
    not: "When a dog runs on, play stops", "What happens is…", "How it works: …", "Which means…"."""
    if any(mark in text for mark in QUESTION_MARKS):
        return True
    if not looks_like_question(text):
        return False
    clauses = [_WORD.findall(clause.lower().replace("\u2019", "'")) for clause in _CLAUSE.split(text)]
    at = next((i for i, w in enumerate(clauses) if w and not set(w) <= CHAT_WORDS), None)  # "hmm, which…"
    if at is None:
        return False
    words = clauses[at]
    while words and words[0] in _OPENERS:
        words = words[1:]
    more = any(clauses[at + 1 :])  # "when one runs on, play stops": the clause is a condition
    return bool(words) and (_asks_of(words) or (words[0] in _ASKING and _clause_asks(words, more)))


def _clause_asks(words: list[str], more: bool) -> bool:
    """Whether a clause opening with an interrogative asks: "whats the score", "what is…", "how long",
    "which players are injured", "what time do the gates open", "what happens if…", and a short one with
    no auxiliary ("who won the league", "who scored"); not "what happens is…", "how it works", a longer
    "who touches it last decides…", nor "when…" followed by what then happens."""
    first, rest = words[0], words[1:]
    if first in _CONTRACTED:
        return True
    if not rest:
        return False
    if first in ("how",):
        return rest[0] in _HOW_MUCH or rest[0] in _AUXILIARIES
    if rest[0] in _AUXILIARIES or "if" in rest[:2]:
        return True
    if rest[0] in ("means", "meant", "knows"):  # "which means…", "who knows"
        return False
    aux = next((i for i, w in enumerate(rest[:4]) if w in _AUXILIARIES), None)
    if aux is not None:  # "what happens is the…": a subject clause, not a question
        return not (rest[aux] in ("is", "was") and rest[aux - 1].endswith("s"))
    return len(words) <= 6 and not (first in _WHEN and more)


def joins_answer(text: str) -> bool:
    """Whether a message may join the answer its author began right before it: not one with a link (a
    phishing line sent after a good answer would be learned, and served, with it), not chat ("lol") nor a
    question (``is_question``: "btw what is a hat trick?")."""
    from training.data.filters import has_link

    if not text.strip():
        return True  # an image, say: nothing to learn, and no reason to end the answer
    return not (has_link(text) or is_chat(text) or is_question(text))


def stays_in_answer(
    reply_to: int | None, first_reply_to: int | None, replied_author: int | None, author: int
) -> bool:
    """Whether its author's next message, replying to ``reply_to`` (written by ``replied_author``), stays in
    the answer they began replying to ``first_reply_to``: it replies to nothing, to the same message, or to
    one of theirs. A reply to someone else is words to them."""
    return reply_to in (None, first_reply_to) or replied_author == author


def _answer_from(messages: Sequence[Said], start: int, marked: bool = False) -> str:
    """The answer that begins at ``messages[start]``: the message alone when someone marked it (what they
    vouched for), else it and its author's messages right after it (at most ``MAX_JOINED``, up to one
    that replies to someone else, mentions a bot or is no part of an answer: ``joins_answer``)."""
    first = messages[start]
    authors = {m.id: m.author_id for m in messages}
    parts, i = [first.content.strip()], start + 1
    while not marked and i < len(messages) and len(parts) < MAX_JOINED:
        said = messages[i]
        own = stays_in_answer(said.reply_to, first.reply_to, authors.get(said.reply_to), first.author_id)
        if said.author_id != first.author_id or not own or said.to_bot:
            break
        if not joins_answer(said.content):
            break
        parts.append(said.content.strip())
        i += 1
    return "\n".join(p for p in parts if p)


def _usable(said: Said) -> bool:
    return not said.author_bot and len(said.content.strip()) >= MIN_ANSWER_CHARS


def _asks(said: Said) -> bool:
    return _usable(said) and len(said.content.split()) >= MIN_QUESTION_WORDS


def find_pairs(messages: Sequence[Said], trusted: Callable[[Said | int], bool]) -> list[Pair]:
    """Replies that answer a message (a trusted member's, or marked ✅ by the asker or a trusted member),
    in the order posted. ``trusted(said_or_user_id)``: whether its author (or that user) is trusted."""
    by_id = {m.id: m for m in messages}
    pairs = []
    for i, said in enumerate(messages):
        question = by_id.get(said.reply_to) if said.reply_to is not None else None
        if question is None or not _usable(said) or not _asks(question):
            continue
        if question.author_id == said.author_id:
            continue
        markers = [u for u in said.checked_by if u == question.author_id or trusted(u)]
        if not markers and not trusted(said):
            continue
        answer = _answer_from(messages, i, marked=bool(markers))
        how = "reaction" if markers else "reply"
        pairs.append(
            Pair(question.content.strip(), answer, question, said, how, markers[0] if markers else None)
        )
    return pairs


def solved_name(name: str) -> bool:
    """Whether a forum tag's name says solved: ``SOLVED_TAGS`` in any case, emoji and punctuation aside
    ("✅ Solved"), as ``bot.discord_app.forums.solved_tag`` finds the tag it applies."""
    return "".join(c for c in name.casefold() if c.isalnum()) in SOLVED_TAGS


def solved(tags: Iterable[str]) -> bool:
    """Whether a forum post's tags mark it solved (``solved_name``)."""
    return any(solved_name(t) for t in tags)


def post_pair(post: Post, trusted: Callable[[Said | int], bool]) -> Pair | None:
    """A solved forum post's pair (None: not marked solved, or nobody else answered)."""
    if not post.messages or not solved(post.tags):
        return None
    first, replies = post.messages[0], post.messages[1:]
    body = first.content.strip()
    question = (
        post.title.strip() if not body or body == post.title.strip() else f"{post.title.strip()}\n{body}"
    )
    others = [(i, m) for i, m in enumerate(replies, 1) if m.author_id != first.author_id and _usable(m)]
    if not others:
        return None

    def markers(m: Said) -> list[int]:
        return [u for u in m.checked_by if u == first.author_id or trusted(u)]

    marked = [(i, m) for i, m in others if markers(m)]
    by_trusted = [(i, m) for i, m in others if trusted(m)]
    i, said = (marked or by_trusted or others)[0]
    answer = _answer_from(post.messages, i, marked=bool(marked))
    return Pair(question, answer, first, said, "forum", markers(said)[0] if marked else None)


def fit(pair: Pair) -> bool:
    """Whether ``pair`` may be proposed: no secret in it (``training.data.filters.has_secret``: an admin
    accepting a harvest at a glance must not teach a leaked bot token or key), each text within the limits
    a taught pair obeys (``training.data.limits``)."""
    from training.data.filters import has_secret
    from training.data.limits import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS

    texts = ((pair.question, MAX_QUESTION_CHARS), (pair.answer, MAX_ANSWER_CHARS))
    return all(len(text) <= most for text, most in texts) and not has_secret(pair.question, pair.answer)


def distinct(pairs: Iterable[Pair]) -> list[Pair]:
    """The pairs, each question asked once (the first answer found wins)."""
    from training.data import comparison_key

    seen: set[str] = set()
    out = []
    for pair in pairs:
        key = comparison_key(pair.question)
        if key not in seen:
            seen.add(key)
            out.append(pair)
    return out


def propose_all(
    session: Any,
    pairs: Sequence[Pair],
    known: Callable[[list[str]], list[bool]],
    *,
    guild_id: int | None,
    channel_id: int | None,
    result: HarvestResult,
) -> HarvestResult:
    """Propose each pair the bot does not answer yet (``known``: per question, whether it does) into the
    review queue, in the caller's transaction; counts in ``result``."""
    from storage import candidates

    pairs = distinct(pairs)
    result.found += len(pairs)
    kept = [p for p in pairs if fit(p)]
    result.unfit += len(pairs) - len(kept)
    pairs = kept
    answered = known([p.question for p in pairs]) if pairs else []
    for pair, is_known in zip(pairs, answered, strict=True):
        if is_known:
            result.known += 1
            continue
        row, new = candidates.propose(
            session, question=pair.question, answer=pair.answer, source="harvest", guild_id=guild_id,
            channel_id=channel_id, question_message_id=pair.question_message.id,
            answer_message_id=pair.answer_message.id, question_url=pair.question_message.url,
            answer_url=pair.answer_message.url, asker_id=pair.question_message.author_id,
            author_id=pair.answer_message.author_id, marked_by=pair.marked_by,
        )  # fmt: skip
        if new:
            result.proposed.append(row.id)
        else:
            result.queued += 1
    return result
