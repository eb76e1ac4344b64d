"""The five seed desks as shipped: a real gateway built from
``examples/gateway.toml`` and ``rules/``, with only what a test machine
needs changed (storage, ports, outbox under tmp; the tests' SMTP client
trusted as the MTA in front; the scheduler off so only the sweeps a test
runs happen; one analyst per desk).

A desk test walks one seed's process by mail: the citizen writes and
replies over SMTP, the analyst answers the team's notification with
commands, the clock moves by a FixedClock (and, for one desk, the real
``gateway sweep --now``), and every assertion on what the citizen reads
is made on the mails in the outbox Maildir, where the sender put them.
"""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.config import load_settings
from gateway.store.models import OutboxRow
from tests.integration.lifecycle.conftest import sweep_at
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, free_port, parse_message, wait_until

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "gateway.toml"
ANALYST = "maria.lima@example.gov.br"
CITIZEN = "ana.souza@example.org"
# The MTA in front vouches for both: a DMARC pass for the citizen's domain, a DKIM pass for the analyst's.
CITIZEN_PASS = {"Authentication-Results": "mx.example.gov.br; spf=pass smtp.mailfrom=example.org; "
                                          "dmarc=pass header.from=example.org"}
ANALYST_PASS = {"Authentication-Results": "mx.example.gov.br; dkim=pass header.d=example.gov.br; "
                                          "spf=pass smtp.mailfrom=example.gov.br"}
# Monday 2026-11-23, 10:00 in Brasília: a plain working week ahead (Friday 20/11 was a holiday).
MONDAY = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
_MAX_MAILS_AFTER_ONE_STEP = 200


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def generate_cpf(seed: int) -> str:
    """A valid, fictitious CPF (mod 11 check digits written out here, not the module's)."""
    digits = [(seed * 7 + index * 3 + 1) % 10 for index in range(9)]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(digit * weight for digit, weight in zip(digits, weights)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    text = "".join(map(str, digits))
    return f"{text[:3]}.{text[3:6]}.{text[6:9]}-{text[9:]}"


def write_config(tmp_path: Path) -> Path:
    """examples/gateway.toml as shipped, with test sections on top and an analyst on each desk.

    The copy lives at ``tmp/etc/gateway.toml`` next to a ``tmp/rules`` link
    to the repository's rules, so its ``../rules/*.toml`` paths are the
    shipped files.  The same file serves the in-process gateway and the
    ``gateway`` CLI the tests run."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    web_port = free_port()
    head = (f'[storage]\nurl = "sqlite:///{tmp_path}/gateway.db"\n'
            f'[smtp]\nport = {free_port()}\ntrusted_networks = ["127.0.0.1"]\n'
            f'[web]\nport = {web_port}\nbase_url = "http://127.0.0.1:{web_port}"\n'
            f'[admin]\nport = 0\n'
            f'[outbound]\npath = "{tmp_path / "outbox"}"\nretry_initial = 1\npoll_interval = 0.1\n'
            f'[processing]\npoll_interval = 0.1\n'
            f'[schedule]\nenabled = false\n'
            f'[auth]\ntrusted_authserv_ids = ["mx.example.gov.br"]\n\n')
    shipped = EXAMPLE.read_text(encoding="utf-8")
    with_analysts, count = re.subn(r"(?m)^(team = \[.*\])$", rf'\1\nanalysts = ["{ANALYST}"]', shipped)
    assert count == 5, "every seed desk in examples/gateway.toml has a team line"
    path = etc / "gateway.toml"
    path.write_text(head + with_analysts, encoding="utf-8")
    return path


class SeedDesk:
    """One desk of the example config, running, with its citizen and analyst."""

    def __init__(self, running: RunningGateway, clock: FixedClock, address: str, config: Path) -> None:
        self.running, self.clock, self.address, self.config = running, clock, address, config
        self.mailbox = next(m for m in running.settings.mailboxes if m.address == address)
        self.protocol = ""
        self.subject = ""
        self._sent = 0

    # --- people write -----------------------------------------------------------------------

    def _send(self, sender: str, rcpt: str, raw: bytes) -> None:
        before = sum(self.running.inbox_counts().values())
        with smtplib.SMTP("127.0.0.1", self.running.port, timeout=30) as client:
            client.sendmail(sender, [rcpt], raw)
        self.running.wait_processed(before + 1)
        self.wait_sent()

    def citizen_writes(self, subject: str, body: str, *, attachments: list[tuple[str, str, bytes]] = (),
                       sender: str = f"Ana Souza <{CITIZEN}>") -> str:
        """A first mail to the desk; returns (and remembers) the new ticket's protocol."""
        before = {t["protocol"] for t in self.running.tickets()}
        self._send(CITIZEN, self.address, make_mail(subject=subject, body=body, sender=sender, to=self.address,
                                                    attachments=attachments, trace=CITIZEN_PASS))
        [protocol] = [t["protocol"] for t in self.running.tickets() if t["protocol"] not in before]
        self.protocol, self.subject = protocol, subject
        return protocol

    def citizen_replies(self, body: str, *, protocol: str | None = None,
                        attachments: list[tuple[str, str, bytes]] = ()) -> None:
        """A reply from Outlook to the desk's last mail, quoting it below."""
        protocol = protocol or self.protocol
        self._send(CITIZEN, self.address, make_mail(
            subject=f"RES: [{protocol}] {self.subject}", sender=f"Ana Souza <{CITIZEN}>", to=self.address,
            trace=CITIZEN_PASS, attachments=attachments,
            body=f"{body}\n\nEm seg., 23 de nov. de 2026 às 10:00, {self.mailbox.display_name} "
                 f"<{self.address}> escreveu:\n> texto antigo\n"))

    def analyst_replies(self, body: str) -> None:
        """Maria answers the team's notification (its Reply-To carries the protocol)."""
        reply_to = self.mailbox.address_with_token(self.protocol)
        self._send(ANALYST, reply_to, make_mail(
            subject=f"RE: [{self.protocol}] Novo chamado: {self.subject}", sender=f"Maria Lima <{ANALYST}>",
            to=reply_to, trace=ANALYST_PASS,
            body=f"{body}\n\nMaria Lima\nAnalista de Suporte\n\n-----Mensagem original-----\n> texto antigo\n"))

    # --- the clock ----------------------------------------------------------------------------

    def sweep(self, at: datetime) -> dict[str, int]:
        """Move the clock and run the deadline sweep in this process; what it did, by kind."""
        done = sweep_at(self.running.gateway, self.clock, at)
        self.wait_sent()
        return done

    def sweep_cli(self, at: datetime) -> str:
        """``gateway --config ... sweep --now AT`` in its own process, on the same database;
        the running gateway's sender (its clock moved to AT) delivers what it queued."""
        self.clock.set(at)
        result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(self.config), "sweep",
                                 "--now", at.isoformat()], capture_output=True, timeout=120, cwd=self.config.parent)
        assert result.returncode == 0, result.stderr.decode()[-3000:]
        self.wait_sent()
        return result.stdout.decode()

    # --- what people read ---------------------------------------------------------------------

    def _rows(self) -> list[OutboxRow]:
        with self.running.gateway.db.transaction() as tx:
            rows = list(tx.scalars(select(OutboxRow).options(undefer(OutboxRow.raw)).order_by(OutboxRow.id)))
            tx.expunge_all()  # the bytes were loaded with the rows (they are loaded when read otherwise)
            return rows

    def wait_sent(self) -> None:
        """Wait until the sender has written every queued mail into the Maildir."""
        wait_until(lambda: all(row.status in ("sent", "failed") for row in self._rows()), timeout=20,
                   what="the outbox delivered to the Maildir")

    def _maildir(self) -> dict[str, EmailMessage]:
        new = Path(self.running.settings.outbound.path) / "new"
        mails = [parse_message(path.read_bytes()) for path in sorted(new.iterdir())] if new.is_dir() else []
        assert len(mails) < 10 * _MAX_MAILS_AFTER_ONE_STEP, "a runaway loop of mails"
        return {str(mail["Message-ID"]).strip().strip("<>"): mail for mail in mails}

    def mails(self, to: str = CITIZEN, kind: str | None = None) -> list[EmailMessage]:
        """The mails ``to`` got, oldest first, as the Maildir holds them (``kind``: the outbox's name for it)."""
        self.wait_sent()
        delivered = self._maildir()
        found = []
        for row in self._rows():
            if to in row.rcpt_tos and (kind is None or row.kind == kind):
                assert row.message_id.strip("<> ") in delivered, f"{row.kind} to {to} is not in the Maildir"
                found.append(delivered[row.message_id.strip("<> ")])
        return found

    def kinds(self, to: str = CITIZEN) -> list[str]:
        """What ``to`` got, by the outbox's name for each mail, oldest first."""
        self.wait_sent()
        return [row.kind for row in self._rows() if to in row.rcpt_tos]

    def last(self, kind: str, to: str = CITIZEN) -> str:
        """The text of the last mail of ``kind`` to ``to``."""
        mails = self.mails(to, kind)
        assert mails, f"no {kind} mail to {to}; got {self.kinds(to)}"
        return text_of(mails[-1])

    def ticket(self, protocol: str | None = None) -> dict[str, Any]:
        return self.running.ticket(protocol or self.protocol)

    def status(self, protocol: str | None = None) -> str:
        return str(self.ticket(protocol)["status"])

    def events(self, protocol: str | None = None) -> list[str]:
        return [e["kind"] for e in self.ticket(protocol)["events"]]

    @property
    def team(self) -> str:
        return self.mailbox.team[0]


@pytest.fixture
def open_seed_desk(tmp_path: Path) -> Iterator[Callable[..., SeedDesk]]:
    """``open_seed_desk("cnes@example.gov.br")``: that desk of the example config, running, at ``MONDAY``."""
    started: list[SeedDesk] = []

    def start(address: str, *, at: datetime = MONDAY) -> SeedDesk:
        config = write_config(tmp_path)
        settings = load_settings(config)
        clock = FixedClock(at)
        running = RunningGateway(settings, Gateway(settings, clock)).start()
        desk = SeedDesk(running, clock, address, config)
        started.append(desk)
        return desk

    yield start
    for desk in started:
        desk.running.stop()
