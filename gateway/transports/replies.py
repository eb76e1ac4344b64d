"""SMTP/LMTP replies, named once and shared by the listener and its tests."""

from __future__ import annotations

from typing import Final

from gateway.delivery import Receipt

OK: Final = "250 2.1.5 OK"
NO_SUCH_MAILBOX: Final = "550 5.1.1 No such mailbox here; this server only accepts mail for its service addresses"
INTERNAL_ONLY: Final = ("550 5.7.1 This mailbox takes mail only from the service's own network or a logged-in "
                        "analyst; send through the submission listener")
TOO_MANY_RECIPIENTS: Final = "452 4.5.3 Too many recipients; send the rest in another transaction"
TEMPFAIL: Final = "451 4.3.0 Mail not stored, please try again later"
INTERNAL_ERROR: Final = "451 4.3.0 Internal error, please try again later"
#: A fault of ours that may have left the session out of step: it is closed after this.
CLOSING_ON_ERROR: Final = "421 4.3.0 Internal error, closing connection; please try again later"
#: Before the greeting, to a connection beyond ``[smtp] max_connections_per_peer`` or ``max_connections``.
SHUTTING_DOWN: Final = "421 4.3.2 Service shutting down, please try again later"
TOO_MANY_FROM_PEER: Final = "421 4.7.0 Too many connections from your address; try again later"
TOO_MANY_CONNECTIONS: Final = "421 4.7.0 Too many connections; try again later"


def for_receipt(receipt: Receipt) -> str:
    """The answer to DATA: 250 only when the mail is durably stored."""
    if receipt.accepted:
        return f"250 2.0.0 OK: stored as #{receipt.inbox_id}"
    return TEMPFAIL
