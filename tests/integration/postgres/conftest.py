"""A fresh PostgreSQL database per test, on the server at 127.0.0.1:5432;
``db`` runs a test on it and on SQLite, migrated, for code that must
behave alike on both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import StorageConfig
from gateway.store.db import Database
from tests.conftest import need

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _server_up() -> bool:
    import psycopg

    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"):
            return True
    except psycopg.Error:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import psycopg

    need(_server_up(), "PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, database test)")
    name = f"gateway_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (f"sqlite:///{tmp_path}/gateway.db" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    database = Database(StorageConfig(url=url))
    database.migrate()
    yield database
    database.dispose()
