"""A stranger's DMs are marked, so that they stay out of the admins' queue, gaps and top questions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 12:00:00

``exchanges.outsider``: true for a DM from someone in none of the home guilds (a stranger who shares
another server with the bot). Older rows are taken as the community's, as they were read before. Added
with a plain ADD COLUMN and dropped with SQLite's own DROP COLUMN (3.35+), as in 0009: a batch rebuild of
``exchanges`` would cascade-delete its votes and corrections.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DROP_COLUMN = (3, 35, 0)


def upgrade() -> None:
    op.add_column("exchanges", sa.Column("outsider", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_DROP_COLUMN:
        raise RuntimeError(
            f"downgrading below 0010 needs SQLite 3.35 or newer (this Python has {sqlite3.sqlite_version}): "
            "older versions can only rebuild the table, which would delete every vote and correction"
        )
    with op.batch_alter_table("exchanges", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("outsider")
