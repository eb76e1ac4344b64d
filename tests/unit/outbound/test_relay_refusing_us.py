"""A relay that refuses us, not one mail (530 at MAIL FROM: "authentication
required", "must issue STARTTLS first"): RelayUnavailable, so the sender
charges no mail and fails none.  Real TCP to a scripted relay."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from gateway.config import OutboundConfig
from gateway.errors import RelayUnavailable
from gateway.outbound.delivery import SmtpDeliverer


@pytest.fixture
def relay_wanting_auth() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 relay.example.gov.br ESMTP\r\n")
            for _ in range(20):  # bounded
                line = lines.readline()
                if not line:
                    return
                verb = line.split(b" ")[0].strip().upper()
                if verb == b"EHLO":
                    connection.sendall(b"250-relay.example.gov.br\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    connection.sendall(b"530 5.7.0 Authentication required\r\n")
                elif verb == b"QUIT":
                    connection.sendall(b"221 bye\r\n")
                    return
                else:
                    connection.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=30)


def test_530_at_mail_from_is_the_relay_refusing_us(relay_wanting_auth: int) -> None:
    deliverer = SmtpDeliverer(OutboundConfig(mode="smtp", host="127.0.0.1", port=relay_wanting_auth, timeout=10))
    try:
        with pytest.raises(RelayUnavailable, match="530 5.7.0 Authentication required.*username and password"):
            deliverer.deliver("bounce+x@example.gov.br", ["ana.souza@example.org"], b"Subject: x\r\n\r\ny\r\n")
    finally:
        deliverer.close()
