"""report: when a ticket was last reopened, and the indexes `gateway report` reads

``ticket.reopened_at`` is the last time a closed or returned ticket went
back to work (an analyst's ``#reabrir``, a requester's reply within
``reopen_window``); the timeline had it only as an event.  The five
``(mailbox, <moment>)`` indexes let the report count one mailbox's month
by range scans (opened, closed and returned, first responses, resolutions,
reopenings) instead of reading every ticket.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: index name -> the moment it ranges over, after the mailbox
INDEXES = {
    "ix_ticket_report_created": "created_at",
    "ix_ticket_report_closed": "closed_at",
    "ix_ticket_report_first_response": "first_response_at",
    "ix_ticket_report_resolved": "resolved_at",
    "ix_ticket_report_reopened": "reopened_at",
}


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))
    for name, column in INDEXES.items():
        op.create_index(name, "ticket", ["mailbox", column])


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("reopened_at")
