"""Operations tests: the schema check, backups, retention and erasure.

They reuse the desk of the lifecycle tests (a real gateway behind a real
SMTP listener, a citizen and an analyst who write to it) and the fresh
PostgreSQL database per test of the postgres tests; ``scan`` reads every
text and binary column of every table, so a column added later is covered
without editing these tests."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, create_engine, select
from sqlalchemy.types import JSON, String, Text

from gateway.store.models import Base
from tests.integration.lifecycle.conftest import desk, desk_settings, open_desk  # noqa: F401 - fixtures
from tests.integration.postgres.conftest import postgres_url  # noqa: F401 - fixture


def scan(url: str, needles: list[str]) -> list[str]:
    """``table.column #row: needle`` for every stored value that holds one
    of ``needles`` (case-insensitive), including inside a raw mail's
    encoded parts (quoted-printable, base64)."""
    engine = create_engine(url)
    found = []
    try:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                columns = [c for c in table.columns if isinstance(c.type, (String, Text, LargeBinary, JSON))]
                for number, row in enumerate(connection.execute(select(*columns))):
                    for column, value in zip(columns, row):
                        text = _readable(value).lower()
                        found += [f"{table.name}.{column.name} #{number}: {n}" for n in needles if n.lower() in text]
    finally:
        engine.dispose()
    return found


def _readable(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        text = value.decode("latin-1")
        if value:
            mail = message_from_bytes(value, policy=policy.default)
            for part in mail.walk():
                if not part.is_multipart():
                    payload = part.get_payload(decode=True) or b""
                    text += "\n" + payload.decode("utf-8", "replace")
            text += "\n" + "\n".join(str(v) for v in mail.values())
        return text
    return str(value)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/gateway.db"
