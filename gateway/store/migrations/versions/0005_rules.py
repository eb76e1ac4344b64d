"""rules: tags, an SLA a rule set, the fields still missing, and the contact fields read from the mail

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sla_first_response", sa.String(16), nullable=True))
        batch.add_column(sa.Column("sla_resolution", sa.String(16), nullable=True))
        batch.add_column(sa.Column("missing_fields", sa.String(128), nullable=False, server_default=""))
    op.create_table(
        "ticket_field",
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("ticket_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("ticket_field")
    with op.batch_alter_table("ticket") as batch:
        for column in ("missing_fields", "sla_resolution", "sla_first_response", "tags"):
            batch.drop_column(column)
