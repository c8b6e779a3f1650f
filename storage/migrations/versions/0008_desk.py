"""The admins' knowledge desk: review items an admin dismissed (a 👎'd answer judged right), and how far
each channel's history was harvested (so a harvest resumes where the last one stopped).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:40:00

New tables only; older rows need none. The downgrade drops them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    snowflake = sa.String(length=32)
    op.create_table(
        "dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("admin_id", snowflake, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_dismissals_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dismissals")),
        sa.UniqueConstraint("kind", "exchange_id", name=op.f("uq_dismissals_kind_exchange_id")),
    )
    op.create_table(
        "harvest_cursors",
        sa.Column("channel_id", snowflake, nullable=False),
        sa.Column("last_message_id", snowflake, nullable=False),
        sa.Column("messages_read", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_harvest_cursors")),
    )


def downgrade() -> None:
    op.drop_table("harvest_cursors")
    op.drop_table("dismissals")
