"""The gateway's side of the Postfix tests: its config and what it holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import TEAM
from tests.helpers.postfix import Postfix
from tests.helpers.process import run
from tests.helpers.servers import free_port

ATENDIMENTO = "atendimento@example.gov.br"
CNES = "cnes@example.gov.br"
CITIZEN = "ana.souza@example.org"


def gateway_config(folder: Path, *, postfix: Postfix, lmtp_port: int | None = None) -> Path:
    """A gateway config in ``folder``: LMTP listener on ``lmtp_port`` trusting
    Postfix on loopback, outbound mail handed to Postfix, two mailboxes."""
    web, admin = free_port(), free_port()
    config = folder / "gateway.toml"
    config.write_text(f"""
[storage]
url = "sqlite:///{folder}/gateway.db"

[smtp]
lmtp = true
port = {lmtp_port or free_port()}
trusted_networks = ["127.0.0.1/32"]

[web]
port = {web}
base_url = "http://127.0.0.1:{web}"

[admin]
port = {admin}

[outbound]
mode = "smtp"
host = "127.0.0.1"
port = {postfix.port}
retry_initial = 1
poll_interval = 0.2

[processing]
poll_interval = 0.2

[[mailbox]]
address = "{ATENDIMENTO}"
name = "Central de Atendimento"
protocol_prefix = "ATD"
team = ["{TEAM}"]

[[mailbox]]
address = "{CNES}"
name = "Cadastro CNES"
protocol_prefix = "CNES"
team = ["{TEAM}"]
""", encoding="utf-8")
    config.chmod(0o644)
    return config


def tickets(config: Path) -> list[dict[str, Any]]:
    """``gateway tickets list --json``: what an operator would look at."""
    listed = run(config, "tickets", "list", "--json")
    assert listed.returncode == 0, listed.stderr.decode()
    return json.loads(listed.stdout)
