"""What the gateway writes is not world-readable, whatever umask it inherits.

The real command runs in a child process started with the permissive umask
of a shell or a bare unit (022); the database (and its WAL files while a
gateway runs), the outbox Maildir, the folder of refused pipe mails and the
folders holding them must have no bit for "others" (``gateway.cli`` sets a
0027 umask before anything is created).
"""

from __future__ import annotations

import os
import smtplib
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GATEWAY, background_pid, smtp_port, wait_for_background, write_config
from tests.helpers.servers import wait_until

PARENT_UMASK = 0o022


def _gateway(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*GATEWAY, "--config", str(config), *args], input=stdin, capture_output=True,
                          timeout=60, umask=PARENT_UMASK, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _config(tmp_path: Path) -> Path:
    """A config whose data lives under ``var/``, which the gateway itself creates."""
    config = write_config(tmp_path, storage_url=f"sqlite:///{tmp_path}/var/gateway.db")
    text = config.read_text().replace(f'path = "{tmp_path}/outbox"', f'path = "{tmp_path}/var/outbox"')
    config.write_text(text.replace("[smtp]\n", "[smtp]\nmax_message_size = 20000\n", 1))
    return config


def _world_accessible(root: Path) -> list[str]:
    """Every file or folder under ``root`` (itself included) that others may read, write or enter."""
    found = []
    for path in [root, *sorted(root.rglob("*"))]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o007:
            found.append(f"{path.relative_to(root.parent)} {mode:04o}")
    return found


def test_one_shot_commands_write_nothing_world_readable(tmp_path: Path) -> None:
    config = _config(tmp_path)
    var = tmp_path / "var"

    ingested = _gateway(config, "ingest", stdin=make_mail(subject="Erro no cadastro"))
    assert ingested.returncode == 0, ingested.stderr
    refused = _gateway(config, "ingest", stdin=make_mail(subject="Grande", body="x" * 30_000))
    assert refused.returncode == 65 and b"kept in" in refused.stderr, refused.stderr
    # On the database made by the first, the pipe stores and starts `gateway process` (its log beside rejected/).
    again = _gateway(config, "ingest", stdin=make_mail(subject="Outro pedido"))
    assert again.returncode == 0 and background_pid(again.stdout + again.stderr), again.stderr
    wait_for_background(again.stdout + again.stderr)
    sent = _gateway(config, "send")  # the background process sent them all already
    assert sent.returncode == 0 and b"tried 0 mail(s)" in sent.stdout, sent.stdout + sent.stderr

    assert (var / "gateway.db").is_file() and (var / "process.log").is_file()
    assert len(list((var / "outbox" / "new").iterdir())) == 4, "two acknowledgements and two team notifications"
    assert len(list((var / "rejected").iterdir())) == 1
    assert _world_accessible(var) == []


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """``gateway run`` started with umask 022, listening."""
    config = _config(tmp_path)
    with (tmp_path / "run.log").open("ab") as log:
        process = subprocess.Popen([*GATEWAY, "--config", str(config), "run"], stdout=log, stderr=subprocess.STDOUT,
                                   umask=PARENT_UMASK, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        def listening() -> bool:
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=2) as client:
                    return client.noop()[0] == 250
            except OSError:
                return False

        wait_until(listening, timeout=30, interval=0.1, what="gateway run to listen")
        yield config, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_running_gateway_writes_nothing_world_readable(tmp_path: Path, running) -> None:
    config, _ = running
    var = tmp_path / "var"
    with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
        client.sendmail("ana.souza@example.org", ["atendimento@example.gov.br"], make_mail(subject="Pelo SMTP"))
    new = var / "outbox" / "new"
    wait_until(lambda: new.is_dir() and len(list(new.iterdir())) == 2, timeout=30, what="two mails in the outbox")

    assert (var / "gateway.db-wal").exists(), "WAL files exist while the gateway runs: they are checked too"
    assert _world_accessible(var) == []


def test_a_stricter_inherited_umask_is_kept(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ingested = subprocess.run([*GATEWAY, "--config", str(config), "ingest"], input=make_mail(), capture_output=True,
                              timeout=60, umask=0o077, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert ingested.returncode == 0, ingested.stderr
    assert stat.S_IMODE((tmp_path / "var" / "gateway.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
