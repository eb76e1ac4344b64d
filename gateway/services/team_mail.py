"""Queue a mail to the team that is about no one ticket (a digest, a monthly report).

Both go from the service address, and a reply to them goes to the team,
never to the service address, where it would open a ticket; each is
marked automatic (``Auto-Submitted: auto-generated``) so no vacation
reply comes back, and carries a VERP return path so a bounce finds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.config import MailboxConfig
from gateway.mail import verp
from gateway.mail.ids import new_message_id
from gateway.outbound import compose
from gateway.outbound.render import Rendered
from gateway.store import outbox
from gateway.store.db import Transaction


def queue(tx: Transaction, mailbox: MailboxConfig, *, kind: str, to: Sequence[str], parts: Rendered,
          now: datetime) -> str:
    """Compose and queue one such mail; its Message-ID."""
    message_id = new_message_id(kind, mailbox.domain)
    envelope = compose.Envelope(from_name=mailbox.display_name, from_address=mailbox.address, to=list(to),
                                message_id=message_id, date=now, reply_to=(mailbox.team or (None,))[0],
                                auto_submitted="auto-generated", language=mailbox.language)
    token = verp.new_token()
    outbox.add(tx, ticket_id=None, kind=kind, message_id=message_id,
               mail_from=verp.return_path(token, mailbox.domain), rcpt_tos=list(to),
               raw=compose.message(parts, envelope), at=now, verp_token=token)
    return message_id
