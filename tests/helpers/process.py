"""Run the real ``gateway`` command as a separate process, with a config file."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers.servers import free_port, wait_until

GATEWAY = [sys.executable, "-m", "gateway"]


def write_config(tmp_path: Path, *, storage_url: str | None = None, port: int | None = None,
                 admin_port: int = 0, extra: str = "") -> Path:
    """``admin_port``: 0 (the default) binds any free port, never 8026, so gateways run side by side."""
    config = tmp_path / "gateway.toml"
    web_port = free_port()  # never the default 8080: tests run side by side
    config.write_text(f"""
[storage]
url = "{storage_url or f'sqlite:///{tmp_path}/gateway.db'}"

[smtp]
port = {port or free_port()}

[web]
port = {web_port}
base_url = "http://127.0.0.1:{web_port}"

[admin]
port = {admin_port}

[outbound]
path = "{tmp_path}/outbox"
poll_interval = 0.1

[processing]
poll_interval = 0.1

[[mailbox]]
address = "atendimento@example.gov.br"
name = "Central de Atendimento"
protocol_prefix = "ATD"
team = ["equipe@example.gov.br"]
{extra}
""", encoding="utf-8")
    return config


def smtp_port(config: Path) -> int:
    import tomllib

    return int(tomllib.loads(config.read_text())["smtp"]["port"])


def run(config: Path, *args: str, stdin: bytes | None = None, timeout: float = 60,
        background: bool = False) -> subprocess.CompletedProcess[bytes]:
    """One command, to its exit.  A pipe (``ingest``) that started ``gateway
    process`` in the background is also waited for, so that the test reads
    the processed mail, unless ``background``."""
    done = subprocess.run([*GATEWAY, "--config", str(config), *args], input=stdin, capture_output=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if not background:
        wait_for_background(done.stdout + done.stderr, timeout)
    return done


def background_pid(output: bytes) -> int | None:
    """The pid of the ``gateway process`` a pipe started, from its line."""
    found = re.search(rb"started in the background \(pid (\d+)\)", output)
    return int(found.group(1)) if found else None


def wait_for_background(output: bytes, timeout: float = 60) -> None:
    """Until the background ``gateway process`` named in ``output`` has exited."""
    pid = background_pid(output)
    if pid is not None:
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=timeout,
                   what=f"the background gateway process (pid {pid}) to finish")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class GatewayProcess:
    """``gateway run`` in a child process that a test may kill at any moment."""

    def __init__(self, config: Path, log: Path, *, options: tuple[str, ...] = (), only: str = "",
                 gateway: tuple[str, ...] = (), env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        """``options`` go before the command, as ``gateway -v run``; ``only`` is ``run --only``;
        ``gateway``, ``env`` and ``cwd``: another installation's command (the wheel's) and where it runs."""
        self.config, self.log, self.options, self.only = config, log, options, only
        self.gateway, self.env, self.cwd = gateway or tuple(GATEWAY), env, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        with self.log.open("ab") as handle:  # the child keeps its own copy
            command = [*self.gateway, *self.options, "--config", str(self.config), "run",
                       *(("--only", self.only) if self.only else ())]
            self.process = subprocess.Popen(command, cwd=self.cwd,
                                            stdout=handle, stderr=subprocess.STDOUT,
                                            env={**(self.env or os.environ), "PYTHONUNBUFFERED": "1"})
        port = smtp_port(self.config)

        def listening() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                    return client.noop()[0] == 250
            except OSError:
                return False

        wait_until(listening, timeout=30, interval=0.1, what="gateway run to listen")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def query(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def sleep_briefly(seconds: float) -> None:
    time.sleep(seconds)
