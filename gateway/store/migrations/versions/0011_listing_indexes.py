"""listing indexes: `tickets list --status X` and `tickets list --overdue` without reading every ticket

``ix_ticket_status`` is ``(status, id)``: one status's newest tickets are a
backward range scan that stops at ``--limit`` (at 213k tickets the query
read the whole table: 119 ms).  The two overdue indexes are partial: they
hold only tickets whose SLA target is still unmet (``first_response_at``
or ``resolved_at`` empty), the few that ``--overdue`` looks for, so a
ticket leaves them once answered and they stay small.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_UNANSWERED = sa.text("first_response_at IS NULL")
_UNRESOLVED = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_ticket_status", "ticket", ["status", "id"])
    op.create_index("ix_ticket_first_response_due", "ticket", ["first_response_due_at"],
                    sqlite_where=_UNANSWERED, postgresql_where=_UNANSWERED)
    op.create_index("ix_ticket_resolution_due", "ticket", ["resolution_due_at"],
                    sqlite_where=_UNRESOLVED, postgresql_where=_UNRESOLVED)


def downgrade() -> None:
    op.drop_index("ix_ticket_resolution_due", table_name="ticket")
    op.drop_index("ix_ticket_first_response_due", table_name="ticket")
    op.drop_index("ix_ticket_status", table_name="ticket")
