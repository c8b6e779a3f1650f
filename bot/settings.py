"""All of qabot's settings in one pydantic-settings object, read from the environment and ``.env``.

Only entry points (the ``qabot`` CLI) build a ``Settings``; everything below receives it (or the values
it needs) as arguments. ``DISCORD_TOKEN`` is a ``SecretStr``: its repr is masked and it is never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from training.prompt import DEFAULT_MAX_NEW_TOKENS

DEFAULT_DATABASE_URL = "sqlite:///data/qabot.db"
DEFAULT_MODEL_DIR = Path("models/current")
DEFAULT_FALLBACK = "I'm not sure about that yet."
# The answer service's defaults, shared by the Settings fields below and ``Answerer.__init__``.
DEFAULT_MAX_BATCH_SIZE = 16
DEFAULT_BATCH_WAIT_MS = 5.0
DEFAULT_REQUEST_TIMEOUT_S = 60.0
# Questions that may wait at once. Measured capacity on a 2-core CPU is about 8 answers a second
# (bench/inference.py: ~420 tokens/s at 8 askers, ~50 tokens an answer); times the default 60 s request
# timeout that is ~500: a question queued behind more would time out before its turn anyway.
DEFAULT_MAX_QUEUE = 512
DEFAULT_ANSWER_CACHE = 1024


def _split_list(value: object) -> object:
    """Accept ``"1,2, 3"`` (and JSON-ish lists) from the environment as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    # env_ignore_empty: "DEV_GUILD_ID=" (as copied from .env.example) means unset, and "DISCORD_TOKEN=" means
    # no token (terminal mode), not an empty token.
    # allow_inf_nan=False: "inf" or "nan" is no number of seconds (BATCH_WAIT_MS=inf would stall answers).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True, allow_inf_nan=False
    )

    discord_token: SecretStr | None = Field(None, description="Bot token from the Developer Portal (secret).")
    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL; postgresql+psycopg://… too.")
    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Checkpoint folder (or pointer) the bot serves.")
    base_datasets: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path("examples/soccer.json")],
        description="Dataset files included in every retrain (comma-separated).",
    )
    admin_user_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="User ids with admin rights (comma-separated)."
    )
    admin_role: str | None = Field(
        None, description="Name or id of a role whose members (in a home guild) are admins."
    )
    home_guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Guilds whose admins administer the bot (comma-separated); empty: DEV_GUILD_ID, if set.",
    )
    leave_other_guilds: bool = Field(
        False, description="Leave every guild that is not a home guild (a private bot)."
    )
    allowed_channel_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Channels where every message is answered; elsewhere only mentions and DMs.",
    )
    forum_channel_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Forum channels where each new post is a question, answered in the post's thread.",
    )
    reply_in_thread: bool = Field(
        False, description="Answer in a new thread started from the question (text channels)."
    )
    trusted_role_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Roles whose members' replies to questions the bot could not answer are learned (and "
        "proposed by a harvest).",
    )
    trust_member_answers: bool = Field(
        False, description="Trusted members' answers are served at once (else an admin accepts each)."
    )
    user_cooldown_s: float = Field(5.0, ge=0, description="Minimum seconds between two questions of a user.")
    dev_guild_id: int | None = Field(None, description="Guild where slash commands are synced at startup.")
    shard_count: int | None = Field(
        None, ge=1, description="Total gateway shards across all processes (set past 2,500 guilds)."
    )
    shard_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Shards this process serves (comma-separated, 0..SHARD_COUNT-1); empty: all of them.",
    )
    sync_interval_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="How often (s) a bot looks in the store for what other processes taught, voted or "
        "retrained (0: never).",
    )
    max_new_tokens: int = Field(
        DEFAULT_MAX_NEW_TOKENS, ge=1, le=1024, description="Answer length limit in tokens."
    )
    confidence_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Override the calibrated threshold below which the bot says it doesn't know.",
    )
    fallback_answer: str = Field(DEFAULT_FALLBACK, description="What the bot says below the threshold.")
    answer_score: float | None = Field(
        None, ge=0.0, le=1.0, description="Override the calibrated retrieval score needed to answer."
    )
    answer_margin: float | None = Field(
        None, ge=0.0, le=1.0, description="Override the calibrated lead over the runner-up needed to answer."
    )
    suggest_score: float | None = Field(
        None, ge=0.0, le=1.0, description='Override the calibrated score needed for "did you mean".'
    )
    show_sources: bool = Field(True, description="Show the closest known question under Discord answers.")
    learn_from_choices: bool = Field(
        True,
        description='Answer an asker\'s wording as the question they picked from "did you mean", or that an '
        "admin taught their escalated question as.",
    )
    escalation_channel_id: int | None = Field(
        None, description="Channel where unanswered questions are posted for admins to teach."
    )
    digest_weekly: bool = Field(
        False,
        description="Post a weekly digest (gaps, review queue, answer shares) to the escalation channel.",
    )
    digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="The weekday (UTC) the weekly digest is posted on."
    )
    digest_hour: int = Field(9, ge=0, le=23, description="The hour (UTC) the weekly digest is posted at.")
    max_batch_size: int = Field(
        DEFAULT_MAX_BATCH_SIZE, ge=1, description="Most questions generated together in one batch."
    )
    batch_wait_ms: float = Field(
        DEFAULT_BATCH_WAIT_MS,
        ge=0,
        le=1000,
        description="How long an idle answer worker gathers a burst (at most 1000 ms).",
    )
    request_timeout_s: float = Field(DEFAULT_REQUEST_TIMEOUT_S, gt=0, description="Per-question time limit.")
    max_queue: int = Field(
        DEFAULT_MAX_QUEUE,
        ge=1,
        description='Questions that may wait at once; past it askers get "busy, try again".',
    )
    answer_cache: int = Field(
        DEFAULT_ANSWER_CACHE,
        ge=0,
        description="What the model said for this many known questions is kept (0: off).",
    )
    precision: Literal["auto", "fp32", "int8", "fp16", "bf16"] = Field(
        "auto", description="auto | fp32 | int8 (CPU) | fp16 | bf16 (GPU)."
    )

    @field_validator(
        "base_datasets",
        "admin_user_ids",
        "home_guild_ids",
        "allowed_channel_ids",
        "forum_channel_ids",
        "trusted_role_ids",
        "shard_ids",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("model_dir", "base_datasets")
    @classmethod
    def _home(cls, value: Path | list[Path]) -> Path | list[Path]:
        """``~/qabot/models`` is the user's home, as in a shell (a .env is read by no shell)."""
        try:
            return [p.expanduser() for p in value] if isinstance(value, list) else value.expanduser()
        except RuntimeError:  # "~nosuchuser/…"
            raise ValueError("starts with ~user, and there is no such user's home") from None

    @field_validator("fallback_answer")
    @classmethod
    def _said(cls, text: str) -> str:
        if not any(c.isprintable() and not c.isspace() for c in text):  # zero-width characters show nothing
            raise ValueError("is blank: the bot would reply with nothing (leave it unset for the default)")
        return text.strip()

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, ids: list[int], info: ValidationInfo) -> list[int]:
        if not ids:
            return ids
        if "shard_count" not in info.data:
            return ids  # SHARD_COUNT itself was invalid and is reported
        count = info.data["shard_count"]
        if count is None:
            raise ValueError("given without SHARD_COUNT (the total number of shards across all processes)")
        bad = [i for i in ids if not 0 <= i < count]
        if bad:
            raise ValueError(f"{bad} out of range: with SHARD_COUNT={count} each must be 0..{count - 1}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{ids} lists a shard twice")
        return ids

    @property
    def home_guilds(self) -> frozenset[int]:
        """The community's own guilds: ``HOME_GUILD_IDS``, else ``DEV_GUILD_ID``, else none (then only
        ``ADMIN_USER_IDS`` are admins, and every guild counts as the community for votes)."""
        if self.home_guild_ids:
            return frozenset(self.home_guild_ids)
        return frozenset({self.dev_guild_id} if self.dev_guild_id else ())

    def zone_overrides(self) -> dict[str, float]:
        """The zone thresholds set explicitly (the rest come from the checkpoint's calibration)."""
        names = ("answer_score", "answer_margin", "suggest_score")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def token(self) -> str | None:
        """The token's value, for ``bot.start`` only."""
        return self.discord_token.get_secret_value() if self.discord_token else None
