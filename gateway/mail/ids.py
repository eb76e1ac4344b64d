"""Message-IDs we create, in our own domain, so replies find their ticket.

Each begins with the time it was drawn (milliseconds, hexadecimal), then 64
random bits.  The outbox holds each ID in two unique indexes (the row's, and
the key of its bytes): a wholly random ID put every new mail on a page of
its own in both, and every such page went to the WAL again in each commit;
in time order they fill the last page, and processing a backlog of 10,000
new mails took 8% less CPU a mail (bench/results/ingest.md).  The random
bits keep an ID unguessable, so a reply naming one is a reply to our mail;
the time it tells is in the mail's Date already."""

from __future__ import annotations

import re
import time

from gateway.mail import randomness

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def new_message_id(kind: str, domain: str) -> str:
    """``ack.19afa5e4f3c3f9c0d1e2b4a5968@example.gov.br``, without angle brackets."""
    return f"{_SAFE.sub('', kind)}.{time.time_ns() // 1_000_000:011x}{randomness.token_hex(8)}@{domain}"


def bracket(message_id: str) -> str:
    return f"<{message_id}>"
