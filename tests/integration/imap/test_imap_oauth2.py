"""XOAUTH2 that works (PITFALLS H4): a real Dovecot checks the gateway's
token against a local introspection endpoint (RFC 7662), lets the good
token in and refuses a revoked one.

Here ``dovecot`` is this module's own: the conftest's, with Dovecot's
oauth2 passdb on top, so ``imap_config`` and passwords work as elsewhere.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.conftest import need
from tests.helpers.dovecot import BINARY, Dovecot, wait_for_count
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, wait_until
from tests.integration.imap.conftest import ADDRESS, CNES, USERS, mailbox

pytestmark = pytest.mark.dovecot

GOOD = "ya29.token-do-cnes"  # introspects as active, for cnes
REVOKED = "ya29.token-revogado"  # introspects as inactive


class Introspection:
    """A one-route OAuth2 introspection endpoint on 127.0.0.1: ``tokens``
    maps an active token to its user; any other token is inactive."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.asked: list[str] = []  # the tokens Dovecot asked about, in order
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                token = parse_qs(body).get("token", [""])[0]
                owner.asked.append(token)
                user = tokens.get(token)
                answer = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/introspect"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def start(self) -> Introspection:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def introspection() -> Iterator[Introspection]:
    endpoint = Introspection({GOOD: "cnes"}).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def dovecot(introspection: Introspection) -> Iterator[Dovecot]:
    need(BINARY is not None, "Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    server = Dovecot(USERS, oauth2_introspection_url=introspection.url).start()
    yield server
    server.stop(remove=True)


def test_a_valid_oauth2_token_logs_in_and_makes_a_ticket_a_revoked_one_is_refused(
        dovecot: Dovecot, introspection: Introspection, start_gateway: Callable[..., RunningGateway],
        imap_config: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    def oauth(user: str, token: str) -> dict[str, Any]:
        config = {key: value for key, value in imap_config(user).items() if key != "password_file"}
        # Dovecot's auth penalty (per client address) slows every login while
        # the revoked one keeps failing: a login timeout well over its 15 s.
        return {**config, "timeout": 40, "oauth2_token_command": f"echo {token}"}

    dovecot.append("cnes", make_mail(subject="Para o CNES", to=CNES))
    dovecot.append("atendimento", make_mail(subject="Para o atendimento"))
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        running = start_gateway(mailbox=[
            mailbox(CNES, "CNES", **oauth("cnes", GOOD)),
            mailbox(ADDRESS, "ATD", **oauth("atendimento", REVOKED)),
        ])
        running.wait_processed(1, timeout=60)
        wait_until(lambda: "login refused" in caplog.text, timeout=30, what="the revoked token to be logged")
    assert [t["subject"] for t in running.tickets()] == ["Para o CNES"]
    wait_for_count(dovecot, "cnes", "Processed", 1)
    assert dovecot.count("cnes", "INBOX") == 0
    assert "Login: user=<cnes>, method=XOAUTH2" in dovecot.log()  # in by token, not by password
    assert GOOD in introspection.asked and REVOKED in introspection.asked
    good = next(p for p in running.gateway.pollers if p.mailbox == CNES)
    assert good.last_success is not None and not good.last_error
    # The revoked token: one clear error naming the mailbox and the key, its mail left on the server.
    assert dovecot.count("atendimento", "INBOX") == 1
    line = next(r for r in caplog.records if "login refused" in r.getMessage())
    assert line.levelno == logging.ERROR and f"mailbox {ADDRESS}" in line.getMessage()
    assert "Authentication failed" in line.getMessage()  # Dovecot's own words
    assert "check mailbox[1].imap.user and its password or token" in line.getMessage()
    assert not any(CNES in r.getMessage() for r in caplog.records)
    refused = next(p for p in running.gateway.pollers if p.mailbox == ADDRESS)
    assert "login refused" in refused.last_error and refused.last_success is None
