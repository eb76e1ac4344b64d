"""team_session: logins to the read-only team page

One row per open session of ``/equipe`` (``gateway.web.team``): the
SHA-256 of the random token in the analyst's cookie, the login, a
fingerprint of its credentials line (a new password ends the session),
and when it expires.  Logout deletes the row, so a copy of the old cookie opens
nothing; expired rows are deleted at the next login.

And the queue's indexes: ``(mailbox, status | category | assignee, id)``.
The page lists one mailbox's tickets newest first, 50 at a time; with a
filter that few tickets match (status "new", a category no one uses) the
mailbox index alone read every ticket of the mailbox (227 ms at 1,000,000
tickets, bench/team_page.py); these stop after 50.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_QUEUE = (("ix_ticket_queue_status", "status"), ("ix_ticket_queue_category", "category"),
          ("ix_ticket_queue_assignee", "assignee"))


def upgrade() -> None:
    op.create_table(
        "team_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=320), nullable=False),
        sa.Column("credential", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    for name, column in _QUEUE:
        op.create_index(name, "ticket", ["mailbox", column, "id"])


def downgrade() -> None:
    for name, _column in _QUEUE:
        op.drop_index(name, table_name="ticket")
    op.drop_table("team_session")
