"""outbox_raw: a queued mail's bytes beside its outbox row

The sender's claim (status, lease) and its settle (result) each updated
the outbox row, and SQLite writes an updated row whole, the mail's
overflow pages too: a team notice carrying a citizen's 5 MB scan went to
the WAL three times, each inside the write lock.  The bytes move to a
table of their own, written once, keyed by the row's unique Message-ID
(known when the insert is deferred to the commit; the row's id is not).
Revision 0016 did the same for the inbox.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_raw",
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbox.message_id"]),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.execute("INSERT INTO outbox_raw (message_id, raw) SELECT message_id, raw FROM outbox")
    if op.get_bind().dialect.name == "postgresql":
        # DROP COLUMN only hides the column there: emptied first, so that the
        # bytes of mails long sent do not stay beyond `purge` and `forget`
        # (VACUUM takes the dead row versions), as in 0016.
        op.execute("UPDATE outbox SET raw = ''::bytea")
    # In place (SQLite 3.35 and later), as 0016 does for the inbox.
    op.drop_column("outbox", "raw")


def downgrade() -> None:
    op.add_column("outbox", sa.Column("raw", sa.LargeBinary(), nullable=False, server_default=sa.text("''")))
    op.execute("UPDATE outbox SET raw = (SELECT raw FROM outbox_raw WHERE outbox_raw.message_id = outbox.message_id) "
               "WHERE message_id IN (SELECT message_id FROM outbox_raw)")
    op.drop_table("outbox_raw")
