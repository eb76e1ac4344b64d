"""bounces: the VERP token of each outbox row, and the addresses that bounced for good

``outbox.verp_token`` is the random part of the return path
``bounce+<token>@<mailbox domain>`` every mail is sent with, so a delivery
report names the row (and the ticket) it is about.  ``bouncing_address``
holds the addresses a hard bounce said are dead: reminders and automatic
closing notices stop going to them, until the address writes to us again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("verp_token", sa.String(length=32), nullable=True))
        batch.create_index("ix_outbox_verp_token", ["verp_token"], unique=True)
    op.create_table(
        "bouncing_address",
        sa.Column("address", sa.String(length=320), primary_key=True),
        sa.Column("failed_at", _TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("bounces", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bouncing_address")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_verp_token")
        batch.drop_column("verp_token")
