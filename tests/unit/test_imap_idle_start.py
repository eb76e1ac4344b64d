"""IDLE against a server that speaks before its "+" (as Exchange does), and
a session given up inside IDLE, over real TCP to a scripted IMAP server:
the behaviours Dovecot in the integration tests does not show."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from gateway.config import ImapConfig
from gateway.transports.imap import ImapPoller, _begin_idle


class ScriptedServer:
    """One connection at a time; answers CAPABILITY, LOGIN, IDLE (with
    ``before_plus`` sent ahead of its "+") and DONE.  Inside IDLE it
    answers nothing but DONE, as Dovecot does; every line it got is kept."""

    def __init__(self, before_plus: bytes = b"") -> None:
        self.before_plus = before_plus
        self.lines: list[bytes] = []
        self.closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        with connection, connection.makefile("rb") as reader:
            connection.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] ready\r\n")
            idle_tag = None
            for _ in range(100):  # bounded: a test sends a handful of lines
                line = reader.readline()
                if not line:
                    break
                self.lines.append(line)
                tag, _, command = line.strip().partition(b" ")
                if idle_tag is not None:
                    if line.strip() == b"DONE":
                        connection.sendall(idle_tag + b" OK IDLE done\r\n")
                        idle_tag = None
                    continue  # inside IDLE nothing else is answered
                verb = command.split(b" ")[0].upper()
                if verb == b"CAPABILITY":
                    connection.sendall(b"* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
                elif verb == b"LOGIN":
                    connection.sendall(tag + b" OK logged in\r\n")
                elif verb == b"IDLE":
                    idle_tag = tag
                    connection.sendall(self.before_plus + b"+ IDLE accepted\r\n")
                elif verb == b"LOGOUT":
                    connection.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                else:
                    connection.sendall(tag + b" BAD not scripted\r\n")
        self.closed.set()

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=10)


@pytest.fixture
def exchange_like() -> Iterator[ScriptedServer]:
    server = ScriptedServer(before_plus=b"* 12 EXISTS\r\n* 1 RECENT\r\n")
    yield server
    server.close()


def test_news_before_the_plus_is_kept_for_the_idle_loop(exchange_like: ScriptedServer) -> None:
    client = IMAPClient("127.0.0.1", port=exchange_like.port, ssl=False, timeout=10)
    client.login("atendimento", "segredo")
    with pytest.raises(Exception, match="Unexpected IDLE response"):
        IMAPClient.idle(client)  # what imapclient does with it: the session was lost
    client.shutdown()

    second = ScriptedServer(before_plus=b"* 12 EXISTS\r\n")
    try:
        client = IMAPClient("127.0.0.1", port=second.port, ssl=False, timeout=10)
        client.login("atendimento", "segredo")
        assert client.has_capability("IDLE")  # as the poller asks first (idle_done asks again, inside IDLE)
        _begin_idle(client)
        assert client._imap.untagged_responses.pop("EXISTS") == [b"12"]  # where _idle looks for news
        text, _ = client.idle_done()
        assert text == b"IDLE done"
        client.logout()
    finally:
        second.close()


def test_a_session_given_up_inside_idle_hangs_up_instead_of_waiting_on_logout(
        exchange_like: ScriptedServer, tmp_path: Path) -> None:
    """A server inside IDLE answers only DONE: a LOGOUT sent then waited
    out the whole ``timeout`` (60 s) before the poller could reconnect."""
    secret = tmp_path / "secret"
    secret.write_text("segredo\n")
    config = ImapConfig(host="127.0.0.1", port=exchange_like.port, tls="plain", user="atendimento",
                        password_file=str(secret), timeout=30)
    unused: Any = None
    poller = ImapPoller("atendimento@example.gov.br", config, unused, unused, unused)
    with pytest.raises(RuntimeError, match="given up"):
        with poller._session() as client:
            _begin_idle(client)
            raise RuntimeError("given up inside IDLE")
    assert exchange_like.closed.wait(10), "the connection was not closed"
    assert not [line for line in exchange_like.lines if b"LOGOUT" in line.upper()], exchange_like.lines
