"""inbox_raw: an accepted mail's bytes beside its inbox row

Recording a mail's outcome updated its inbox row, and SQLite writes an
updated row whole when its size changes, the raw mail's overflow pages
too: a 3 MB mail cost 29 ms (6 ms without the bytes) inside the
processing group's write lock, and its bytes went to the WAL a second
time.  The bytes move to a table of their own, written once.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox_raw",
        sa.Column("inbox_id", _ID, autoincrement=False, nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"]),
        sa.PrimaryKeyConstraint("inbox_id"),
    )
    op.execute("INSERT INTO inbox_raw (inbox_id, raw) SELECT id, raw FROM inbox")
    if op.get_bind().dialect.name == "postgresql":
        # There DROP COLUMN only hides the column: the bytes would stay in
        # every row never written again (a processed mail's), out of reach
        # of `gateway purge` and `forget`.  Emptied first, the old row
        # versions are dead, and VACUUM takes them.
        op.execute("UPDATE inbox SET raw = ''::bytea")
    # ALTER TABLE ... DROP COLUMN, in place on SQLite (3.35 and later): a
    # batch's copy of the table would DROP TABLE inbox, which the rows that
    # refer to it (inbox_raw's, the quarantine's) forbid.
    op.drop_column("inbox", "raw")


def downgrade() -> None:
    op.add_column("inbox", sa.Column("raw", sa.LargeBinary(), nullable=False, server_default=sa.text("''")))
    op.execute("UPDATE inbox SET raw = (SELECT raw FROM inbox_raw WHERE inbox_raw.inbox_id = inbox.id) "
               "WHERE id IN (SELECT inbox_id FROM inbox_raw)")
    op.drop_table("inbox_raw")
