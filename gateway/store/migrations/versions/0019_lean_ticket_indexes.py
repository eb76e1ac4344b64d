"""lean ticket indexes: fewer index entries written for each new ticket

Opening a ticket wrote fifteen index entries besides the row on SQLite
(fourteen indexes and the protocol's unique one; on PostgreSQL the primary
key's index is one more), three fewer now.  The ticket's insert was the
dearest statement of a processed mail (154 us of SQLite's ~640 us a mail,
replayed with its parameters on this machine), and every index is a B-tree
page more for each group's commit to write.

``ix_ticket_report_first_response``, ``_resolved`` and ``_reopened`` hold
only the tickets that have the moment (``... IS NOT NULL``): a new ticket
has none of them, and ``gateway report`` reads them only by a range of that
moment, which no empty moment is in.  ``_closed`` keeps its empty ones: the
backlog scans "still open" as ``closed_at IS NULL``.

``ix_ticket_mailbox`` stays, though five composite indexes begin with
``mailbox``: on SQLite it is ``(mailbox, rowid)``, and one mailbox's newest
tickets (the team page's queue unfiltered and its next pages, ``tickets list
--mailbox``) are a backward scan of it that stops at the limit; none of the
others has ``id`` next (a first version of this revision dropped it).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

#: index name -> the moment it ranges over, after the mailbox
PARTIAL = {
    "ix_ticket_report_first_response": "first_response_at",
    "ix_ticket_report_resolved": "resolved_at",
    "ix_ticket_report_reopened": "reopened_at",
}


def upgrade() -> None:
    for name, column in PARTIAL.items():
        present = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name="ticket")
        op.create_index(name, "ticket", ["mailbox", column], sqlite_where=present, postgresql_where=present)


def downgrade() -> None:
    for name, column in PARTIAL.items():
        op.drop_index(name, table_name="ticket")
        op.create_index(name, "ticket", ["mailbox", column])
