"""Admin actions shared by the Discord admin cog and the terminal: exports, summaries, the stats chart, the
unanswered questions grouped by similarity, and synonyms (words people type for the dataset's words).

No ``discord`` import here: both front ends format the same facts the same way.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import re
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import async_store
from bot.async_store import SessionFactory
from storage.formats import ExportSummary, check_format
from storage.masking import mask_secrets
from training.data.filters import has_secret
from training.data.limits import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS
from training.data.normalize import normalize_text


async def export_file(session_factory: SessionFactory, fmt: str, path: Path) -> tuple[Path, ExportSummary]:
    """Export the store as ``fmt`` to ``path`` (a folder: a file named after the format); (file, summary).
    The summary's ``rows`` is what was written and ``kto_warning()`` the label-balance warning that
    ``qabot export`` prints (None when there is none): both front ends show it to the admin."""
    from storage.export import write_export

    check_format(fmt)
    summary = await asyncio.to_thread(write_export, session_factory, fmt, path)
    assert summary.path is not None
    return summary.path, summary


def gzip_file(path: Path) -> Path:
    """``path`` + ``.gz`` beside it (for uploads over Discord's size limit)."""
    out = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(out, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    return out


def pair_problem(question: str, answer: str) -> str | None:
    """Why an admin's question/answer cannot be taught (empty, past the dataset limits, or holding a
    secret the bot would then repeat to anyone), or None."""
    if not normalize_text(question) or not normalize_text(answer):  # a zero-width space is no question
        return "Both question and answer are needed."
    if not any(c.isalnum() for c in question):  # "?" or "⚽": nothing anyone could ask it by
        return "The question needs a word or a number people would ask it by. Nothing was taught."
    if has_secret(question, answer):
        return "That holds a secret (a token, a key, a password) anyone could then read. Nothing was taught."
    for what, text, limit in (
        ("question", question, MAX_QUESTION_CHARS),
        ("answer", answer, MAX_ANSWER_CHARS),
    ):
        if len(text) > limit:
            size = f"{len(text):,} characters; the limit is {limit:,}"
            return f"The {what} is {size}. Shorten it; nothing was taught."
    return None


def model_summary(manifest: dict[str, Any] | None, version: str) -> str:
    """A few lines about the serving checkpoint, from its manifest."""
    if not manifest:
        return f"Model `{version}` (no manifest)."
    dataset = manifest.get("dataset") or {}
    hyper = manifest.get("hyperparameters") or {}
    lines = [
        f"Model `{version}` — base `{manifest.get('base', '?')}`"
        + (f", size `{manifest['size']}`" if manifest.get("size") else ""),
        f"Trained {manifest.get('created_at', '?')} on {dataset.get('train', '?')} pairs "
        f"(eval {dataset.get('eval', '?')}; dataset sha256 {str(dataset.get('sha256', '?'))[:12]})",
    ]
    metrics = manifest.get("metrics") or {}
    if metrics:
        lines.append("Metrics: " + format_metrics(metrics))
    if hyper:
        shown = {
            k: hyper[k] for k in ("epochs", "learning_rate", "lr", "batch_size", "max_steps") if k in hyper
        }
        if shown:
            lines.append("Hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    threshold = manifest.get("confidence_threshold")
    lines.append(
        f"Confidence threshold: {threshold:.3f}" if threshold is not None else "No calibrated threshold"
    )
    return "\n".join(lines)


def format_metrics(metrics: dict[str, Any]) -> str:
    """The training metrics, said for what they are: a small model's scores on held-out questions alone
    (f1 0.1, eval_loss 9) read as a broken model, while retrieval serves those questions."""
    shown = []
    for key in ("exact_match", "f1", "rougeL", "eval_loss"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            shown.append(f"{key} {value:.3f}")
    text = ", ".join(shown) or "none recorded"
    known = metrics.get("recall_f1")
    if shown and isinstance(known, int | float):
        text = f"known questions f1 {known:.3f}; held out, the model alone: {text}"
    return text


def _plain(text: str, limit: int) -> str:
    """Someone's words on one line, secrets masked (``storage.masking.mask_secrets``), cut to ``limit``
    characters (the terminal shows them so)."""
    text = " ".join(mask_secrets(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


ShowText = Callable[[str, int], str]  # a user's text as this front end shows it safely, within a limit


def stats_text(
    stats: dict[str, Any], version: str, manifest: dict[str, Any] | None, show: ShowText = _plain
) -> str:
    up, down = stats.get("upvotes", 0), stats.get("downvotes", 0)
    ratio = stats.get("vote_ratio")
    lines = [
        f"Questions: {stats.get('total', 0)} · unanswered: {stats.get('unanswered', 0)}",
        f"Votes: 👍 {up} · 👎 {down}" + (f" · ratio {ratio:.0%}" if isinstance(ratio, int | float) else ""),
        f"Model: `{version}` — " + format_metrics((manifest or {}).get("metrics") or {}),
    ]
    top = stats.get("top_questions") or []
    if top:
        lines.append("Top questions:")
        for item in top[:5]:
            question, count = (item[0], item[1]) if isinstance(item, list | tuple) else (item, "")
            lines.append(f"  {count}× {show(str(question), 80)}")
    return "\n".join(lines)


GROUP_SCORE = 0.5  # a question joins a group when the group's first question matches it this well
UNANSWERED_SCAN = 200  # the oldest unanswered questions that /unanswered groups
GROUPS_SHOWN = 15


@dataclass(frozen=True)
class UnansweredGroup:
    """Similar unanswered questions: ``members`` oldest first, so ``members[0]`` is the oldest example."""

    members: tuple[dict[str, Any], ...]

    @property
    def example(self) -> dict[str, Any]:
        return self.members[0]

    @property
    def count(self) -> int:
        return len(self.members)


def group_unanswered(rows: list[dict[str, Any]], min_score: float = GROUP_SCORE) -> list[UnansweredGroup]:
    """Group similar questions (``rows`` oldest first, each with ``question``), most asked group first.

    By the same retrieval the answers use (lexical, over these questions only): two questions are similar
    when one's search scores the other ``>= min_score``, and a group is everything linked that way to its
    oldest question ("how long does a match last" joins "how long is a match" through "how long is a
    football match?"). One answer taught for the example then covers the group's rewordings too.
    """
    if not rows:
        return []
    from training.retrieval.index import RetrievalIndex

    index = RetrievalIndex.build([{"question": str(r["question"]), "answer": ""} for r in rows])
    similar = [
        {m.row for m in found if m.score >= min_score}
        for found in index.search_many([str(r["question"]) for r in rows], k=len(rows))
    ]
    grouped: set[int] = set()
    groups = []
    for seed in range(len(rows)):
        if seed in grouped:
            continue
        members, frontier = {seed}, [seed]
        while frontier:
            for other in similar[frontier.pop()] - members - grouped:
                members.add(other)
                frontier.append(other)
        grouped |= members
        groups.append(UnansweredGroup(tuple(rows[j] for j in sorted(members))))
    return sorted(groups, key=lambda g: -g.count)  # stable: among equal counts, the oldest first


async def unanswered_groups(
    session_factory: SessionFactory, limit: int = UNANSWERED_SCAN, guilds: Collection[int] | None = None
) -> list[UnansweredGroup]:
    """The oldest ``limit`` unanswered questions (with ``guilds``: the home community's), grouped
    (``group_unanswered``, in a worker thread); chat and abuse logged as unanswered before the store could
    tell them apart are left out (``chatter.not_asked``)."""
    from bot.answering.chatter import not_asked_many

    def grouped(rows: list[dict[str, Any]]) -> list[UnansweredGroup]:
        whys = not_asked_many([str(r["question"]) for r in rows])
        return group_unanswered([r for r, why in zip(rows, whys, strict=True) if why is None])

    rows = await async_store.unanswered(session_factory, limit=limit, guilds=guilds)
    return await asyncio.to_thread(grouped, rows)


DISCORD_TEACH_HINT = "`/teach question: … answer: …`"


def unanswered_text(
    groups: list[UnansweredGroup],
    shown: int = GROUPS_SHOWN,
    teach_hint: str = DISCORD_TEACH_HINT,
    show: ShowText = _plain,
) -> str:
    """The grouped queue as text; ``teach_hint`` is how this front end teaches an answer, ``show`` how it
    shows people's questions (Discord: escaped, so a masked link or a code fence stays text)."""
    if not groups:
        return "No unanswered questions. 🎉"
    lines = [f"Unanswered questions, similar ones grouped, most asked first — answer with {teach_hint}:"]
    for group in groups[:shown]:
        example = group.example
        when = example.get("created_at")
        stamp = f" · since {when.strftime('%Y-%m-%d')}" if hasattr(when, "strftime") else ""
        similar = f" (+{group.count - 1} similar)" if group.count > 1 else ""
        question = show(str(example["question"]), 150)
        lines.append(f"• {group.count}× {question}{similar}{stamp} · #{example['id']}")
    if len(groups) > shown:
        lines.append(f"… and {len(groups) - shown} more groups.")
    return "\n".join(lines)


def questions_per_day_png(per_day: list[tuple[Any, int]]) -> bytes:
    """A small bar chart of questions per day, as PNG bytes (matplotlib's Agg backend: no display)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.5), dpi=100)
    ax = fig.add_subplot()
    labels = [d.strftime("%m-%d") if hasattr(d, "strftime") else str(d)[5:10] for d, _ in per_day]
    ax.bar(labels, [n for _, n in per_day], color="#5865F2")
    ax.set_title("Questions per day")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# -- synonyms (word alterations) -------------------------------------------------------------------------

MAX_MEANINGS = 5  # what one word may stand for


def parse_meanings(text: str) -> list[str]:
    """An admin's meanings of a word, separated by commas, semicolons or ``|`` ("goalkeeper, keeper")."""
    return [m.strip() for m in re.split(r"[,;|]", text) if m.strip()]


def synonym_problem(word: str, means: list[str]) -> str | None:
    """Why ``word`` cannot be stored as meaning ``means``, or None."""
    from storage.models import MAX_SYNONYM_CHARS
    from training.retrieval.alterations import MAX_PHRASE_WORDS, key_of, narrowed_key

    if not word.strip():
        return "Say which word people type."
    if not means:
        return "Say what it means, in the dataset's words (several: separate them with commas)."
    if len(means) > MAX_MEANINGS:
        return f"At most {MAX_MEANINGS} meanings per word."
    for text in (word, *means):
        if len(text) > MAX_SYNONYM_CHARS:
            return f"“{text[:40]}…” is {len(text)} characters; the limit is {MAX_SYNONYM_CHARS}."
        if not key_of(text):
            return f"“{text}” has no word the search uses (only words like “the”, “a”, “is”)."
        if len(key_of(text)) > MAX_PHRASE_WORDS:
            return f"“{text}” is more than {MAX_PHRASE_WORDS} words; use a shorter phrase."
    if problem := narrowed_key(word):
        return problem + "."
    if {key_of(m) for m in means} == {key_of(word)}:
        return f"“{word}” already finds the same words as “{', '.join(means)}”."
    return None


async def _apply_synonyms(session_factory: SessionFactory, answerer: Any) -> None:
    """The store's synonyms, served by this process from the next question on (other processes follow
    the change log)."""
    from bot.answering.knowledge_sync import load_knowledge

    await load_knowledge(answerer, session_factory, {"synonyms"})


def _describe(alteration: Any) -> str:
    how = {
        "learned": f"learned from the dataset ({alteration.rule})",
        "generic": "built in",
        "admin": "an admin's",
    }
    source = how.get(alteration.source, alteration.source)
    return f"“{alteration.word}” → {', '.join(alteration.means)} ({source})"


async def add_synonym(
    session_factory: SessionFactory, answerer: Any, word: str, means: list[str], admin_id: int | str | None
) -> str:
    """Store that people type ``word`` for ``means`` and serve it at once; the reply for the admin."""
    word, means = " ".join(word.split()), [" ".join(m.split()) for m in means]
    problem = synonym_problem(word, means)
    if problem:
        return problem
    await async_store.set_synonym(session_factory, word, means, admin_id)
    await _apply_synonyms(session_factory, answerer)
    return (
        f"“{word}” now also means: {', '.join(means)}. Applied from the next question on, and part of the "
        "next `/retrain`."
    )


async def remove_synonym(
    session_factory: SessionFactory, answerer: Any, word: str, admin_id: int | str | None
) -> str:
    """Take back an admin's synonym for ``word``; where ``word`` has no admin's synonym but one learned from
    the dataset (or built in), switch that one off. The reply for the admin."""
    word = " ".join(word.split())
    if not word:
        return "Say which word."
    mine = answerer.knowledge.alterations.find(word)  # the admin's, while their row is in the store
    removed = await async_store.remove_synonym(session_factory, word)
    if removed:
        await _apply_synonyms(session_factory, answerer)
        now = answerer.knowledge.alterations.find(word)
        if (
            now is not None
            and mine is not None
            and now.source == "admin"
            and set(now.means) == set(mine.means)
        ):
            # The same synonym, trained into the checkpoint by a /retrain (which passes it on to the next):
            # taken back, that copy is switched off too, or it would serve on and be retrained forever.
            await async_store.set_synonym(session_factory, word, [], admin_id)
            await _apply_synonyms(session_factory, answerer)
            now = None
        if now is None:
            return f"Removed “{word}”: it is searched as typed from the next question on."
        return f"Removed yours; {_describe(now)} applies again (remove it again to switch that off)."
    current = answerer.knowledge.alterations.find(word)
    if current is None:
        return f"“{word}” has no synonym."
    await async_store.set_synonym(session_factory, word, [], admin_id)  # an empty one: switched off
    await _apply_synonyms(session_factory, answerer)
    return f"Switched off {_describe(current)}: “{word}” is searched as typed from the next question on."


async def synonyms_text(session_factory: SessionFactory, answerer: Any, word: str | None = None) -> str:
    """What ``word`` means to the search, or the admins' synonyms and how many were learned."""
    alterations = answerer.knowledge.alterations
    if word and word.strip():
        found = alterations.find(word)
        return (
            _describe(found) if found is not None else f"“{word.strip()}” has no synonym: searched as typed."
        )
    from training.retrieval.alterations import key_of

    rows = await async_store.synonyms(session_factory)
    lines = [f"“{r['word']}” → {', '.join(r['means']) or '(none: switched off)'}" for r in rows]
    stored = {key_of(r["word"]) for r in rows}
    counts: dict[str, int] = {}
    for alteration in alterations:
        # An admin's synonym not in the store is the checkpoint's: its glossary (`qabot train --synonyms`,
        # make run's example) or what an earlier /retrain carried; served, and switched off like any other.
        source = "trained" if alteration.source == "admin" and key_of(alteration.word) not in stored else ""
        counts[source or alteration.source] = counts.get(source or alteration.source, 0) + 1
    trained = counts.get("trained", 0)
    head = (
        f"{len(rows)} admin synonym(s)"
        + (f", and {trained} the model was trained with (an admin's glossary)" if trained else "")
        + f"; {counts.get('learned', 0)} learned from the dataset and "
        f"{counts.get('generic', 0)} built in (`word:` shows what one word means)."
    )
    return "\n".join([head, *lines])
