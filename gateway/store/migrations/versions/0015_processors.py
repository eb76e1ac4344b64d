"""processor: when each processing worker last looked for mail

One row per running ``process`` role (``host:pid``), its ``seen_at``
renewed every few seconds and deleted when the worker stops.  The MTA
pipe (``gateway ingest``) reads it: with a worker alive it only stores the
mail and leaves it to that worker, instead of loading the whole pipeline
for one mail (issue 19: 1.4 s a mail; storing alone needs ~0.2 s).

And ``ix_outbox_recent_kind`` (kind, created_at): the automatic answers'
hourly limit for a subaddressed sender counts its whole +tag family
(``store.outbox.count_recent``), which no equality on the recipient can
find; by kind and the last hour it reads that hour's rows, not the table
(30-46 ms a mail at 200,000 rows without it).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processor",
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node"),
    )
    op.create_index("ix_outbox_recent_kind", "outbox", ["kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recent_kind", table_name="outbox")
    op.drop_table("processor")
