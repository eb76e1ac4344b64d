"""ticket life: solution rounds, closing reason, survey

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("solution_round", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("survey_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("survey_comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("survey_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        for column in ("survey_at", "survey_comment", "survey_score", "closed_reason", "closed_at", "solution_round"):
            batch.drop_column(column)
