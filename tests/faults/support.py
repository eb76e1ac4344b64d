"""Helpers of the fault tests: the gateway (or one of its roles) as a child
process, a capture relay in this process, SQL on SQLite or PostgreSQL.

Every wait is bounded; the tests assert counts an operator could check:
Message-IDs at the relay (distinct and repeated), rows left ``sending``,
mails quarantined, tickets."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.process import GatewayProcess, query, write_config
from tests.helpers.servers import CaptureRelay, wait_until

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^\s<>]+)>?", re.IGNORECASE | re.MULTILINE)


class Role(GatewayProcess):
    """``gateway run --only ...``; a role without the SMTP listener has
    nothing to connect to, so ``start`` returns at once (the test waits for
    what the role does)."""

    def start(self) -> Role:
        if "smtp" in self.only.split(",") or not self.only:
            super().start()
            return self
        import os
        import subprocess

        with self.log.open("ab") as handle:
            self.process = subprocess.Popen([*self.gateway, *self.options, "--config", str(self.config), "run",
                                             "--only", self.only], stdout=handle, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self


def relay_config(tmp_path: Path, relay: CaptureRelay, *, storage_url: str | None = None, extra: str = "",
                 retry_initial: int = 1) -> Path:
    """The test config (tests.helpers.process) with the outbox going to ``relay`` by SMTP."""
    config = write_config(tmp_path, storage_url=storage_url, extra=extra)
    text = config.read_text(encoding="utf-8").replace(
        "[outbound]\n", f'[outbound]\nmode = "smtp"\nhost = "127.0.0.1"\nport = {relay.port}\ntimeout = 10\n'
                        f"retry_initial = {retry_initial}\nretry_max = 2\n", 1)
    config.write_text(text, encoding="utf-8")
    return config


def message_ids(relay: CaptureRelay) -> Counter[str]:
    """How many times the relay got each Message-ID."""
    found: Counter[str] = Counter()
    for _, _, raw in list(relay.messages):
        match = _MESSAGE_ID.search(raw.split(b"\r\n\r\n", 1)[0])
        assert match, raw[:500]
        found[match.group(1).decode()] += 1
    return found


class Store:
    """Read-only SQL on the gateway's database, SQLite or PostgreSQL."""

    def __init__(self, url: str, sqlite_path: Path | None) -> None:
        self.url, self.sqlite_path = url, sqlite_path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.sqlite_path is not None:
            return query(self.sqlite_path, sql, *params)
        import psycopg

        dsn = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def one(self, sql: str, *params: Any) -> Any:
        [(value,)] = self.rows(sql, *params)
        return value

    def statuses(self, table: str) -> dict[str, int]:
        return dict(self.rows(f"select status, count(*) from {table} group by status"))


def wait_for(check: Any, *, timeout: float, what: str | Callable[[], str], interval: float = 0.1) -> Any:
    """``wait_until`` with the faults' slower default poll."""
    return wait_until(check, timeout=timeout, interval=interval, what=what)
