"""Exchanges record who resolved their wording: ``chosen_by_admin`` is true when an admin taught a "not sure"
question under a cleaner wording, false when the asker picked from "did you mean".

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:40:00

A member's 👎 takes back a wording that members' choices taught, never one an admin decided
(``storage.repo.forget_wording``). Rows older than this revision count as members' choices. The downgrade
drops the column as 0003's does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DROP_COLUMN = (3, 35, 0)


def upgrade() -> None:
    # A plain ADD COLUMN on every backend: batch mode would rebuild the SQLite table for a NOT NULL column,
    # and dropping the old table cascades to the votes and corrections (see 0002).
    op.add_column(
        "exchanges", sa.Column("chosen_by_admin", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_DROP_COLUMN:
        raise RuntimeError(
            f"downgrading below 0004 needs SQLite 3.35 or newer (this Python has {sqlite3.sqlite_version})"
        )
    with op.batch_alter_table("exchanges", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("chosen_by_admin")
