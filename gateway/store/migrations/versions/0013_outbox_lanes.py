"""outbox lanes: acknowledgements leave before team notices

Under load the outbox held thousands of mails, and the sender took them
oldest first: a citizen waited for the protocol behind the team notices
of the tickets opened before theirs.  ``lane`` (0: a mail to a citizen,
1: a team notice, ``store.outbox.lane_of``) orders the claim, and
``ix_outbox_claim`` (``status, lane, next_attempt_at, id``) serves it as a
range scan that stops at the batch size, whatever the backlog.  Rows
already queued get their lane from their kind.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("lane", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.execute("UPDATE outbox SET lane = 1 WHERE substr(kind, 1, 5) = 'team_'")
    op.create_index("ix_outbox_claim", "outbox", ["status", "lane", "next_attempt_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_claim", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lane")
