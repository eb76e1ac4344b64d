"""assigned: a ticket with an assignee that no analyst has acted on yet

The ``assigned`` state (issue 15, the seeds' "Atribuído") is stored in the
existing ``ticket.status`` column, so no column changes.  Tickets a rule
assigned before this revision stayed ``new`` (an analyst's ``#atribuir``
took them up, so those are ``open``): a ``new`` ticket with an assignee is
exactly one assigned and not yet acted on.  Down again, ``assigned`` is
``new`` (with its assignee), as the older code knew it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE ticket SET status = 'assigned' WHERE status = 'new' AND assignee IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE ticket SET status = 'new' WHERE status = 'assigned'")
