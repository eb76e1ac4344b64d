"""The lists of quarantined and filed mails (``gateway quarantine list``,
``gateway filed``) leave the mails' bytes where they are: a flood of
quarantined 25 MB mails is listed without reading them; a mail's bytes are
read when asked for.  On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import inspect, update

from gateway.store import inbox
from gateway.store.db import Database
from gateway.store.models import InboxRow

AT = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
RAW = b"From: mallory@example.org\r\nSubject: grande\r\n\r\n" + b"x" * 100_000 + b"\r\n"
MAIL = {"received_at": AT, "via": "smtp", "peer": "192.0.2.1", "mail_from": "mallory@example.org",
        "rcpt_tos": ["atendimento@example.gov.br"], "authenticated_as": None, "mailbox_hint": None,
        "sha256": "ab" * 32, "message_id": "m1@example.org", "size": len(RAW), "raw": RAW}


def test_listed_mails_bring_no_bytes_until_asked(db: Database) -> None:
    with db.transaction() as tx:
        quarantined, filed = inbox.add_accepted(tx, [MAIL, MAIL])
        inbox.quarantine(tx, quarantined, step="parse", reason="teste", at=AT)
        tx.execute(update(InboxRow).where(InboxRow.id == filed).values(status="processed", outcome="filed"))
    with db.transaction() as tx:
        [(entry, held)] = inbox.quarantined(tx)
        [kept] = inbox.filed(tx)
        assert (held.id, kept.id) == (quarantined, filed)
        assert "raw" in inspect(held).unloaded and "raw" in inspect(kept).unloaded
        assert bytes(held.raw) == RAW == bytes(kept.raw)  # read when asked for
