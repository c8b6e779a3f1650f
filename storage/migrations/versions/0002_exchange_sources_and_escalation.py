"""Exchanges record how they were answered (matched question, score, zone) and when they were escalated.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 10:00:00

``zone`` is "answer" | "suggest" | "fallback" (``storage.repo.ZONES``); rows older than this revision keep
NULL in all four columns.

The downgrade drops the columns with SQLite's own ``ALTER TABLE … DROP COLUMN`` (SQLite 3.35+) instead of
batch mode's copy-and-rename: that rebuild drops the old ``exchanges`` table, and with foreign keys on
(``storage.db`` turns them on, and PRAGMA foreign_keys cannot change inside the migration's transaction)
SQLite deletes the rows of a dropped table first, so ON DELETE CASCADE would empty ``feedback`` and
``corrections``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("matched_question", "match_score", "zone", "escalated_at")
SQLITE_DROP_COLUMN = (3, 35, 0)


def upgrade() -> None:
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matched_question", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("match_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("zone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_DROP_COLUMN:
        raise RuntimeError(
            f"downgrading below 0002 needs SQLite 3.35 or newer (this Python has {sqlite3.sqlite_version}): "
            "older versions can only rebuild the table, which would delete every vote and correction"
        )
    with op.batch_alter_table("exchanges", schema=None, recreate="never") as batch_op:
        for name in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)
