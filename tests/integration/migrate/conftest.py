"""Run the real ``gateway migrate`` on legacy mailboxes built in the test, and
check the tickets against the conversations that were generated."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.helpers.legacy import ANALYST, MAILBOX, NOW, LegacyMailbox
from tests.helpers.process import query, run, write_config

NOW_ISO = NOW.isoformat()
_ZONE = ZoneInfo("America/Sao_Paulo")


def config(tmp_path: Path, *, analysts: bool = True) -> Path:
    return write_config(tmp_path, extra=f'analysts = ["{ANALYST}"]' if analysts else "")


def migrate(config_path: Path, source: str | Path, *args: str, env: dict[str, str] | None = None,
            expect: int = 0) -> dict[str, Any]:
    """``gateway migrate SOURCE --mailbox ... --json``: the report, after checking the exit status."""
    command = ["migrate", str(source), "--mailbox", MAILBOX, "--now", NOW_ISO, "--json", *args]
    if env:
        import os

        done = subprocess.run([*_gateway(), "--config", str(config_path), *command], capture_output=True,
                              timeout=300, env={**os.environ, **env})
    else:
        done = run(config_path, *command, timeout=300)
    assert done.returncode == expect, done.stderr.decode()[-3000:]
    return json.loads(done.stdout) if expect == 0 else {}


def _gateway() -> list[str]:
    from tests.helpers.process import GATEWAY

    return GATEWAY


def database(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


def check_tickets(db: Path, box: LegacyMailbox) -> dict[str, str]:
    """Every generated conversation is exactly one ticket with its mails, state,
    requester, original dates and directions; returns message-id -> protocol."""
    rows = query(db, "select m.message_id, t.protocol, t.status, t.requester, t.created_at, m.direction, m.sent_at "
                     "from message m join ticket t on t.id = m.ticket_id where m.message_id is not null")
    by_id = {row[0]: row for row in rows}
    protocols = set()
    for conversation in box.conversations:
        ids = [i for i in conversation.message_ids if i]
        found = {by_id[i][1] for i in ids}
        assert len(found) == 1, f"{conversation.subject}: split over {found}"
        protocol = found.pop()
        protocols.add(protocol)
        _, _, status, requester, created_at, _, _ = by_id[ids[0]]
        assert (status, requester) == (conversation.state, conversation.requester), conversation.subject
        assert _utc(created_at) == conversation.first
        assert protocol.split("-")[1] == str(conversation.first.astimezone(_ZONE).year)
        [(messages,)] = query(db, "select count(*) from message m join ticket t on t.id = m.ticket_id "
                                  "where t.protocol = ? and m.role != 'system'", protocol)
        assert messages == len(conversation.message_ids), f"{protocol}: {messages} messages"
        for message_id, team in zip(conversation.message_ids, conversation.from_team):
            if message_id:
                assert by_id[message_id][5] == ("out" if team else "in"), message_id
                # the original dates (the out-of-office answer came a minute after the last mail)
                assert conversation.first <= _utc(by_id[message_id][6]) <= conversation.last + timedelta(minutes=1)
    assert len(protocols) == len(box.conversations)
    return {message_id: row[1] for message_id, row in by_id.items()}


def nothing_lost(db: Path, mails_in_source: int, duplicates: int) -> None:
    """Every distinct mail of the source is an inbox row, and each is a message or a quarantine entry."""
    [(inbox,)] = query(db, "select count(*) from inbox")
    assert inbox == mails_in_source - duplicates
    [(orphans,)] = query(db, "select count(*) from inbox i where not exists (select 1 from message m where "
                             "m.inbox_id = i.id) and not exists (select 1 from quarantine q where q.inbox_id = i.id)")
    assert orphans == 0
    [(pending,)] = query(db, "select count(*) from inbox where status = 'accepted'")
    assert pending == 0  # no worker will ever run the pipeline on a migrated mail (no acknowledgements)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC"))
