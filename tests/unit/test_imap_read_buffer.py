"""``imap._already_read``: what imaplib's buffered reader holds is seen
without waiting for the network, on a plain and on a TLS socket (the
socket poll of ``idle_check`` sees neither)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.transports.imap import _already_read


class _Client(SimpleNamespace):
    """What ``_already_read`` uses of an IMAPClient: its socket and imaplib's reader."""

    def socket(self) -> socket.socket:
        return self.sock


def _pair(tmp_path: Path, tls: bool) -> tuple[socket.socket, socket.socket]:
    server, client = socket.socketpair()
    if not tls:
        return server, client
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of Debian's base system"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert, key)
    calling = ssl.create_default_context(cafile=str(cert))
    wrapped: list[socket.socket] = []
    handshake = threading.Thread(target=lambda: wrapped.append(serving.wrap_socket(server, server_side=True)))
    handshake.start()
    client = calling.wrap_socket(client, server_hostname="localhost")
    handshake.join(timeout=30)
    return wrapped[0], client


@pytest.fixture(params=["plain", "tls"])
def connection(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[socket.socket, _Client]]:
    server, sock = _pair(tmp_path, request.param == "tls")
    sock.settimeout(30)
    client = _Client(sock=sock, _imap=SimpleNamespace(file=sock.makefile("rb")))
    yield server, client
    server.close()
    sock.close()


def test_a_line_behind_the_continuation_is_seen_and_the_timeout_kept(connection: tuple[socket.socket, _Client]) -> None:
    server, client = connection
    server.sendall(b"+ idling\r\n* 1 EXISTS\r\n")
    assert client._imap.file.readline() == b"+ idling\r\n"  # what imapclient's idle() reads
    assert _already_read(client)
    assert client.sock.gettimeout() == 30
    assert client._imap.file.readline() == b"* 1 EXISTS\r\n"


def test_nothing_waiting_answers_at_once(connection: tuple[socket.socket, _Client]) -> None:
    server, client = connection
    server.sendall(b"+ idling\r\n")
    assert client._imap.file.readline() == b"+ idling\r\n"
    assert not _already_read(client)  # would block for 30 s if it read the network
    assert client.sock.gettimeout() == 30
    server.sendall(b"* 2 EXISTS\r\n")
    assert client._imap.file.readline() == b"* 2 EXISTS\r\n"  # the reader still works after the look
