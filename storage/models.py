"""The store's tables (SQLAlchemy 2.0 typed declarative).

Schema changes go through Alembic (``storage/migrations``); ``tests/storage`` checks that these models and
the migrations agree. Discord snowflakes are strings (they overflow signed 64-bit integers in some
databases); timestamps are UTC, stored naive and returned timezone-aware on every backend. The
``question_key`` columns hold ``storage.text.question_key``: changing that rule means a migration that
re-keys the stored rows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    false,
    or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

SNOWFLAKE = String(32)
KEY = String(40)  # storage.text.question_key: sha1 hex
MAX_SYNONYM_CHARS = 100  # a synonym's word, and each of its meanings

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # naive values are taken to be UTC already
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


# Zones of a message the bot could not answer that asked nothing to teach: chat ("thanks!", "lol", "?") and
# abuse (an insult, an order to drop its instructions). Never unanswered: no queue, gap, escalation or
# export holds them (``storage.repo.ZONES``).
NOT_ASKED = ("chat", "abuse")


class Exchange(Base):
    """One question the bot received and the answer it gave."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(KEY, index=True)
    answer: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    unanswered: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # "discord" | "terminal"
    guild_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    channel_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    message_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    user_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    # The bot's own reply message: reactions arrive with this id and map back to the exchange.
    reply_message_id: Mapped[str | None] = mapped_column(SNOWFLAKE, index=True)
    # How the answer was found (revision 0002; NULL on older rows): the known question retrieval matched,
    # its normalised score, and the decision zone, "answer" | "suggest" | "fallback" (storage.repo.ZONES),
    # or one of NOT_ASKED (a value, not a schema change: no migration).
    matched_question: Mapped[str | None] = mapped_column(Text)
    match_score: Mapped[float | None] = mapped_column(Float)
    zone: Mapped[str | None] = mapped_column(String(16))
    # When the question was posted to the admins' escalation channel (at most once: repo.mark_escalated).
    escalated_at: Mapped[datetime | None] = mapped_column()
    # The known question this exchange turned out to mean (revision 0003): the one its asker chose from
    # "did you mean", or the wording an admin taught a "not sure" question as; its wording is answered as
    # that question from then on (repo.record_choice, repo.learned_wordings).
    chosen_question: Mapped[str | None] = mapped_column(Text)
    # True when an admin taught that wording (revision 0004): members' votes never take it back.
    chosen_by_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A follow-up (revision 0009): "and 2018?" read with the question before it. ``question`` holds that
    # reading (what was answered); ``followup_words`` what the asker typed (NULL: a question read alone).
    # Neither is a question of its own to export, correct or learn as a wording: an answered follow-up
    # stands for the known question it matched, whose ``question_key`` is ``followup_key`` (NULL when it
    # matched none in the answer zone), so exports group it with that question's other rows.
    followup_words: Mapped[str | None] = mapped_column(Text)
    followup_key: Mapped[str | None] = mapped_column(KEY)
    # A DM from someone in none of the home guilds (revision 0010): a stranger who shares another server
    # with the bot. Answered like anyone, but not the community's: no queue, gap or top question shows it.
    outsider: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    feedback: Mapped[list[Feedback]] = relationship(back_populates="exchange", passive_deletes=True)
    corrections: Mapped[list[Correction]] = relationship(back_populates="exchange", passive_deletes=True)

    # The unanswered queue scans unanswered rows oldest first.
    __table_args__ = (Index("ix_exchanges_unanswered_created_at", "unanswered", "created_at"),)

    @classmethod
    def asked_in(cls, guilds: Collection[int | str] | None) -> ColumnElement[bool]:
        """Asked in ``guilds``, or outside any guild by a member (DMs, the terminal): the home community's
        (``HOME_GUILD_IDS``); with no ``guilds``, every exchange but strangers' DMs. Another server's
        questions, and a stranger's DMs (``outsider``), are not the community's gaps, queue or top
        questions."""
        if not guilds:
            return cls.outsider.is_(False)
        return or_(
            and_(cls.guild_id.is_(None), cls.outsider.is_(False)), cls.guild_id.in_([str(g) for g in guilds])
        )


class Feedback(Base):
    """A user's vote on an answer: one per user per exchange, changeable and removable."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    # Indexed (revision 0009): each vote reads the voter's earlier votes (``storage.votes.question_vote``).
    user_id: Mapped[str] = mapped_column(SNOWFLAKE, index=True)
    vote: Mapped[int] = mapped_column(SmallInteger)  # +1 / -1
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    exchange: Mapped[Exchange] = relationship(back_populates="feedback")

    # The unique index also serves the per-exchange vote sums of exports (exchange_id leads).
    __table_args__ = (
        UniqueConstraint("exchange_id", "user_id"),
        CheckConstraint("vote IN (-1, 1)", name="vote"),
    )


class Correction(Base):
    """An admin's corrected answer for an exchange; the latest one replaces the bot's answer in exports."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(Text)
    admin_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    exchange: Mapped[Exchange] = relationship(back_populates="corrections")

    __table_args__ = (Index("ix_corrections_exchange_id_created_at", "exchange_id", "created_at"),)


class TaughtPair(Base):
    """A question/answer an admin added with ``/teach`` or ``qabot import``."""

    __tablename__ = "taught_pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(KEY, index=True)
    answer: Mapped[str] = mapped_column(Text)
    admin_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    source: Mapped[str] = mapped_column(String(16), default="teach")  # "teach" | "import" | "member"
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class TrainingRun(Base):
    """One retrain: who started it, on what data, and how it ended."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | succeeded | failed
    triggered_by: Mapped[str | None] = mapped_column(String(64))
    dataset_sha256: Mapped[str | None] = mapped_column(String(64))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class Change(Base):
    """One write that changed what the bot knows (revision 0005), committed with it: every process that
    serves the store polls this log and reloads what changed (``storage.changes``). Pruned to about a day."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # storage.changes.KINDS
    # For kind "model": the checkpoint folder a gated retrain (or /reload) now serves, and its version.
    model_path: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(64))


class Synonym(Base):
    """An admin's word alteration (revision 0006): people type ``word`` for each of ``means``, the dataset's
    words; no ``means``: ``word`` has none, not even one learned from the data. Every process applies them to
    the questions' words at once (``storage.changes``: "synonym"), and a retrain writes them into its
    checkpoint."""

    __tablename__ = "synonyms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(String(MAX_SYNONYM_CHARS))
    word_key: Mapped[str] = mapped_column(String(MAX_SYNONYM_CHARS), unique=True)  # normalize_question(word)
    means: Mapped[list[str]] = mapped_column(JSON)
    admin_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now, index=True)


class Candidate(Base):
    """A question/answer pair proposed by the community (revision 0007): a trusted member's reply to a
    question the bot could not answer, a message marked as the answer (✅, "Mark as answer"), a solved forum
    post, or one harvested from a channel's history. It waits for an admin (``status`` "pending") unless
    trusted members' answers go live at once; accepting it makes a ``TaughtPair`` (source "member") that
    is served at once and joins the next retrain. Provenance (message links, who marked and who accepted
    it) stays here (``storage.candidates``)."""

    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # storage.candidates.STATUSES
    source: Mapped[str] = mapped_column(String(16))  # storage.candidates.SOURCES
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(KEY, index=True)
    answer: Mapped[str] = mapped_column(Text)
    guild_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    channel_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    question_message_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    answer_message_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    question_url: Mapped[str | None] = mapped_column(Text)
    answer_url: Mapped[str | None] = mapped_column(Text)
    asker_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    author_id: Mapped[str | None] = mapped_column(SNOWFLAKE)  # who wrote the answer
    marked_by: Mapped[str | None] = mapped_column(SNOWFLAKE)  # who marked it (✅, command), if anyone
    exchange_id: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(SNOWFLAKE)  # the admin (or "trusted") who decided
    decided_at: Mapped[datetime | None] = mapped_column()
    taught_pair_id: Mapped[int | None] = mapped_column(ForeignKey("taught_pairs.id", ondelete="SET NULL"))

    # The review queue reads pending rows oldest first.
    __table_args__ = (Index("ix_candidates_status_created_at", "status", "created_at"),)


class Dismissal(Base):
    """A review item an admin closed without changing what the bot knows (revision 0008): a 👎'd answer
    judged right (``kind`` "downvote"). The review queue leaves it out from then on (``storage.review``)."""

    __tablename__ = "dismissals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    admin_id: Mapped[str | None] = mapped_column(SNOWFLAKE)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (UniqueConstraint("kind", "exchange_id"),)


class HarvestCursor(Base):
    """How far a channel's history was harvested (revision 0008): the newest message read, so the next
    harvest of that channel starts after it (``storage.review``)."""

    __tablename__ = "harvest_cursors"

    channel_id: Mapped[str] = mapped_column(SNOWFLAKE, primary_key=True)
    last_message_id: Mapped[str] = mapped_column(SNOWFLAKE)
    messages_read: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class DigestPost(Base):
    """The weekly digest of one ISO week (revision 0009), claimed before it is posted: of the processes
    serving one store, the one whose insert lands posts it; the others skip (``storage.digests``)."""

    __tablename__ = "digest_posts"

    week: Mapped[str] = mapped_column(String(16), primary_key=True)  # "2026-W49"
    claimed_at: Mapped[datetime] = mapped_column(default=utc_now)
