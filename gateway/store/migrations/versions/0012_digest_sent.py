"""digest_sent: the last day each mailbox's daily digest was queued

One row per mailbox with a digest; ``day`` is the mailbox's local date
(``YYYY-MM-DD``).  The row is claimed in the transaction that queues the
digest, so a restart or a second node never sends one day's digest twice.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_sent",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox"),
    )


def downgrade() -> None:
    op.drop_table("digest_sent")
