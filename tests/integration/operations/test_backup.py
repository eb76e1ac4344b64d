"""``gateway db backup``: an online copy of SQLite taken while the gateway
accepts mail over SMTP, checked, and readable on its own."""

from __future__ import annotations

import smtplib
import sqlite3
import threading

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import run, write_config


def _send(port: int, count: int, start: int = 0) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for i in range(start, start + count):
            client.sendmail(f"cidadao{i}@example.org", ["atendimento@example.gov.br"],
                            make_mail(sender=f"Cidadão {i} <cidadao{i}@example.org>", subject=f"Pedido {i}"))


def test_backup_while_mail_arrives_opens_and_holds_the_tickets(gateway, tmp_path):
    _send(gateway.port, 5)
    gateway.wait_processed(5)
    config = write_config(tmp_path)  # the same database file as the running gateway
    sending = threading.Thread(target=_send, args=(gateway.port, 30, 5))
    sending.start()
    try:
        made = run(config, "db", "backup", str(tmp_path / "copy.db"))
    finally:
        sending.join(timeout=60)
    assert made.returncode == 0, made.stderr.decode()
    assert b"integrity ok" in made.stdout
    assert not (tmp_path / "copy.db-wal").exists()
    gateway.wait_processed(35)

    with sqlite3.connect(f"file:{tmp_path / 'copy.db'}?mode=ro", uri=True) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tickets = copy.execute("SELECT count(*) FROM ticket").fetchone()[0]
        inbox = copy.execute("SELECT count(*) FROM inbox").fetchone()[0]
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    assert 5 <= tickets <= inbox <= 35
    assert (tmp_path / "copy.db").stat().st_mode & 0o077 == 0, "the copy holds personal data: owner only"


def test_backup_refuses_to_overwrite_unless_forced(gateway, tmp_path):
    config = write_config(tmp_path)
    target = tmp_path / "copy.db"
    target.write_bytes(b"an older backup")
    refused = run(config, "db", "backup", str(target))
    assert refused.returncode == 1 and b"--force" in refused.stderr
    assert target.read_bytes() == b"an older backup"
    forced = run(config, "db", "backup", "--force", str(target))
    assert forced.returncode == 0, forced.stderr.decode()
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.postgres
def test_backup_on_postgres_prints_the_pg_dump_line(tmp_path, postgres_url):
    with_password = postgres_url.replace("postgres@", "postgres:s3cr3t-pw@")
    answer = run(write_config(tmp_path, storage_url=with_password), "db", "backup", str(tmp_path / "gw.dump"))
    assert answer.returncode == 2
    err = answer.stderr.decode()
    database = postgres_url.rsplit("/", 1)[1]
    assert f"pg_dump --format=custom --file={tmp_path / 'gw.dump'} postgresql://postgres@127.0.0.1:5432/{database}" in err
    assert "pg_restore" in err and "s3cr3t-pw" not in err
    assert not (tmp_path / "gw.dump").exists()
