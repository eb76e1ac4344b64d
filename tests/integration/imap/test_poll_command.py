"""``gateway poll --once`` and ``gateway run`` as real processes against Dovecot."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from tests.helpers.dovecot import Dovecot, wait_for_count
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, query, run, write_config
from tests.helpers.servers import wait_until
from tests.integration.imap.conftest import ADDRESS, USERS

pytestmark = pytest.mark.dovecot


def _config(tmp_path: Path, dovecot: Dovecot, *, password: str = USERS["atendimento"], extra: str = "") -> Path:
    secret = tmp_path / "imap.secret"
    secret.write_text(password + "\n")
    return write_config(tmp_path, extra=f"""
[mailbox.imap]
host = "127.0.0.1"
port = {dovecot.port}
tls = "plain"
user = "atendimento"
password_file = "{secret}"
timeout = 10
reconnect_max = 2
{extra}""")


def test_poll_once_drains_the_folder_processes_and_exits(tmp_path: Path, dovecot: Dovecot) -> None:
    dovecot.append("atendimento", make_mail(subject="Pelo cron"), make_mail(subject="Também pelo cron"))
    config = _config(tmp_path, dovecot)
    done = run(config, "poll", "--once", "--mailbox", ADDRESS)
    assert done.returncode == 0, done.stderr.decode()
    assert f"{ADDRESS}: took 2 mail(s), held 0 in quarantine" in done.stdout.decode()
    assert "processed 2 mail(s)" in done.stdout.decode()
    listing = json.loads(run(config, "tickets", "list", "--json").stdout)
    assert sorted(t["subject"] for t in listing) == ["Pelo cron", "Também pelo cron"]
    assert (dovecot.count("atendimento", "INBOX"), dovecot.count("atendimento", "Processed")) == (0, 2)
    again = run(config, "poll", "--once")
    assert "took 0 mail(s)" in again.stdout.decode()


def test_poll_once_with_a_refused_login_exits_1_naming_mailbox_and_server_words(
        tmp_path: Path, dovecot: Dovecot) -> None:
    config = _config(tmp_path, dovecot, password="senha-antiga")
    done = run(config, "poll", "--once")
    assert done.returncode == 1
    error = done.stderr.decode()
    assert f"mailbox {ADDRESS}: IMAP atendimento@127.0.0.1:{dovecot.port} (INBOX): login refused" in error
    assert "Authentication failed" in error and "mailbox[0].imap.user" in error


def test_poll_without_imap_config_says_so(tmp_path: Path) -> None:
    done = run(write_config(tmp_path), "poll", "--once")
    assert done.returncode == 2 and "no [mailbox.imap]" in done.stderr.decode()


def test_kill_9_while_draining_then_restart_loses_and_duplicates_nothing(tmp_path: Path, dovecot: Dovecot) -> None:
    """``gateway run`` killed with SIGKILL at an arbitrary point of a drain."""
    total = 120
    dovecot.append("atendimento", *[make_mail(subject=f"Pedido {n:03d}") for n in range(total)])
    config = _config(tmp_path, dovecot, extra="batch_size = 7\n")
    log = tmp_path / "gateway.log"
    db = tmp_path / "gateway.db"

    first = GatewayProcess(config, log).start()
    try:
        wait_until(lambda: db.exists() and query(db, "select count(*) from inbox")[0][0] >= 20,
                   timeout=30, interval=0.01, what="the first mails to be accepted")
    finally:
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    assert dovecot.count("atendimento", "INBOX") > 0, "the drain finished before the kill; nothing was tested"

    second = GatewayProcess(config, log).start()
    try:
        wait_for_count(dovecot, "atendimento", "Processed", total, timeout=60)
        wait_until(lambda: query(db, "select count(*) from inbox where status = 'accepted'")[0][0] == 0,
                   timeout=30, what="processing to finish")
    finally:
        assert second.terminate() == 0, log.read_text()[-3000:]
    subjects = [row[0] for row in query(db, "select subject from ticket order by subject")]
    assert subjects == [f"Pedido {n:03d}" for n in range(total)]
    assert dovecot.count("atendimento", "INBOX") == 0


def test_two_cron_polls_at_once_make_one_ticket_per_mail(tmp_path: Path, dovecot: Dovecot) -> None:
    """osTicket#1976: cron runs that overlap fetched each mail twice or three
    times, one ticket each.  Two `gateway poll --once` started together on
    the same folder and database: each mail one ticket, one acknowledgement,
    moved once (two sessions moving the same mails left copies in Processed
    and quarantined placeholders), both processes exit 0."""
    import subprocess
    import sys

    total = 40
    dovecot.append("atendimento", *[make_mail(subject=f"Pedido {n:02d}", sender=f"Cidadão {n} <cidadao{n}@example.org>")
                                    for n in range(total)])
    config = _config(tmp_path, dovecot, extra="batch_size = 5\n")
    assert run(config, "tickets", "list").returncode == 0  # the schema exists before the race
    polls = [subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "poll", "--once"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [poll.communicate(timeout=120) for poll in polls]
    assert [poll.returncode for poll in polls] == [0, 0], [[l for l in err.decode().splitlines() if "INFO" not in l] for _, err in outputs]
    db = tmp_path / "gateway.db"
    assert query(db, "select count(*), count(distinct subject) from ticket") == [(total, total)]
    assert query(db, "select count(*) from outbox where kind = 'ack'") == [(total,)]
    assert query(db, "select count(*) from inbox where status = 'accepted'") == [(0,)]
    assert (dovecot.count("atendimento", "INBOX"), dovecot.count("atendimento", "Processed")) == (0, total)
    # One session at a time: the other stood aside, or came after and found nothing.
    said = [out.decode() for out, _ in outputs]
    took = [int(found.group(1)) if (found := re.search(r"took (\d+) mail", text)) else 0 for text in said]
    assert sum(took) == total and all("took" in text or "another process is polling INBOX" in text for text in said)
    assert query(db, "select status, count(*) from inbox group by status") == [("processed", total)]


def test_a_poll_while_another_process_holds_the_folder_takes_nothing_and_exits_0(
        tmp_path: Path, dovecot: Dovecot) -> None:
    """The deterministic half of the overlap: while another process holds the
    folder (here, this test, through the store's own hold), a cron poll
    leaves it alone, says so, exits 0; once released, the next poll takes all."""
    from datetime import datetime, timezone

    from gateway.config import StorageConfig
    from gateway.store.db import Database
    from gateway.store.imap_state import ImapStateStore

    dovecot.append("atendimento", make_mail(subject="Aguardando"))
    config = _config(tmp_path, dovecot)
    assert run(config, "tickets", "list").returncode == 0
    database = Database(StorageConfig(url=f"sqlite:///{tmp_path}/gateway.db"))
    try:
        with ImapStateStore(database, lambda: datetime.now(timezone.utc)).exclusive(ADDRESS, "INBOX") as held:
            assert held.mine
            skipped = run(config, "poll", "--once")
            assert skipped.returncode == 0, skipped.stderr.decode()
            assert "another process is polling INBOX; left to it" in skipped.stdout.decode()
            assert dovecot.count("atendimento", "INBOX") == 1
    finally:
        database.dispose()
    taken = run(config, "poll", "--once")
    assert "took 1 mail(s)" in taken.stdout.decode() and dovecot.count("atendimento", "INBOX") == 0
