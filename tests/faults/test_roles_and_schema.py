"""Issue 20.3 (done in issue 14, held here): roles started together on an
empty PostgreSQL database do not race the schema, and a role started while
its database is down waits for it instead of exiting.

The first uses a fresh database on the shared server; the second a private
cluster this test starts on a port of its own (never the shared one)."""

from __future__ import annotations

import glob
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.faults.support import Role, Store, relay_config, wait_for
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, smtp_port
from tests.helpers.servers import CaptureRelay, free_port


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_three_roles_started_at_once_on_an_empty_database_all_serve(
        tmp_path: Path, store: Store, processes: list[GatewayProcess]) -> None:
    relay = CaptureRelay().start()
    try:
        config = relay_config(tmp_path, relay, storage_url=store.url)
        roles = [Role(config, tmp_path / f"{only}.log", only=only) for only in ("send", "process", "smtp")]
        processes.extend(roles)
        for role in roles[:2]:
            role.start()  # returns at once: the three start together
        roles[2].start()  # waits for the listener
        with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
            client.sendmail("ana@example.org", ["atendimento@example.gov.br"], make_mail(sender="Ana <ana@example.org>"))
        wait_for(lambda: store.statuses("outbox") == {"sent": 2}, timeout=30,
                 what=lambda: f"the ack and team notice sent ({store.statuses('outbox')})")
        for role in roles:
            assert role.process is not None and role.process.poll() is None, role.log.read_text()[-2000:]
            assert role.terminate() == 0
    finally:
        relay.stop()
    assert store.one("select count(*) from alembic_version") == 1
    assert len(relay.messages) == 2


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A PostgreSQL cluster of this test's own (initdb, not started yet), run as the postgres user."""
    bin_dir = _pg_bin()
    need(bin_dir is not None and shutil.which("runuser") is not None, "no initdb or runuser here")
    assert bin_dir is not None
    # Not under tmp_path: pytest's folders are root's alone, and the server runs as postgres.
    home = Path(tempfile.mkdtemp(prefix="gateway-faults-pg-"))
    home.chmod(0o755)
    data = home / "data"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "--no-sync"], check=True, capture_output=True, timeout=120)
    port = free_port()
    yield data, port
    subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                    "stop"], capture_output=True, timeout=60)
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_a_role_started_while_its_database_is_down_waits_for_it(
        tmp_path: Path, private_cluster: tuple[Path, int], processes: list[GatewayProcess]) -> None:
    data, port = private_cluster
    relay = CaptureRelay().start()
    try:
        config = relay_config(tmp_path, relay, storage_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        gateway = Role(config, tmp_path / "gateway.log", only="process,send")
        processes.append(gateway.start())  # the database is not up yet
        wait_for(lambda: "not reachable" in gateway.log.read_text(), timeout=20,
                 what=lambda: f"the role to say it waits ({gateway.log.read_text()[-1000:]})")
        assert gateway.process is not None and gateway.process.poll() is None, "it waits instead of exiting"
        bin_dir = _pg_bin()
        assert bin_dir is not None
        subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-o",
                        f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-l", str(data / "server.log"),
                        "start"], check=True, capture_output=True, timeout=60)
        store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", None)
        wait_for(lambda: _has_schema(store), timeout=40, what="the role to create the schema once the database is up")
        listener = Role(config, tmp_path / "listener.log", only="smtp")
        processes.append(listener.start())
        with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
            client.sendmail("ana@example.org", ["atendimento@example.gov.br"], make_mail(sender="Ana <ana@example.org>"))
        wait_for(lambda: store.statuses("outbox") == {"sent": 2}, timeout=30,
                 what=lambda: f"the mail processed and answered ({store.statuses('outbox')})")
        assert listener.terminate() == 0 and gateway.terminate() == 0
    finally:
        relay.stop()


def _has_schema(store: Store) -> bool:
    try:
        return bool(store.rows("select 1 from alembic_version"))
    except Exception:  # noqa: BLE001 - not up, or no table yet
        return False
