"""A real Dovecot per test, and gateways whose mailboxes read from it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import Settings
from tests.conftest import TEAM, need
from tests.helpers.dovecot import BINARY, Dovecot
from tests.helpers.servers import RunningGateway

USERS = {"atendimento": "segredo-atendimento", "cnes": "segredo-cnes"}
ADDRESS = "atendimento@example.gov.br"
CNES = "cnes@example.gov.br"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    need(BINARY is not None, "Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    server = Dovecot(USERS).start()
    yield server
    server.stop(remove=True)


@pytest.fixture
def imap_config(dovecot: Dovecot, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``[mailbox.imap]`` for a Dovecot user; the password goes through a file."""
    def make(user: str = "atendimento", *, password: str | None = None, **extra: Any) -> dict[str, Any]:
        secret = tmp_path / f"{user}.secret"
        secret.write_text((password if password is not None else USERS[user]) + "\n")
        return {"host": "127.0.0.1", "port": dovecot.port, "tls": "plain", "user": user,
                "password_file": str(secret), "timeout": 10, "reconnect_max": 2, **extra}
    return make


def mailbox(address: str = ADDRESS, prefix: str = "ATD", **imap: Any) -> dict[str, Any]:
    return {"address": address, "name": "Central de Atendimento", "protocol_prefix": prefix, "team": [TEAM],
            "imap": imap}


@pytest.fixture
def offline(make_settings: Callable[..., Settings],
            imap_config: Callable[..., dict[str, Any]]) -> Iterator[Callable[..., Gateway]]:
    """Gateways with no threads running: the test drives the poller itself.

    Each call is a fresh process, as after a restart: same database, new
    objects."""
    made: list[Gateway] = []

    def make(**imap: Any) -> Gateway:
        gateway = Gateway(make_settings(mailbox=[mailbox(**imap_config(**imap))]))
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture
def imap_gateway(start_gateway: Callable[..., RunningGateway],
                 imap_config: Callable[..., dict[str, Any]]) -> Callable[..., RunningGateway]:
    """A running gateway (all roles) whose one mailbox reads atendimento's INBOX."""
    def start(**imap: Any) -> RunningGateway:
        return start_gateway(mailbox=[mailbox(**imap_config(**imap))])
    return start
