"""Ordinary commands check the schema revision and never migrate; ``gateway
db upgrade`` is the one way a database changes; roles started together on
an empty database all come up.  On SQLite and on PostgreSQL."""

from __future__ import annotations

import smtplib
import subprocess
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from gateway.store.revisions import MIGRATIONS
from gateway.store.schema import head
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GATEWAY, run, smtp_port, write_config
from tests.helpers.servers import free_port, wait_until
from tests.integration.operations.conftest import sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _at_revision(url: str, revision: str) -> None:
    """Build the schema as an older gateway would have left it."""
    engine = create_engine(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _one_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], stderr.decode()
    return lines[0]


def test_an_empty_database_is_created_at_head_by_any_command(tmp_path, url):
    config = write_config(tmp_path, storage_url=url)
    listed = run(config, "tickets", "list")
    assert listed.returncode == 0, listed.stderr.decode()
    assert _revision(url) == head()
    status = run(config, "db", "status")
    assert status.returncode == 0 and b"up to date" in status.stdout
    assert b"processing: 0 mail(s) waiting; 0 processing worker(s) alive" in status.stdout


def test_a_database_behind_is_refused_until_db_upgrade(tmp_path, url):
    older = "0005"
    _at_revision(url, older)
    config = write_config(tmp_path, storage_url=url)

    refused = run(config, "tickets", "list")
    line = _one_line(refused.stderr)
    assert refused.returncode == 78
    assert "behind" in line and "gateway db upgrade" in line and older in line and head() in line
    assert _revision(url) == older, "an ordinary command must not migrate"

    status = run(config, "db", "status")
    assert status.returncode == 1 and b"behind: run gateway db upgrade" in status.stdout

    upgraded = run(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr.decode()
    assert f"upgraded from {older} to {head()}".encode() in upgraded.stdout
    assert _revision(url) == head()
    assert run(config, "tickets", "list").returncode == 0
    again = run(config, "db", "upgrade")
    assert again.returncode == 0 and b"already at revision" in again.stdout


def test_a_database_ahead_is_refused_by_commands_and_by_upgrade(tmp_path, url):
    _at_revision(url, "head")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    config = write_config(tmp_path, storage_url=url)

    refused = run(config, "tickets", "list")
    assert refused.returncode == 78 and "ahead" in _one_line(refused.stderr)
    swept = run(config, "sweep")  # cron's command builds the whole gateway: the same one line, no traceback
    assert swept.returncode == 78 and "ahead" in _one_line(swept.stderr)
    status = run(config, "db", "status")
    assert status.returncode == 1 and b"ahead: this gateway is older than the database" in status.stdout
    upgrade = run(config, "db", "upgrade")
    assert upgrade.returncode == 78 and "ahead" in _one_line(upgrade.stderr)
    assert _revision(url) == "9999_from_the_future"


def test_db_status_on_an_empty_database_says_so(tmp_path, url):
    status = run(write_config(tmp_path, storage_url=url), "db", "status")
    assert status.returncode == 1
    assert f"head:     {head()}".encode() in status.stdout and b"empty: no tables yet" in status.stdout


@pytest.mark.postgres
def test_refusal_names_the_url_with_its_password_masked(tmp_path, postgres_url):
    with_password = postgres_url.replace("postgres@", "postgres:s3cr3t-pw@")  # trust auth ignores it
    _at_revision(postgres_url, "0005")
    refused = run(write_config(tmp_path, storage_url=with_password), "tickets", "list")
    line = _one_line(refused.stderr)
    assert refused.returncode == 78 and "s3cr3t-pw" not in line and "postgres:***@127.0.0.1" in line


def test_a_database_that_is_down_is_one_line_not_a_traceback(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"  # nobody listens there
    refused = run(write_config(tmp_path, storage_url=url), "tickets", "list")
    line = _one_line(refused.stderr)
    assert refused.returncode == 75 and "cannot connect" in line and "127.0.0.1" in line


@pytest.mark.postgres
def test_three_roles_started_at_once_on_an_empty_postgres_all_come_up(tmp_path, postgres_url):
    config = write_config(tmp_path, storage_url=postgres_url)
    logs = [tmp_path / f"{role}.log" for role in ("smtp", "process", "send")]
    processes = []
    try:
        for role, log in zip(("smtp", "process", "send"), logs):
            with log.open("wb") as handle:
                processes.append(subprocess.Popen([*GATEWAY, "--config", str(config), "run", "--only", role],
                                                  stdout=handle, stderr=subprocess.STDOUT))
        port = smtp_port(config)

        def listening() -> bool:
            for process, log in zip(processes, logs):
                assert process.poll() is None, log.read_text()[-3000:]
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                    return client.noop()[0] == 250
            except OSError:
                return False

        wait_until(listening, timeout=60, interval=0.2, what="the smtp role to listen")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("ana.souza@example.org", ["atendimento@example.gov.br"], make_mail())
        engine = create_engine(postgres_url)
        try:
            def sent() -> bool:
                for process, log in zip(processes, logs):
                    assert process.poll() is None, log.read_text()[-3000:]
                with engine.connect() as connection:  # processed by one role, sent by another
                    return bool(connection.execute(text("SELECT count(*) FROM outbox WHERE status = 'sent'")).scalar())
            wait_until(sent, timeout=60, interval=0.2, what="the mail processed and its answers sent")
        finally:
            engine.dispose()
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    for log in logs:
        content = log.read_text()
        assert "UniqueViolation" not in content and "Traceback" not in content, content[-3000:]
    assert _revision(postgres_url) == head()
