"""Fixtures of the fault tests: the gateway's database (SQLite, or a fresh
database on the shared PostgreSQL server) and the processes a test starts,
killed at its end whatever happened."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.faults.support import PG_ADMIN, Store
from tests.helpers.process import GatewayProcess


def _pg_up() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The gateway's database: a SQLite file, or a fresh database on the shared PostgreSQL server."""
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path}/gateway.db", tmp_path / "gateway.db")
        return
    import psycopg

    need(_pg_up(), "PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, database test)")
    name = f"gateway_faults_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", None)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    """Every gateway process a test starts, killed at the end whatever happened."""
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        process.kill()
