"""The DATA body read in chunks (transports.smtp_data) against aiosmtpd's own
line reader: the same bytes on the wire, in the same pieces, must give the
same replies and the same content to the handler, over real TCP.

Then the gateway's listener itself: dot-stuffed lines stored as the client
meant them, a refused body (too long a line, too big) answered and the
session going on, a client gone in the middle of a body.
"""

from __future__ import annotations

import random
import smtplib
import socket
import time
from collections.abc import Iterator
from typing import BinaryIO

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import text

from gateway.transports.smtp_data import ChunkedDataSMTP
from tests.helpers.corpus import full_mails, require_corpus

END = b"\r\n.\r\n"
SIZE_LIMIT = 20_000


class Capture:
    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        self.contents.append((envelope.content, envelope.original_content))  # type: ignore[attr-defined]
        return "250 stored"


class _Serving(Controller):
    def __init__(self, kind: type[SMTP], *, size_limit: int = SIZE_LIMIT, decode: bool = False) -> None:
        self.kind, self.capture, self.size_limit, self.decode = kind, Capture(), size_limit, decode
        super().__init__(self.capture, hostname="127.0.0.1", port=0)

    def factory(self) -> SMTP:
        return self.kind(self.capture, data_size_limit=self.size_limit, enable_SMTPUTF8=True, decode_data=self.decode)

    def _trigger_server(self) -> None:  # port 0: ask the socket which port it got
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[_Serving, _Serving]]:
    pair = (_Serving(SMTP), _Serving(ChunkedDataSMTP))
    for one in pair:
        one.start()
    yield pair
    for one in pair:
        one.stop()


def _replies(port: int, pieces: list[bytes], *, pause: float) -> list[bytes]:
    """Send ``pieces`` one write each (``pause`` apart, so the server tends to
    read them apart) after EHLO/MAIL/RCPT/DATA, the last one followed in the
    same write by NOOP and QUIT (a reader that took more than the body would
    swallow them); the replies to the body, NOOP and QUIT."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = conn.makefile("rb")
        lines.readline()
        conn.sendall(b"EHLO client.example.org\r\n")
        while lines.readline()[3:4] == b"-":
            pass
        conn.sendall(b"MAIL FROM:<ana.souza@example.org>\r\nRCPT TO:<atendimento@example.gov.br>\r\nDATA\r\n")
        got = [lines.readline() for _ in range(3)]
        assert got[2].startswith(b"354"), got
        # What follows the end in the same stream is the next command, never body.
        pieces = [*pieces[:-1], pieces[-1] + b"NOOP\r\nQUIT\r\n"]
        for piece in pieces:
            conn.sendall(piece)
            if pause:
                time.sleep(pause)
        return [lines.readline(), lines.readline(), lines.readline()]


def _wire(body: bytes) -> bytes | None:
    """The body as a client sends it, ended; None where the body itself
    holds an end (no client could send it in one mail)."""
    wire = body + (b".\r\n" if body.endswith(b"\r\n") or not body else END)
    return wire if (b"\r\n" + wire).find(END) == len(wire) - 3 else None


def _same(servers: tuple[_Serving, _Serving], wire: bytes, cuts: list[int], pause: float = 0.0) -> None:
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)]) if a < b]
    before = [len(s.capture.contents) for s in servers]
    answers = [_replies(s.port, pieces, pause=pause) for s in servers]
    assert answers[0][1:] == [b"250 OK\r\n", b"221 Bye\r\n"], answers[0]  # NOOP and QUIT answered
    assert answers[1] == answers[0], f"aiosmtpd {answers[0]!r}, chunked {answers[1]!r}, cuts {cuts}"
    stored = [s.capture.contents[n:] for s, n in zip(servers, before)]
    assert stored[1] == stored[0], f"cuts {cuts}"


def test_random_bodies_in_random_pieces_read_as_aiosmtpd_reads_them(servers):
    rng = random.Random(20261207)
    alphabet = [b".", b".", b"\r", b"\n", b"\r\n", b"\r\n", b"\r\n.", b"a", b"bc", b"\xc3\xa9", b" "]
    tried = 0
    for _ in range(2000):  # bounded; about one in three is a sendable mail
        if tried == 250:
            break
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        wire = _wire(body)
        if wire is None:
            continue
        tried += 1
        cuts = sorted(rng.sample(range(1, len(wire)), min(len(wire) - 1, rng.randint(0, 4)))) if len(wire) > 1 else []
        _same(servers, wire, cuts)
    assert tried == 250


@pytest.mark.parametrize("body", [b"", b"\r\n", b"..\r\n..", b"..\r\n", b"a\r\n.b", b"a\r\n..\r", b"a\r", b"\r\n..\r\n",
                                  b".x", b"a\r\n\r\n.b\r\n", b"x" * 999 + b"\r\n"])
def test_the_end_cut_at_every_byte(servers, body):
    """Every split of the body and its end into two writes, each read apart
    (of a long line, those around its start and the end)."""
    wire = _wire(body)
    assert wire is not None
    cuts = range(1, len(wire)) if len(wire) < 40 else [*range(1, 6), *range(len(wire) - 8, len(wire))]
    for cut in cuts:
        _same(servers, wire, [cut], pause=0.002)


def test_refusals_are_aiosmtpd_s(servers):
    for wire in (b"x" * 1000 + b"\r\n.\r\n",  # one byte over the line limit: 500
                 b"ok\r\n" + b"y" * 5000 + b"\r\n.\r\n",
                 (b"z" * 900 + b"\r\n") * 30 + b".\r\n"):  # 27 KB, over 20 KB: 552
        answers = [_replies(s.port, [wire], pause=0.0) for s in servers]
        assert answers[1] == answers[0]
        assert answers[0][0][:3] in (b"500", b"552")
    # Over the size limit with a long line before the limit: aiosmtpd answers
    # for the line it met first, the chunked reader for the size (documented).
    wire = b"x" * 1500 + b"\r\n" + (b"y" * 70 + b"\r\n") * 400 + b".\r\n"
    answers = [_replies(s.port, [wire], pause=0.0) for s in servers]
    assert answers[0][0].startswith(b"500") and answers[1][0].startswith(b"552")
    assert answers[0][1:] == answers[1][1:] == [b"250 OK\r\n", b"221 Bye\r\n"]
    # Exactly at the limits: taken.
    _same(servers, b"x" * 999 + b"\r\n.\r\n", [])
    _same(servers, (b"w" * 998 + b"\r\n") * 19 + b"v" * (SIZE_LIMIT - 19_000 - 2) + b"\r\n.\r\n", [4000, 15000])


@pytest.mark.parametrize("options", [{"size_limit": 0}, {"size_limit": 0, "decode": True}],
                         ids=["no size limit", "decoded"])
def test_no_size_limit_and_decoded_data_are_aiosmtpd_s(options):
    """0 is no limit for aiosmtpd (nothing is refused for its size); a
    listener that decodes the data keeps aiosmtpd's reader."""
    pair = (_Serving(SMTP, **options), _Serving(ChunkedDataSMTP, **options))
    for one in pair:
        one.start()
    try:
        wire = (b"z" * 900 + b"\r\n..dot\r\n") * 40 + "é fim\r\n.\r\n".encode()  # 36 KB
        assert [_replies(one.port, [wire], pause=0.0)[0] for one in pair] == [b"250 stored\r\n"] * 2
        _same(pair, wire, [7, 20_000])
        assert pair[1].capture.contents[-1][0] == pair[0].capture.contents[-1][0]
        assert isinstance(pair[1].capture.contents[-1][0], str if options.get("decode") else bytes)
    finally:
        for one in pair:
            one.stop()


def test_real_mails_big_and_small_read_as_aiosmtpd_reads_them(servers):
    require_corpus("mail-parser/mails")
    rng = random.Random(7)
    mails = [p for p in full_mails() if p.stat().st_size < SIZE_LIMIT - 2000]
    for path in rng.sample(mails, 40):
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        stuffed = (b"." if raw.startswith(b".") else b"") + raw.replace(b"\r\n.", b"\r\n..")
        wire = _wire(stuffed)
        if wire is None:  # a mail with a line of 1,000 bytes or more still reads alike; an end never
            continue
        _same(servers, wire, sorted(rng.sample(range(1, len(wire)), min(3, len(wire) - 1))))


# -- through the gateway's listener -------------------------------------------------------------


def _up_to_data(conn: socket.socket, lines: BinaryIO, address: str) -> list[bytes]:
    """HELO, MAIL, RCPT and DATA in one write (after the greeting); their reply codes."""
    conn.sendall(b"HELO client.example.org\r\nMAIL FROM:<ana.souza@example.org>\r\n"
                 + f"RCPT TO:<{address}>\r\nDATA\r\n".encode())
    return [lines.readline()[:3] for _ in range(4)]


def _raw_of_inbox(gateway) -> list[bytes]:
    with gateway.gateway.db.transaction() as tx:
        return [bytes(r[0]) for r in tx.execute(text("select raw from inbox_raw order by inbox_id"))]


def test_gateway_stores_dot_stuffed_lines_as_written_and_refuses_without_losing_the_session(start_gateway):
    gateway = start_gateway(smtp={"max_message_size": 30_000})
    mail = (f"From: Ana <ana.souza@example.org>\r\nTo: {gateway.address}\r\nSubject: pontos\r\n"
            f"Message-ID: <dots.1@example.org>\r\n\r\n.\r\n..\r\n.linha com ponto\r\nfim\r\n").encode()
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail("ana.souza@example.org", [gateway.address], mail)  # smtplib stuffs the dots
        with pytest.raises(smtplib.SMTPDataError) as too_long:
            client.sendmail("ana.souza@example.org", [gateway.address], mail.replace(b"fim", b"x" * 1200))
        assert too_long.value.smtp_code == 500
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.helo("client.example.org")  # no ESMTP: no SIZE at MAIL, so the body itself is measured
        with pytest.raises(smtplib.SMTPDataError) as too_big:
            client.sendmail("ana.souza@example.org", [gateway.address], mail + (b"y" * 70 + b"\r\n") * 500)
        assert too_big.value.smtp_code == 552
        client.sendmail("ana.souza@example.org", [gateway.address], mail.replace(b"dots.1", b"dots.2"))
    gateway.wait_processed(2)
    stored = _raw_of_inbox(gateway)
    assert stored == [mail, mail.replace(b"dots.1", b"dots.2")]


def test_client_gone_in_the_middle_of_a_body_leaves_nothing_and_the_listener_serves(start_gateway):
    gateway = start_gateway()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as conn:
        lines = conn.makefile("rb")
        lines.readline()
        _up_to_data(conn, lines, gateway.address)
        conn.sendall(b"Subject: pela metade\r\n\r\numa linha\r\n.")  # no end: then gone
    mail = f"From: ana.souza@example.org\r\nTo: {gateway.address}\r\nSubject: inteiro\r\n\r\ncorpo\r\n".encode()
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail("ana.souza@example.org", [gateway.address], mail)
    gateway.wait_processed(1)
    assert _raw_of_inbox(gateway) == [mail]


def test_a_client_that_stalls_in_the_middle_of_a_body_is_dropped_and_nothing_is_stored(start_gateway):
    """The idle timeout holds inside DATA too: a body begun and never ended
    (slowloris) is cut at ``[smtp] timeout``, the half mail is not stored,
    and the listener goes on serving."""
    gateway = start_gateway(smtp={"timeout": 1})
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as conn, conn.makefile("rb") as lines:
        lines.readline()
        assert _up_to_data(conn, lines, gateway.address) == [b"250", b"250", b"250", b"354"]
        conn.sendall(b"Subject: devagar\r\n\r\numa linha e mais nada")
        started = time.monotonic()
        rest = conn.recv(1024)  # the listener's goodbye, or the close itself
        while rest and time.monotonic() - started < 8:  # bounded: a 421 line, then the close
            if not conn.recv(1024):
                break
        assert time.monotonic() - started < 8, "the stalled body was never cut"
        assert rest == b"" or rest.startswith(b"421"), rest
    mail = f"From: ana.souza@example.org\r\nTo: {gateway.address}\r\nSubject: inteiro\r\n\r\ncorpo\r\n".encode()
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail("ana.souza@example.org", [gateway.address], mail)
    gateway.wait_processed(1)
    assert _raw_of_inbox(gateway) == [mail]


def test_a_body_that_keeps_coming_is_not_cut_at_the_idle_timeout(start_gateway):
    """The idle timer was reset per command only: a big mail on a slow link
    (25 MB at under ~700 kbit/s with the 300 s default) was cut every time
    and bounced in the end.  Here, ``timeout`` 2 s and a body arriving in
    pieces over ~5 s, never 2 s apart: stored whole."""
    gateway = start_gateway(smtp={"timeout": 2})
    head = f"From: ana.souza@example.org\r\nTo: {gateway.address}\r\nSubject: devagar e sempre\r\n\r\n".encode()
    pieces = [(f"linha {n} " + "x" * 60 + "\r\n").encode() * 40 for n in range(7)]  # ~2.8 KB each
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as conn, conn.makefile("rb") as lines:
        lines.readline()
        assert _up_to_data(conn, lines, gateway.address) == [b"250", b"250", b"250", b"354"]
        conn.sendall(head)
        for piece in pieces:
            time.sleep(0.75)
            conn.sendall(piece)
        conn.sendall(b".\r\n")
        assert lines.readline().startswith(b"250"), "stored, not cut"
    gateway.wait_processed(1)
    assert _raw_of_inbox(gateway) == [head + b"".join(pieces)]
