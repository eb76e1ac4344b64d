"""Short commands import only what they use (issue 19: `gateway tickets list`
took 1.3 s, 95% of it imports of the pipeline, the listeners and the web
pages it never ran).

Structural, not timed: each command runs in a child Python with
``-X importtime`` and the modules it imported are read from that list.
The times themselves are ``bench/cli.py``'s business.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAILBOX = "atendimento@example.gov.br"

# What a command that only reads or changes rows never needs.
HEAVY = ("gateway.app", "gateway.pipeline", "gateway.ingest", "gateway.web", "gateway.transports", "jinja2",
         "aiosmtpd", "uvicorn", "starlette", "apscheduler", "prometheus_client", "alembic")


def _imported(tmp_path: Path, *args: str, stdin: bytes = b"") -> set[str]:
    config = tmp_path / "gateway.toml"
    if not config.exists():
        config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/gateway.db"\n\n[[mailbox]]\n'
                          f'address = "{MAILBOX}"\nname = "Atendimento"\nprotocol_prefix = "ATD"\n',
                          encoding="utf-8")
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gateway", "--config", str(config), *args],
                          input=stdin, capture_output=True, timeout=60, cwd=ROOT)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode in (0, 1), stderr[-2000:]
    return {match.strip() for match in re.findall(r"^import time:\s+\d+ \|\s+\d+ \|(.+)$", stderr, re.MULTILINE)}


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [("tickets", "list"), ("tickets", "list", "--status", "aberto"),
                                  ("tickets", "list", "--overdue"), ("tickets", "show", "ATD-2026-000001-1"),
                                  ("link", "ATD-2026-000001-1", "track")],
                         ids=["list", "list-status", "list-overdue", "show", "link"])
def test_a_command_on_tickets_imports_no_pipeline_templates_or_servers(tmp_path: Path, args: tuple[str, ...]) -> None:
    _imported(tmp_path, "tickets", "list")  # creates the database first: the empty-database path may use Alembic
    modules = _imported(tmp_path, *args)
    assert _heavy(modules) == []
    if "--overdue" in args:  # the deadline checks read through the ORM, the schema checked first
        assert "gateway.store.schema" in modules
    else:  # store.direct: the driver alone, the revision compared with ours
        assert "gateway.store.direct" in modules and "gateway.store.revisions" in modules
        assert sorted(m for m in modules if m.split(".")[0] == "sqlalchemy") == []


def test_a_database_at_another_revision_takes_the_full_path(tmp_path: Path) -> None:
    """store.direct reads only a database at head; any other is checked, and
    refused, by store.schema as for every command."""
    import sqlite3

    _imported(tmp_path, "tickets", "list")
    with sqlite3.connect(tmp_path / "gateway.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0005'")
    config = tmp_path / "gateway.toml"
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "tickets", "show", "X"],
                          capture_output=True, timeout=60, cwd=ROOT)
    assert done.returncode == 78 and b"behind" in done.stderr


def test_the_pipe_imports_no_web_stack_nor_scheduler(tmp_path: Path) -> None:
    mail = (f"From: ana@example.org\r\nTo: {MAILBOX}\r\nSubject: Teste\r\nMessage-ID: <t1@example.org>\r\n\r\n"
            "Bom dia.\r\n").encode()
    modules = _imported(tmp_path, "ingest", "--", MAILBOX, stdin=mail)
    assert "gateway.pipeline.runner" in modules  # it does process the mail
    # The composition root is imported (it builds the pipeline), the parts that only serve are not.
    serving = ("uvicorn", "starlette", "apscheduler", "aiosmtpd", "imapclient")
    assert [m for m in modules if m.split(".")[0] in serving or m.startswith(("gateway.web", "gateway.transports.smtp",
                                                                               "gateway.transports.imap"))] == []


def test_the_schema_head_read_without_alembic_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    from gateway.store import schema
    from gateway.store.revisions import MIGRATIONS

    assert schema.head() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_every_command_is_listed_and_found() -> None:
    """The lazy group names each command once and finds it in its module."""
    import click

    from gateway.cli import COMMANDS, main

    context = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert command is not None and command.name == name, name
    assert main.list_commands(context) == sorted(COMMANDS)
