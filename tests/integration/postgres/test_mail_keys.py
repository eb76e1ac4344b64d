"""``inbox.take_key``: one statement gives a new dedupe key to a mail, and
names the mail that holds a key already, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

from gateway.store import inbox
from gateway.store.db import Database

MAIL = {"received_at": datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc), "via": "smtp", "peer": "192.0.2.1",
        "mail_from": "ana@example.org", "rcpt_tos": ["atendimento@example.gov.br"], "authenticated_as": None,
        "mailbox_hint": None, "sha256": "ab" * 32, "message_id": "m1@example.org", "size": 5, "raw": b"raw\r\n"}


def test_a_key_goes_to_the_first_mail_and_names_it_to_the_others(db: Database) -> None:
    with db.transaction() as tx:
        first, second = inbox.add_accepted(tx, [MAIL, MAIL])
        assert inbox.take_key(tx, "mid:m1@example.org", first) is None  # free: now the first's
        assert inbox.take_key(tx, "mid:m1@example.org", second) == first  # the second is a duplicate
        assert inbox.take_key(tx, "mid:m1@example.org", first) == first  # the first, redone, is itself
        assert inbox.take_key(tx, "sha:" + "cd" * 32, second) is None
    with db.transaction() as tx:
        assert inbox.key_owner(tx, "mid:m1@example.org") == first
        assert inbox.key_owner(tx, "sha:" + "cd" * 32) == second
