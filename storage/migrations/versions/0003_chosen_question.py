"""Exchanges record the known question they turned out to mean: the one the asker chose from "did you
mean", or the wording an admin taught a "not sure" question as.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00

The asker's wording is then answered as that question (``storage.repo.learned_wordings``). The
downgrade drops the column the way 0002's does (SQLite's own ``DROP COLUMN``: a batch rebuild would
cascade-delete the votes and corrections).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DROP_COLUMN = (3, 35, 0)


def upgrade() -> None:
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chosen_question", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_DROP_COLUMN:
        raise RuntimeError(
            f"downgrading below 0003 needs SQLite 3.35 or newer (this Python has {sqlite3.sqlite_version}): "
            "older versions can only rebuild the table, which would delete every vote and correction"
        )
    with op.batch_alter_table("exchanges", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("chosen_question")
