"""Candidate pairs from the community: members' answers (replies, ✅, "Mark as answer", solved forum
posts, harvested history) waiting for an admin, with their provenance.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:20:00

A new table only; older rows need none. The downgrade drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    snowflake = sa.String(length=32)
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.String(length=40), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("guild_id", snowflake, nullable=True),
        sa.Column("channel_id", snowflake, nullable=True),
        sa.Column("question_message_id", snowflake, nullable=True),
        sa.Column("answer_message_id", snowflake, nullable=True),
        sa.Column("question_url", sa.Text(), nullable=True),
        sa.Column("answer_url", sa.Text(), nullable=True),
        sa.Column("asker_id", snowflake, nullable=True),
        sa.Column("author_id", snowflake, nullable=True),
        sa.Column("marked_by", snowflake, nullable=True),
        sa.Column("exchange_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", snowflake, nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("taught_pair_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_candidates_exchange_id_exchanges"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["taught_pair_id"],
            ["taught_pairs.id"],
            name=op.f("fk_candidates_taught_pair_id_taught_pairs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_candidates_question_key"), ["question_key"], unique=False)
        batch_op.create_index("ix_candidates_status_created_at", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_candidates_status_created_at")
        batch_op.drop_index(batch_op.f("ix_candidates_question_key"))
    op.drop_table("candidates")
