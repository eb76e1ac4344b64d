"""The use cases on an in-memory store: a real schema (the Alembic
migrations) in SQLite's memory, real templates, no listener, no threads.
Fast enough to run a use case per test; what they write is read back from
the same database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import Settings, StorageConfig, load_settings
from gateway.mail.parsed import parse
from gateway.outbound import compose
from gateway.outbound.notices import Notifier
from gateway.outbound.render import Renderer
from gateway.services.incoming import Incoming
from gateway.services.intake import Intake
from gateway.store import inbox
from gateway.store.db import Database, Transaction
from gateway.store.models import EventRow, OutboxRow, TicketRow
from gateway.tickets.requester import UNCHECKED, Proof
from tests.helpers.mailfactory import make_mail

# Monday 2026-11-23, 10:00 in Brasília: a working day.
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
ANA = "ana@example.org"
MARIA = "maria@example.gov.br"
TEAM = "equipe@example.gov.br"
DESK = "atendimento@example.gov.br"


class Store:
    """One in-memory database and the use cases built on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(StorageConfig(url="sqlite:///:memory:"))
        self.db.migrate()
        self.intake = Intake(settings, Notifier(settings, Renderer()))

    @property
    def mailbox(self) -> Any:
        return self.settings.mailboxes[0]

    def incoming(self, tx: Transaction, raw: bytes, *, sender: str = ANA, at: datetime = NOW,
                 proof: Proof = UNCHECKED, **options: Any) -> Incoming:
        """The mail as ``act`` hands it over, its raw bytes in the inbox (as accepted)."""
        [inbox_id] = inbox.add_accepted(tx, [{
            "received_at": at, "via": "smtp", "peer": "", "mail_from": sender, "rcpt_tos": [DESK],
            "authenticated_as": None, "mailbox_hint": None, "sha256": "0" * 64, "message_id": None,
            "size": len(raw), "raw": raw}])
        mail = parse(raw)
        return Incoming(mail=mail, inbox_id=inbox_id, mailbox=self.mailbox, sender=mail.from_addr or sender,
                        at=at, check_sender=lambda: proof, **options)

    def open(self, tx: Transaction, body: str = "Não consigo incluir a enfermeira.", **options: Any) -> TicketRow:
        raw = make_mail(sender=f"Ana <{ANA}>", to=DESK, body=body)
        return self.intake.opening.open_ticket(tx, self.incoming(tx, raw, **options))

    def events(self, tx: Transaction, ticket: TicketRow) -> list[str]:
        tx.write_pending()
        return list(tx.scalars(select(EventRow.kind).where(EventRow.ticket_id == ticket.id).order_by(EventRow.id)))

    def outbox(self, tx: Transaction, kind: str | None = None) -> list[tuple[str, list[str], Any]]:
        """(kind, recipients, parsed mail) of what was queued, oldest first."""
        tx.write_pending()
        rows = tx.scalars(select(OutboxRow).order_by(OutboxRow.id))
        return [(row.kind, list(row.rcpt_tos), message_from_bytes(compose.sendable(row.raw), policy=policy.default))
                for row in rows if kind is None or row.kind == kind]

    def dispose(self) -> None:
        self.db.dispose()


@pytest.fixture
def make_store() -> Iterator[Callable[..., Store]]:
    made: list[Store] = []

    def make(**mailbox: Any) -> Store:
        settings = load_settings(overrides={
            "mailbox": [{"address": DESK, "name": "Central de Atendimento", "protocol_prefix": "ATD",
                         "team": [TEAM], "analysts": [MARIA], **mailbox}]})
        store = Store(settings)
        made.append(store)
        return store

    yield make
    for store in made:
        store.dispose()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()
