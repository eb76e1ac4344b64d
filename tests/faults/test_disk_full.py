"""Issue 20.2: a full disk is the gateway's problem, not the mail's.

The SQLite database lives on a small tmpfs the test mounts (we run as
root; the test is skipped where mounting is not allowed).  Mails are
accepted, the filesystem is then filled to a few kilobytes, and a
processor started: its writes fail with "database or disk is full".  No
mail may be quarantined for that; the mails stay accepted, the operator
sees the error (log line, ``gateway_storage_errors_total{kind="disk_full"}``,
``/healthz`` 503 with a ``storage`` check), and once space is freed every
accepted mail becomes a ticket with one acknowledgement at the relay."""

from __future__ import annotations

import os
import re
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import need
from tests.faults.support import Role, Store, message_ids, relay_config, wait_for
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, smtp_port
from tests.helpers.servers import CaptureRelay, free_port

MAILS = 150
ROOM = 96 * 1024  # left free on the filesystem when it is "full": the processor can open the database


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs mounted for this test (fills up cleanly, like a real disk)."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    need(mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(where: Path, leave: int) -> Path:
    """A file taking all the space but ``leave`` bytes."""
    filler = where / "filler"
    stat = os.statvfs(where)
    size = max(0, stat.f_bavail * stat.f_frsize - leave)
    with filler.open("wb") as handle:
        chunk = b"\0" * (1024 * 1024)
        while size > 0:
            handle.write(chunk[:min(size, len(chunk))])
            size -= min(size, len(chunk))
    return filler


def _metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_a_full_disk_leaves_accepted_mail_accepted_and_it_is_processed_once_space_is_back(
        tmp_path: Path, small_disk: Path, processes: list[GatewayProcess]) -> None:
    relay = CaptureRelay().start()
    store = Store("", small_disk / "gateway.db")
    admin = free_port()
    try:
        config = relay_config(tmp_path, relay, storage_url=f"sqlite:///{small_disk}/gateway.db")
        config.write_text(config.read_text().replace("[admin]\nport = 0", f"[admin]\nport = {admin}"))
        listener = Role(config, tmp_path / "listener.log", only="smtp")
        processes.append(listener.start())
        with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
            for i in range(MAILS):
                client.sendmail(f"cidadao{i}@example.org", ["atendimento@example.gov.br"],
                                make_mail(sender=f"Cidadão {i} <cidadao{i}@example.org>", subject=f"Pedido {i}"))
        assert listener.terminate() == 0
        assert store.statuses("inbox") == {"accepted": MAILS}

        filler = _fill(small_disk, ROOM)
        worker = Role(config, tmp_path / "worker.log", only="process,send,admin")
        processes.append(worker.start())
        full = 'gateway_storage_errors_total{kind="disk_full"}'
        wait_for(lambda: _health_answers(admin) and _metric(admin, full) >= 2, timeout=30,
                 what=f"the processor to meet the full disk, twice; see {tmp_path / 'worker.log'}")
        health = httpx.get(f"http://127.0.0.1:{admin}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["checks"]["storage"]["last_kind"] == "disk_full"
        assert store.one("select count(*) from quarantine") == 0, store.rows("select reason from quarantine")
        assert "storage error (disk_full)" in (tmp_path / "worker.log").read_text()
        stalled = store.statuses("inbox")
        assert stalled.get("accepted", 0) > 0, f"the disk must be full before the backlog is done: {stalled}"

        filler.unlink()
        wait_for(lambda: store.statuses("inbox") == {"processed": MAILS}
                 and store.statuses("outbox").get("sent", 0) == 2 * MAILS, timeout=45,
                 what=lambda: f"every mail processed and sent once space is back ({store.statuses('inbox')}, "
                      f"{store.statuses('outbox')})")
        assert worker.terminate() == 0
    finally:
        for process in processes:
            process.kill()
        relay.stop()

    assert store.one("select count(*) from quarantine") == 0
    assert store.one("select count(distinct requester) from ticket") == MAILS
    acks = [raw for _, rcpts, raw in relay.messages if rcpts[0].startswith("cidadao")]
    assert sorted(rcpts[0] for _, rcpts, _ in relay.messages if rcpts[0].startswith("cidadao")) == sorted(
        f"cidadao{i}@example.org" for i in range(MAILS)), "one acknowledgement for each accepted mail"
    assert len(acks) == MAILS and all(n == 1 for n in message_ids(relay).values())


def _health_answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        return True
    except httpx.HTTPError:
        return False
