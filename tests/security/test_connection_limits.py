"""Security review P17: one client's idle connections must not stop the gateway.

1,100 idle connections from one address once took all 1,024 descriptors
of the process (systemd's default soft limit): the MTA's mail and
``/healthz`` timed out.  Each listener now caps open connections per peer
address (``[smtp] max_connections_per_peer``) and in total
(``max_connections``); beyond them a connection is answered ``421 4.7.0``
and closed.  The MTA in front (``trusted_networks``) is not capped per peer.

Through the real listeners, proved by the replies and their order, never by
time: the flood's extra connections get 421 while the MTA's mail gets 250
and the page 200; a closed connection gives its place back.
"""

from __future__ import annotations

import json
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.credentials import hash_password
from gateway.transports import replies
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import free_port, wait_until
from tests.security.conftest import ANA, CNES, MARIA, MTA_PEER, PUBLIC_PEER, passes

OTHER_PEER = "127.0.0.4"  # a second public address
NEWCOMER = "127.0.0.5"  # a third
PASSWORD = "correta-cavalo-bateria-grampo"

#: Run in a child process (its own descriptor limit): opens FLOOD connections
#: from PUBLIC_PEER, reads the first reply of each, and while holding those the
#: gateway greeted, sends the MTA's mail and asks for /healthz.
FLOOD_CLIENT = textwrap.dedent("""
    import json, resource, smtplib, socket, sys, urllib.request
    port, flood, base, attacker, mta, sender, rcpt = sys.argv[1:8]
    mail = sys.stdin.buffer.read()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 5000), hard))
    held, codes = [], {}
    try:
        for _ in range(int(flood)):
            sock = socket.create_connection(("127.0.0.1", int(port)), timeout=30, source_address=(attacker, 0))
            line = b""
            while not line.endswith(b"\\n"):
                chunk = sock.recv(512)
                if not chunk:
                    break
                line += chunk
            code = line[:3].decode() or "closed"
            codes[code] = codes.get(code, 0) + 1
            if code == "220":
                held.append(sock)
            else:
                sock.close()
        with smtplib.SMTP("127.0.0.1", int(port), timeout=30, source_address=(mta, 0)) as client:
            client.ehlo()
            client.mail(sender)
            client.rcpt(rcpt)
            data = client.data(mail)[0]
        health = urllib.request.urlopen(base + "/healthz", timeout=30).status
    finally:
        for sock in held:
            sock.close()
    print(json.dumps({"codes": codes, "data": data, "health": health}))
""")


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Connections a test opens; all closed at the end, even if it fails."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _connect(port: int, source: str, opened: list[socket.socket]) -> int:
    """Open a connection from ``source`` and read its first reply: 220, or 421 (then the server closed it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    opened.append(sock)
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(512)
        if not chunk:
            break
        line += chunk
    code = int(line[:3]) if line[:3].isdigit() else 0
    if code == 421:
        assert sock.recv(512) == b"", "a refused connection is closed after its 421"
    return code


def _refusal(port: int, source: str, opened: list[socket.socket]) -> str:
    """The whole first line of a connection that is expected to be refused."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    opened.append(sock)
    data = b""
    while True:
        chunk = sock.recv(512)
        if not chunk:
            return data.decode("ascii", "replace").rstrip("\r\n")
        data += chunk


@pytest.fixture
def descriptors_as_under_systemd() -> Iterator[None]:
    """This process (the gateway's) gets systemd's default soft limit of 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_flood_of_idle_connections_from_one_address_leaves_the_mta_and_the_pages_served(
        descriptors_as_under_systemd, attack_desk):
    target = attack_desk()  # the default caps
    smtp = target.settings.smtp
    flood = 1100
    mail = make_mail(subject="Erro", sender=f"Ana <{ANA}>", to=CNES, body="Erro no cadastro.", trace=passes(ANA))
    result = subprocess.run(
        [sys.executable, "-c", FLOOD_CLIENT, str(smtp.port), str(flood), target.settings.web.base_url,
         PUBLIC_PEER, MTA_PEER, ANA, CNES], input=mail, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-2000:]
    report = json.loads(result.stdout)
    per_peer = smtp.max_connections_per_peer
    assert per_peer < smtp.max_connections < 1024
    assert report["codes"] == {"220": per_peer, "421": flood - per_peer}, report
    assert report["data"] == 250, "the MTA's mail, while the flood holds its connections"
    assert report["health"] == 200, "the pages, while the flood holds its connections"
    target.running.wait_processed(1)
    assert [t["requester"] for t in target.tickets()] == [ANA]


@pytest.mark.parametrize("lmtp", [False, True], ids=["smtp", "lmtp"])
def test_one_address_gets_421_beyond_its_cap_and_the_trusted_mta_has_none(attack_desk, sockets, lmtp):
    target = attack_desk(smtp={"lmtp": lmtp, "max_connections_per_peer": 3, "max_connections": 50})
    port = target.running.port
    assert [_connect(port, PUBLIC_PEER, sockets) for _ in range(3)] == [220] * 3
    assert _refusal(port, PUBLIC_PEER, sockets) == replies.TOO_MANY_FROM_PEER
    assert _connect(port, OTHER_PEER, sockets) == 220, "another address has its own count"
    assert [_connect(port, MTA_PEER, sockets) for _ in range(5)] == [220] * 5, "the MTA in front: no per-peer cap"
    client_class = smtplib.LMTP if lmtp else smtplib.SMTP
    with client_class("127.0.0.1", port, timeout=30, source_address=(MTA_PEER, 0)) as client:
        client.ehlo()  # LHLO for LMTP
        client.mail(ANA)
        client.rcpt(CNES)
        code, _ = client.data(make_mail(subject="Erro", sender=f"Ana <{ANA}>", to=CNES, body="x", trace=passes(ANA)))
    assert code == 250


def test_the_total_cap_refuses_everyone_beyond_it_and_a_closed_connection_gives_its_place_back(attack_desk,
                                                                                              sockets):
    target = attack_desk(smtp={"max_connections_per_peer": 3, "max_connections": 5})
    port = target.running.port
    assert [_connect(port, PUBLIC_PEER, sockets) for _ in range(3)] == [220] * 3
    assert [_connect(port, OTHER_PEER, sockets) for _ in range(2)] == [220] * 2
    assert _refusal(port, NEWCOMER, sockets) == replies.TOO_MANY_CONNECTIONS
    sockets[0].close()  # one of PUBLIC_PEER's goes away
    opened: list[socket.socket] = []
    try:  # bounded: the server counts the close as soon as it reads it
        wait_until(lambda: _connect(port, NEWCOMER, opened) == 220, what="the closed connection's place")
    finally:
        for sock in opened:
            sock.close()


def test_the_submission_listener_is_capped_per_peer_too(attack_desk, sockets, tmp_path):
    credentials = tmp_path / "analysts.txt"
    credentials.write_text(f"{MARIA}:{hash_password(PASSWORD, iterations=1000)}\n")
    target = attack_desk(smtp={"max_connections_per_peer": 2},
                         submission={"enabled": True, "port": free_port(), "require_tls": False,
                                     "credentials_file": str(credentials)})
    port = target.settings.submission.port
    assert [_connect(port, PUBLIC_PEER, sockets) for _ in range(2)] == [220] * 2
    assert _refusal(port, PUBLIC_PEER, sockets) == replies.TOO_MANY_FROM_PEER
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(OTHER_PEER, 0)) as client:
        assert client.login(MARIA, PASSWORD)[0] == 235, "Maria, from her own address"


def test_failed_starttls_handshakes_give_their_places_back(attack_desk, tmp_path: Path):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of Debian's base system"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    credentials = tmp_path / "analysts.txt"
    credentials.write_text(f"{MARIA}:{hash_password(PASSWORD, iterations=1000)}\n")
    target = attack_desk(smtp={"max_connections_per_peer": 2},
                         submission={"enabled": True, "port": free_port(), "tls_cert": str(cert),
                                     "tls_key": str(key), "credentials_file": str(credentials)})
    port = target.settings.submission.port
    for attempt in range(6):  # three times the cap: a leaked count would lock the address out
        opened: list[socket.socket] = []
        try:
            assert _connect(port, PUBLIC_PEER, opened) == 220
            sock = opened[0]
            sock.sendall(b"EHLO x\r\nSTARTTLS\r\n")
            with sock.makefile("rb") as replies_in:
                while (line := replies_in.readline())[:4] != b"250 ":  # the EHLO reply's last line
                    assert line[:4] == b"250-", line
                assert replies_in.readline()[:4] == b"220 ", "ready to start TLS"
            if attempt % 2:
                sock.sendall(b"this is not a TLS ClientHello\r\n" * 4)  # the handshake fails
                while sock.recv(4096):  # until the server closes
                    pass
        finally:
            for sock in opened:
                sock.close()  # the other half: gone mid-handshake
    opened = []
    try:
        wait_until(lambda: _connect(port, PUBLIC_PEER, opened) == 220, what="the address's places back")
    finally:
        for sock in opened:
            sock.close()
