"""Follow-ups are marked, and the weekly digest is claimed before it is posted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00

``exchanges.followup_words``: what the asker typed when the question was read as a follow-up of the one
before it ("and 2018?"; ``question`` keeps the reading, "who won the world cup in 2014 and 2018?"), NULL for
a question read alone. ``exchanges.followup_key``: for an answered follow-up, the ``question_key`` of the
known question it matched, the question it is exported and corrected as. Rows older than this revision
are taken as read alone. ``digest_posts``: one row per ISO week whose digest a process claimed (the key
makes a second claim fail). An index on ``feedback.user_id``: every vote reads the voter's earlier ones.

The columns are added with a plain ADD COLUMN and dropped with SQLite's own DROP COLUMN (3.35+): a batch
rebuild of ``exchanges`` would cascade-delete its votes and corrections (see 0002).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DROP_COLUMN = (3, 35, 0)
NEW_COLUMNS = ("followup_words", "followup_key")


def upgrade() -> None:
    op.add_column("exchanges", sa.Column("followup_words", sa.Text(), nullable=True))
    op.add_column("exchanges", sa.Column("followup_key", sa.String(length=40), nullable=True))
    op.create_table(
        "digest_posts",
        sa.Column("week", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_digest_posts")),
    )
    op.create_index(op.f("ix_feedback_user_id"), "feedback", ["user_id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_DROP_COLUMN:
        raise RuntimeError(
            f"downgrading below 0009 needs SQLite 3.35 or newer (this Python has {sqlite3.sqlite_version}): "
            "older versions can only rebuild the table, which would delete every vote and correction"
        )
    op.drop_index(op.f("ix_feedback_user_id"), table_name="feedback")
    op.drop_table("digest_posts")
    with op.batch_alter_table("exchanges", schema=None, recreate="never") as batch_op:
        for name in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)
