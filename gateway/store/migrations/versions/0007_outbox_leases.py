"""outbox leases and per-recipient results: who holds a row being sent, and how each address fared

``lease_owner`` names the sender process holding a ``sending`` row
(``host:pid:token``), so a restarted sender takes back at once the rows of
a process that died instead of waiting for their lease to run out.
``rcpt_results`` holds, per recipient, the relay's last answer
(``{"a@example.org": "sent", "b@example.org": "550 5.1.1 ..."}``), so only
the addresses that were refused for now are tried again.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("lease_owner", sa.String(length=200), nullable=True))
    op.add_column("outbox", sa.Column("rcpt_results", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("rcpt_results")
        batch.drop_column("lease_owner")
