"""The automatic answers' rate limit counts a subaddressed recipient with
its family (robo@crm and every robo+<tag>@crm), on SQLite and PostgreSQL,
and nothing else: LIKE's wildcards in an address are taken literally."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gateway.store import outbox
from gateway.store.db import Database

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def test_a_plus_address_counts_with_its_family_and_only_it(db: Database) -> None:
    sent = ["robo+1@crm.example.org", "robo+2@crm.example.org", "robo@crm.example.org",
            "robo_x+1@crm.example.org", "robox+1@crm.example.org", "robo+1@crm-example.org", "outro@crm.example.org"]
    with db.transaction() as tx:
        for number, rcpt in enumerate(sent):
            outbox.add(tx, ticket_id=None, kind="ack", message_id=f"<{number}@gw.example.gov.br>",
                       mail_from="bounce@example.gov.br", rcpt_tos=[rcpt], raw=b"x", at=NOW)
        outbox.add(tx, ticket_id=None, kind="ack", message_id="<old@gw.example.gov.br>",
                   mail_from="bounce@example.gov.br", rcpt_tos=["robo+0@crm.example.org"], raw=b"x",
                   at=NOW - timedelta(hours=2))
    since = NOW - timedelta(hours=1)
    with db.transaction() as tx:
        assert outbox.count_recent(tx, rcpt="robo+9@crm.example.org", kinds=("ack",), since=since) == 3
        assert outbox.count_recent(tx, rcpt="robo_x+5@crm.example.org", kinds=("ack",), since=since) == 1
        assert outbox.count_recent(tx, rcpt="outro@crm.example.org", kinds=("ack",), since=since) == 1
        assert outbox.count_recent(tx, rcpt="robo+1@crm.example.org", kinds=("team_new",), since=since) == 0
        # Queued in this transaction, not yet written: counted the same way.
        outbox.add(tx, ticket_id=None, kind="ack", message_id="<new@gw.example.gov.br>",
                   mail_from="bounce@example.gov.br", rcpt_tos=["robo+77@crm.example.org"], raw=b"x", at=NOW)
        assert outbox.count_recent(tx, rcpt="robo+9@crm.example.org", kinds=("ack",), since=since) == 4
        # Several kinds in one count (the automatic answers' limit): each counted once, others not at all.
        for kind, rcpt in (("rejected", "robo@crm.example.org"), ("missing_fields", "robo+3@crm.example.org"),
                           ("team_new", "robo+4@crm.example.org")):
            outbox.add(tx, ticket_id=None, kind=kind, message_id=f"<{kind}@gw.example.gov.br>",
                       mail_from="bounce@example.gov.br", rcpt_tos=[rcpt], raw=b"x", at=NOW)
        kinds = ("ack", "rejected", "missing_fields", "attachments_refused")
        assert outbox.count_recent(tx, rcpt="robo+9@crm.example.org", kinds=kinds, since=since) == 6
        assert outbox.count_recent(tx, rcpt="robo@crm.example.org", kinds=kinds[1:], since=since) == 1
    with db.transaction() as tx:  # the same once written
        assert outbox.count_recent(tx, rcpt="robo+9@crm.example.org", kinds=kinds, since=since) == 6
        assert outbox.count_recent(tx, rcpt="outro@crm.example.org", kinds=kinds, since=since) == 1
