"""deadlines: the requester's limit, the next reminder, SLA targets and what was said about them

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MOMENTS = ("limit_at", "remind_at", "first_response_due_at", "first_response_at", "resolution_due_at",
            "resolved_at")


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        for column in _MOMENTS:
            batch.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sla_done", sa.String(96), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        for column in ("sla_done", *reversed(_MOMENTS)):
            batch.drop_column(column)
