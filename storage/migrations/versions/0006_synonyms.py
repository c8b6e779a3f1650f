"""Admins' synonyms: words people type for the dataset's words (``/synonym``), applied to every question's
words at once and written into the next retrain's checkpoint.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:00:00

A new table only; older rows need none. The downgrade drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "synonyms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.Column("word_key", sa.String(length=100), nullable=False),
        sa.Column("means", sa.JSON(), nullable=False),
        sa.Column("admin_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synonyms")),
        sa.UniqueConstraint("word_key", name=op.f("uq_synonyms_word_key")),
    )
    with op.batch_alter_table("synonyms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_synonyms_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("synonyms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_synonyms_updated_at"))
    op.drop_table("synonyms")
