"""SMTP smuggling (CVE-2023-51764 and kin): a body that holds an end of data
in a form some servers accept (``<LF>.<LF>``, ``<CR><LF>.<LF>``,
``<LF>.<CR><LF>``, ``<CR>.<CR><LF>``...), followed by a second transaction
with a forged sender.  A server that ended the data there would run the
smuggled MAIL FROM and store a second, forged mail.  The listener reads a
body in chunks (transports.smtp_data); only ``<CR><LF>.<CR><LF>`` ends it,
so the smuggled lines are the first mail's text and nothing else happens."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text

from tests.security.conftest import CNES, MALLORY, PUBLIC_PEER, Target

SPOOFED = "presidente@example.gov.br"
ENDS = {"LF.LF": b"\n.\n", "CRLF.LF": b"\r\n.\n", "LF.CRLF": b"\n.\r\n", "CR.CRLF": b"\r.\r\n",
        "CRLF.CR": b"\r\n.\r", "CR.CR": b"\r.\r", "CRLF.CRLF.(dot-stuffed)": b"\r\n..\r\n"}


@pytest.mark.parametrize("end", ENDS.values(), ids=ENDS.keys())
def test_a_smuggled_second_mail_is_text_of_the_first(target: Target, end: bytes):
    smuggled = (end + f"MAIL FROM:<{SPOOFED}>\r\nRCPT TO:<{CNES}>\r\nDATA\r\n".encode()
                + f"From: {SPOOFED}\r\nTo: {CNES}\r\nSubject: contrabando\r\n\r\nPague o boleto.\r\n".encode())
    body = (f"From: {MALLORY}\r\nTo: {CNES}\r\nSubject: primeira\r\nMessage-ID: <smuggle@evil.example>\r\n\r\n"
            "Uma mensagem comum.").encode() + smuggled
    with socket.create_connection(("127.0.0.1", target.running.port), timeout=30,
                                  source_address=(PUBLIC_PEER, 0)) as conn, conn.makefile("rb") as lines:
        lines.readline()
        # Everything in one write, as a smuggler pipelines it; the real end, then QUIT.
        conn.sendall(f"HELO evil.example\r\nMAIL FROM:<{MALLORY}>\r\nRCPT TO:<{CNES}>\r\nDATA\r\n".encode())
        replies = [lines.readline() for _ in range(4)]
        assert [r[:3] for r in replies] == [b"250", b"250", b"250", b"354"], replies
        conn.sendall(body + b"\r\n.\r\nQUIT\r\n")
        after = [lines.readline(), lines.readline()]
    assert [r[:3] for r in after] == [b"250", b"221"], after  # one mail taken, then goodbye: no second 250/354
    target.running.wait_processed(1)
    assert target.inbox_count() == 1
    [ticket] = target.tickets()
    assert ticket["subject"] == "primeira" and SPOOFED not in ticket["requester"]
    with target.running.gateway.db.transaction() as tx:  # the smuggled lines: bytes of the one mail
        [raw] = [bytes(r[0]) for r in tx.execute(text("select raw from inbox_raw"))]
    assert f"MAIL FROM:<{SPOOFED}>".encode() in raw and raw.endswith(b"Pague o boleto.\r\n\r\n")
