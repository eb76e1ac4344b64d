"""Issue 20.5 and 20.6: signals at awkward moments.

A SIGHUP (a reload) early in start-up used to end the gateway (0.3 s and
0.8 s after launch, nothing in the log); now it is recorded and the
process serves.  A SIGTERM with a large backlog used to wait for the whole
backlog; now processing stops after the group in hand, the process exits
within seconds with status 0, the rest stays accepted, and a restart
finishes it."""

from __future__ import annotations

import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.support import Role, Store, wait_for
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GATEWAY, GatewayProcess, smtp_port, write_config


def _catches_sighup(pid: int) -> bool:
    """Whether ``pid`` has a handler for SIGHUP (bit 0 of SigCgt in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & 1)
    return False


@pytest.mark.parametrize("after", [0.0, 0.15, 0.3, 0.5, 0.8, 1.2])
def test_a_sighup_right_after_launch_leaves_the_gateway_serving(
        tmp_path: Path, processes: list[GatewayProcess], after: float) -> None:
    config = write_config(tmp_path)
    gateway = Role(config, tmp_path / "gateway.log")
    processes.append(gateway)
    with (tmp_path / "gateway.log").open("ab") as log:
        gateway.process = subprocess.Popen([*GATEWAY, "--config", str(config), "run"], stdout=log,
                                           stderr=subprocess.STDOUT)
    # Counted from when the process took SIGHUP over (hold_hangups, the
    # first thing the command does): before that the interpreter itself is
    # still starting, which no program can guard, and which takes longer
    # than 0.15 s on a loaded machine (the parallel suite).
    wait_for(lambda: _catches_sighup(gateway.process.pid), timeout=30, interval=0.005,
             what="the gateway to take SIGHUP over")
    time.sleep(after)
    assert gateway.process.poll() is None, "started"
    gateway.process.send_signal(signal.SIGHUP)

    def serving() -> bool:
        assert gateway.process is not None and gateway.process.poll() is None, \
            f"the gateway died of a SIGHUP {after} s after launch: {(tmp_path / 'gateway.log').read_text()[-2000:]}"
        try:
            with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=5) as client:
                return client.noop()[0] == 250
        except OSError:
            return False

    wait_for(serving, timeout=30, what="the gateway to listen after an early SIGHUP")
    with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
        client.sendmail("ana@example.org", ["atendimento@example.gov.br"], make_mail(sender="Ana <ana@example.org>"))
    gateway.process.send_signal(signal.SIGHUP)  # and a reload once serving is one as always
    time.sleep(0.2)
    assert gateway.terminate() == 0


BACKLOG = 3000


@pytest.mark.slow
def test_sigterm_with_a_large_backlog_stops_after_the_group_in_hand(
        tmp_path: Path, processes: list[GatewayProcess]) -> None:
    config = write_config(tmp_path)
    store = Store("", tmp_path / "gateway.db")
    listener = Role(config, tmp_path / "listener.log", only="smtp")
    processes.append(listener.start())
    with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
        for i in range(BACKLOG):
            client.sendmail(f"cidadao{i}@example.org", ["atendimento@example.gov.br"],
                            make_mail(sender=f"Cidadão {i} <cidadao{i}@example.org>", subject=f"Pedido {i}"))
    assert listener.terminate() == 0
    assert store.statuses("inbox") == {"accepted": BACKLOG}

    worker = Role(config, tmp_path / "worker.log", only="process,send")
    processes.append(worker.start())
    wait_for(lambda: store.one("select count(*) from inbox where status != 'accepted'") >= 64, timeout=30,
             what="processing to be under way")
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)
    try:
        code = worker.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"SIGTERM: still running 10 s later; {store.statuses('inbox')}")
    assert code == 0
    left = store.statuses("inbox")
    assert left.get("accepted", 0) > 0, f"the backlog was not left for the next start: {left}"
    assert set(left) <= {"accepted", "processed"}, left
    assert store.one("select count(*) from ticket") == left["processed"], "a ticket per processed mail, none lost"

    again = Role(config, tmp_path / "again.log", only="process")
    processes.append(again.start())
    wait_for(lambda: store.statuses("inbox") == {"processed": BACKLOG}, timeout=45,
             what=lambda: f"the restart to finish the backlog ({store.statuses('inbox')})")
    assert again.terminate() == 0
    assert store.one("select count(*) from ticket") == BACKLOG
    assert store.one("select count(*) from outbox where kind = 'ack'") == BACKLOG, "one acknowledgement each"
    assert store.one("select count(*) from quarantine") == 0


def _reply(conversation: socket.socket) -> bytes:
    """One whole SMTP reply (its last line has a space after the code)."""
    data = b""
    while not re.search(rb"(?:^|\r\n)\d{3} [^\r\n]*\r\n$", data):
        chunk = conversation.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def _until_closed(conversation: socket.socket) -> bytes:
    """Everything the server says until it closes (its replies may come in one segment or several)."""
    data = b""
    for _ in range(100):  # bounded: each recv waits at most the socket's timeout
        chunk = conversation.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _session(port: int) -> socket.socket:
    conversation = socket.create_connection(("127.0.0.1", port), timeout=15)
    assert _reply(conversation).startswith(b"220")
    conversation.sendall(b"EHLO cliente.example.org\r\n")
    assert _reply(conversation).startswith(b"250")
    return conversation


def test_a_sigterm_lets_a_mail_in_data_finish_and_tells_every_session_421(
        tmp_path: Path, processes: list[GatewayProcess]) -> None:
    """A stopping listener dropped its sessions without a word: a client
    half-way through DATA saw the connection fail and sent the mail again
    later (a duplicate when its commit was in flight).  Now the mail being
    received is taken and answered 250, then that session, like an idle
    one, is told 421 and closed; the process exits 0 with the mail stored."""
    config = write_config(tmp_path)
    gateway = GatewayProcess(config, tmp_path / "gateway.log").start()
    processes.append(gateway)
    with _session(smtp_port(config)) as idle, _session(smtp_port(config)) as sending:
        _stop_while_sending(gateway, idle, sending)
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        assert db.execute("select message_id from inbox").fetchall() == [("parada.1@example.org",)]


def _stop_while_sending(gateway: GatewayProcess, idle: socket.socket, sending: socket.socket) -> None:
    for command in (b"MAIL FROM:<ana.souza@example.org>", b"RCPT TO:<atendimento@example.gov.br>", b"DATA"):
        sending.sendall(command + b"\r\n")
        assert _reply(sending)[:3] in (b"250", b"354")
    mail = make_mail(subject="Enviado durante a parada", message_id="<parada.1@example.org>").replace(b"\n", b"\r\n")
    sending.sendall(mail[: len(mail) // 2])

    assert gateway.process is not None
    gateway.process.send_signal(signal.SIGTERM)
    assert _reply(idle).startswith(b"421 4.3.2"), "the idle session is told, not dropped"
    assert idle.recv(1) == b"", "and closed"
    time.sleep(0.5)
    assert gateway.process.poll() is None, "the process waits for the mail being received"
    sending.sendall(mail[len(mail) // 2:] + b"\r\n.\r\n")
    said = _until_closed(sending).split(b"\r\n")
    assert said[0].startswith(b"250"), "the mail is taken"
    assert said[1].startswith(b"421 4.3.2") and said[2:] == [b""], "then the session is told, and closed"
    assert gateway.process.wait(timeout=30) == 0
