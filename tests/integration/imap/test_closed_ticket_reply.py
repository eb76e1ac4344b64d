"""A requester's reply to a closed ticket, read from a real Dovecot folder
(PITFALLS D: glpi#24760).

GLPI neither imported nor moved such a reply out of the inbox, so every
cron run made another ticket of it.  Here the whole life goes through the
IMAP folder: the citizen's first mail, the analyst's ``#fechar`` (proven by
the Authentication-Results of a server that strips foreign ones), then the
citizen's reply.  The poller is driven by hand, one ``drain_once`` plus
processing per cron run, and run three times after the reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import Settings
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway
from tests.integration.imap.conftest import mailbox

pytestmark = pytest.mark.dovecot

USER = "atendimento"
CITIZEN = "ana.souza@example.org"
ANALYST = "maria.lima@example.gov.br"
MX = "mx.example.gov.br"
ANALYST_PROOF = {"Authentication-Results": f"{MX}; dkim=pass header.d=example.gov.br; "
                                           "spf=pass smtp.mailfrom=example.gov.br"}


@pytest.fixture
def desk(make_settings: Callable[..., Settings],
         imap_config: Callable[..., dict[str, Any]]) -> Iterator[Callable[..., RunningGateway]]:
    """A gateway with no threads running (the test is the cron), its one
    mailbox read from atendimento's INBOX, Maria one of its analysts, and
    the account's Authentication-Results trusted.  Returned wrapped in
    ``RunningGateway`` (never started) for its read helpers."""
    made: list[Gateway] = []

    def make(**imap: Any) -> RunningGateway:
        settings = make_settings(
            auth={"trusted_authserv_ids": [MX]},
            mailbox=[{**mailbox(**imap_config(trust_authentication_results=True, **imap)), "analysts": [ANALYST]}])
        gateway = Gateway(settings)
        made.append(gateway)
        return RunningGateway(settings, gateway)

    yield make
    for gateway in made:
        gateway.close()


def _cron(desk: RunningGateway) -> int:
    """One cron run: drain the folder, process what was taken; how many mails were taken."""
    [poller] = desk.gateway.imap_pollers()
    taken = poller.drain_once().accepted
    desk.gateway.ingest.process_pending()
    return taken


@pytest.mark.parametrize("after", ["move", "flag"])
def test_a_reply_to_a_closed_ticket_becomes_one_linked_ticket_however_often_the_folder_is_read(
        dovecot: Dovecot, desk: Callable[..., RunningGateway], after: str) -> None:
    """PITFALLS D (glpi#24760): the reply opens one new ticket linked to the
    closed one (reopen_window is "" by default: a reply never reopens), is
    moved or flagged once stored, and the next runs find nothing: no second
    ticket, no second acknowledgement, not even a duplicate to drop."""
    running = desk(after=after)
    dovecot.append(USER, make_mail(subject="Erro ao incluir profissional no CNES", body="Não consigo incluir."))
    assert _cron(running) == 1
    [first] = running.tickets()
    protocol = first["protocol"]
    dovecot.append(USER, make_mail(subject=f"RE: [{protocol}] Novo chamado: Erro ao incluir profissional no CNES",
                                   sender=f"Maria Lima <{ANALYST}>", body="#fechar\nResolvido por telefone.",
                                   trace=ANALYST_PROOF))
    assert _cron(running) == 1
    assert running.ticket(protocol)["status"] == "closed", running.ticket(protocol)["events"]

    dovecot.append(USER, make_mail(subject=f"RES: [{protocol}] Erro ao incluir profissional no CNES",
                                   body="O erro voltou hoje."))
    assert [_cron(running) for _ in range(3)] == [1, 0, 0], "taken on the first run only"

    tickets = running.tickets()
    assert len(tickets) == 2, [t["subject"] for t in tickets]
    new = tickets[1]["protocol"]
    assert running.ticket(new)["linked_to"] == protocol and tickets[1]["requester"] == CITIZEN
    assert [m["text"].strip() for m in running.ticket(new)["messages"] if m["direction"] == "in"] == [
        "O erro voltou hoje."]
    assert running.ticket(protocol)["status"] == "closed"
    assert [a["X-Ticket-Protocol"] for a in running.outbox(kind="ack")] == [protocol, new]
    assert running.inbox_counts() == {"processed": 3}, "each mail stored once: no run took one again"
    if after == "move":
        assert (dovecot.count(USER, "INBOX"), dovecot.count(USER, "Processed")) == (0, 3)
    else:
        flags = dovecot.flags(USER, "INBOX")
        assert len(flags) == 3 and all(b"$GatewayProcessed" in f and b"\\Seen" in f for f in flags), flags
