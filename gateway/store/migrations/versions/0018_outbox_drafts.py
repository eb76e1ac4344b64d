"""outbox drafts: a notice queued as its parts, the MIME written when sent

No table changes.  From this revision on, ``outbox_raw.raw`` may hold a
draft (``gateway.outbound.compose.draft``: a NUL, ``gateway draft 1``, a
line of JSON, the texts) that only a sender of this revision or later can
write as a mail.  The revision exists so that an older gateway refuses
the database (its schema check finds it ahead) instead of sending a
draft's bytes to citizens as a mail.

Going down is refused while a draft waits to be sent: an older sender
would send it as it is.  Stop the gateway, let the sender empty the queue
(``gateway send``), then go down: a gateway still running could queue a
draft after the look.  Drafts already sent stay as they are (nothing sends
them again).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# compose._DRAFT as this revision wrote it (a migration does not import the code of a later day).
_DRAFT = b"\0gateway draft 1\n"


def upgrade() -> None:
    """Nothing to change: the revision number is the point."""


def downgrade() -> None:
    waiting = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM outbox JOIN outbox_raw ON outbox_raw.message_id = outbox.message_id "
        "WHERE outbox.status IN ('queued', 'sending') AND substr(outbox_raw.raw, 1, :length) = :draft"),
        {"length": len(_DRAFT), "draft": _DRAFT}).scalar()
    if waiting:
        raise RuntimeError(
            f"{waiting} notice(s) wait in the outbox as drafts, which a gateway before revision 0018 would send "
            "as they are stored, not as mails: run `gateway send` until none is queued, then downgrade")
