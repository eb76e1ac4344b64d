"""The wheel, installed as an operator installs it, runs.

A wheel is built from this checkout and installed with its runtime
dependencies (only those) into a fresh venv outside the checkout
(tests/helpers/wheel.py); every command runs from a folder outside the
checkout.  This is what broke before: the templates lived at the top of the
repository and a wheel install looked for them in site-packages.
"""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from gateway import __version__
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import smtp_port, write_config
from tests.helpers.servers import free_port, wait_until
from tests.helpers.wheel import ROOT, installed_env, installed_gateway

pytestmark = pytest.mark.slow

PROTOCOL = re.compile(r"\bATD-\d{4}-\d{6}-\d\b")


@pytest.fixture(scope="session")
def gateway_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_gateway(tmp_path_factory)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory with nothing of the checkout in it."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def config_for(tmp_path: Path, **options: str) -> Path:
    """SQLite and the outbox Maildir in ``tmp_path``; SMTP, web and admin on free loopback ports."""
    return write_config(tmp_path, admin_port=free_port(), **options)


def run(gateway_bin: Path, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_bin), *args], cwd=cwd, env=installed_env(gateway_bin), capture_output=True,
                          text=True, timeout=timeout)


def test_version_is_the_packaged_one(gateway_bin: Path, outside: Path) -> None:
    done = run(gateway_bin, "--version", cwd=outside)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"gateway (ticket-gateway) {__version__}"


def test_code_and_templates_come_from_the_venv(gateway_bin: Path, outside: Path) -> None:
    venv = gateway_bin.parent.parent
    python = gateway_bin.parent / "python"
    done = subprocess.run([str(python), "-c", "import gateway; from gateway.outbound.render import SHIPPED; "
                           "print(gateway.__file__); print(SHIPPED)"],
                          cwd=outside, env=installed_env(gateway_bin), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    module, templates = (Path(line) for line in done.stdout.split())
    for path in (module, templates):
        assert path.is_relative_to(venv.resolve()) and not path.is_relative_to(ROOT), path
    assert (templates / "email" / "pt_BR" / "ack.subject.j2").is_file()
    assert (templates / "web" / "track.html").is_file()
    # A server that got only the wheel has the units the README copies from it.
    units = templates.parent / "systemd"
    ours = sorted(path.relative_to(ROOT / "systemd") for path in (ROOT / "systemd").rglob("*") if path.is_file())
    assert Path("gateway.service") in ours and Path("sysusers.d/ticket-gateway.conf") in ours, ours
    for unit in ours:
        assert (units / unit).read_bytes() == (ROOT / "systemd" / unit).read_bytes(), unit


def test_check_config_passes(gateway_bin: Path, tmp_path: Path, outside: Path) -> None:
    done = run(gateway_bin, "--config", str(config_for(tmp_path)), "check-config", cwd=outside)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout


def test_postgresql_without_its_extra_says_what_to_install(gateway_bin: Path, tmp_path: Path,
                                                            outside: Path) -> None:
    """The base install has no PostgreSQL driver; asking for one is a one-line
    configuration error naming the key and the extra, not a traceback."""
    config = config_for(tmp_path, storage_url="postgresql+psycopg://gateway@127.0.0.1:5432/test")
    done = run(gateway_bin, "--config", str(config), "tickets", "list", cwd=outside)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    problem = done.stderr.strip()
    assert len(problem.splitlines()) == 1, problem
    assert "[storage] url" in problem and "pip install 'ticket-gateway[postgresql]'" in problem


def test_one_mail_is_acknowledged_end_to_end(gateway_bin: Path, tmp_path: Path, outside: Path) -> None:
    config = config_for(tmp_path)
    log = tmp_path / "gateway.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([str(gateway_bin), "--config", str(config), "run"], cwd=outside,
                                   env=installed_env(gateway_bin), stdout=handle, stderr=subprocess.STDOUT)
    try:
        port = smtp_port(config)

        def listening() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    return client.noop()[0] == 250
            except OSError:
                return False

        wait_until(listening, timeout=60, interval=0.2, what="the installed gateway to listen")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("ana.souza@example.org", ["atendimento@example.gov.br"],
                            make_mail(subject="Certidão não emitida"))

        new = tmp_path / "outbox" / "new"  # the team's notice lands there too

        def acknowledgement() -> Any:
            mails = [message_from_bytes(path.read_bytes(), policy=policy.default)
                     for path in (sorted(new.iterdir()) if new.is_dir() else [])]
            return next((mail for mail in mails if "ana.souza@example.org" in str(mail["To"])), None)

        ack = wait_until(acknowledgement, timeout=60, interval=0.2, what=f"the acknowledgement in {new}")
        assert PROTOCOL.search(str(ack["Subject"])), ack["Subject"]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise
    assert status == 0, log.read_text(errors="replace")[-3000:]
