"""PITFALLS item 8, "old reference numbers kept as aliases": a legacy shared
mailbox numbered its requests by hand in subjects ("Chamado nº 1234",
"[SR-2024/0042]", "Protocolo 2023.001234").  With ``[[mailbox]]
legacy_references`` the real ``gateway migrate`` lists them in its dry-run
report and keeps them on the migrated tickets; afterwards a live mail over
real SMTP whose subject names one finds its ticket, if its sender is on it.
A stranger quoting the number, or a number only in the body, opens a new
ticket."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.config import load_settings
from tests.helpers.legacy import ANALYST, MAILBOX, NOW, write_mbox
from tests.helpers.mailfactory import crlf, make_mail
from tests.helpers.process import query, run, write_config
from tests.helpers.servers import RunningGateway, last_inbox
from tests.integration.migrate.conftest import database, migrate

# TOML literal strings, as the README tells an operator to write them.
PATTERNS = r"""legacy_references = ['Chamado nº\s*(\d+)', '\[(SR-\d{4}/\d{4})\]', 'Protocolo (\d{4}\.\d{6})']"""
ANA, BRUNO, CARLA, DARIO, EVA = ("ana@example.org", "bruno@example.org", "carla@example.org", "dario@example.org",
                                 "eva@example.org")
STRANGER = "intruso@example.net"


def mail(sender: str, subject: str, at: datetime, message_id: str, *, to: str = MAILBOX, cc: str = "",
         in_reply_to: str = "") -> bytes:
    headers = (f"From: {sender}\nTo: {to}\n" + (f"Cc: {cc}\n" if cc else "") + f"Date: {format_datetime(at)}\n"
               f"Message-ID: <{message_id}>\nSubject: {subject}\n"
               + (f"In-Reply-To: <{in_reply_to}>\nReferences: <{in_reply_to}>\n" if in_reply_to else ""))
    return (headers + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\nPrezados, segue.\n").encode()


LEGACY = [
    # Ana's request, Bruno in copy; the team answered, Ana wrote last: open.
    mail(f"Ana Souza <{ANA}>", "Chamado nº 1234 - Erro no cadastro", NOW - timedelta(days=30), "a1@example.org",
         cc=BRUNO),
    mail(f"Central <{MAILBOX}>", "RES: Chamado nº 1234 - Erro no cadastro", NOW - timedelta(days=29),
         "a2@example.gov.br", to=ANA, cc=BRUNO, in_reply_to="a1@example.org"),
    mail(f"Ana Souza <{ANA}>", "RE: RES: Chamado nº 1234 - Erro no cadastro", NOW - timedelta(days=2),
         "a3@example.org", cc=BRUNO, in_reply_to="a2@example.gov.br"),
    # Carla: the bracketed shape; the team wrote last, lately: open.
    mail(f"Carla <{CARLA}>", "[SR-2024/0042] Acesso negado", NOW - timedelta(days=10), "c1@example.org"),
    mail(f"Maria <{ANALYST}>", "RES: [SR-2024/0042] Acesso negado", NOW - timedelta(days=1), "c2@example.gov.br",
         to=CARLA, in_reply_to="c1@example.org"),
    # Dário: the dotted shape, a lone request.
    mail(f"Dário <{DARIO}>", "Protocolo 2023.001234 - segunda via", NOW - timedelta(days=3), "d1@example.org"),
    # Eva, in a conversation of her own, quotes Ana's number: it stays with Ana's (older) ticket.
    mail(f"Eva <{EVA}>", "Mesmo problema do Chamado nº 1234", NOW - timedelta(days=5), "e1@example.org"),
    # No old number at all.
    mail("Fábio <fabio@example.org>", "Dúvida sobre o CNES 2024", NOW - timedelta(days=4), "f1@example.org"),
]


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path, extra=f'analysts = ["{ANALYST}"]\n{PATTERNS}')


def _ticket_of(db: Path, message_id: str) -> tuple[int, str]:
    [(ticket_id, protocol)] = query(db, "select t.id, t.protocol from message m join ticket t on t.id = m.ticket_id "
                                        "where m.message_id = ?", message_id)
    return ticket_id, protocol


def test_old_numbers_are_reported_kept_and_found_by_live_mail_for_people_on_the_ticket(tmp_path):
    cfg, db = _config(tmp_path), database(tmp_path)
    source = write_mbox(tmp_path / "legacy.mbox", LEGACY)

    # The dry run lists each number with the conversation that keeps it, and writes nothing.
    dry = migrate(cfg, source, "--dry-run")
    assert not db.exists()
    legacy = dry["legacy_references"]
    found = {(a["reference"], a["requester"], a["also_in"]) for a in legacy["aliases"]}
    assert found == {("1234", ANA, 1), ("SR-2024/0042", CARLA, 0), ("2023.001234", DARIO, 0)}
    assert (legacy["tickets"], legacy["shared"]) == (3, 1)
    shown = run(cfg, "migrate", str(source), "--mailbox", MAILBOX, "--now", NOW.isoformat(), "--dry-run")
    text = shown.stdout.decode()
    assert "old numbers           3 kept as aliases of 3 ticket(s); 1 also quoted" in text, text
    assert "SR-2024/0042" in text and "(+1 later)" in text

    # The import keeps them as thread_ref keys of the tickets; the number Eva quoted stays Ana's.
    report = migrate(cfg, source)
    assert {a["reference"]: a["protocol"] for a in report["legacy_references"]["aliases"]}["1234"] == \
        _ticket_of(db, "a1@example.org")[1]
    aliases = dict(query(db, "select message_id, ticket_id from thread_ref where message_id like 'legacy %'"))
    assert aliases == {f"legacy {MAILBOX} 1234": _ticket_of(db, "a1@example.org")[0],
                       f"legacy {MAILBOX} SR-2024/0042": _ticket_of(db, "c1@example.org")[0],
                       f"legacy {MAILBOX} 2023.001234": _ticket_of(db, "d1@example.org")[0]}
    assert _ticket_of(db, "e1@example.org") != _ticket_of(db, "a1@example.org")
    again = migrate(cfg, source)
    assert again["run"]["imported"] == 0
    assert query(db, "select count(*) from thread_ref where message_id like 'legacy %'") == [(3,)]

    ana_ticket = _ticket_of(db, "a1@example.org")[1]
    live = _live(cfg)
    try:
        # The requester, and the colleague in copy, with only the old number to go by.
        _send(live, ANA, "Re: Chamado nº 1234 - Erro no cadastro")
        _assert_added(live, ana_ticket, "old number 1234 of the legacy mailbox in the subject")
        _send(live, BRUNO, "Chamado nº 1234 continua sem solução")
        _assert_added(live, ana_ticket, "old number 1234")
        _send(live, CARLA, "ENC: [SR-2024/0042] Acesso negado")
        _assert_added(live, _ticket_of(db, "c1@example.org")[1], "old number SR-2024/0042")
        _send(live, DARIO, "Protocolo 2023.001234")
        _assert_added(live, _ticket_of(db, "d1@example.org")[1], "old number 2023.001234")
        tickets, events = len(live.tickets()), live.ticket(ana_ticket)["events"]

        # A stranger quoting Ana's number gets a ticket of their own; Ana's is not even
        # matched (no note of a stranger's mail on it), as for a protocol in a body.
        _send(live, STRANGER, "Chamado nº 1234 - Erro no cadastro")
        assert last_inbox(live).outcome == "new_ticket", last_inbox(live).reason
        assert len(live.tickets()) == tickets + 1
        assert all(m["sender"] != STRANGER for m in live.ticket(ana_ticket)["messages"])
        assert live.ticket(ana_ticket)["events"] == events
        # Eva is on a ticket of her own, not on Ana's, which keeps the number.
        _send(live, EVA, "Chamado nº 1234")
        assert last_inbox(live).outcome == "new_ticket", last_inbox(live).reason
        assert live.ticket(ana_ticket)["events"] == events
        # Only the subject counts: Ana naming the number in the body alone starts a new request.
        _send(live, ANA, "Outra dúvida", body="Sobre o Chamado nº 1234: e o outro cadastro?")
        assert last_inbox(live).outcome == "new_ticket", last_inbox(live).reason
        assert len(live.tickets()) == tickets + 3
    finally:
        live.stop()


def test_without_patterns_nothing_is_kept_or_matched(tmp_path):
    """The default: no aliases, an empty list in the report, and a live
    mail naming the old number is a new request."""
    cfg, db = write_config(tmp_path, extra=f'analysts = ["{ANALYST}"]'), database(tmp_path)
    report = migrate(cfg, write_mbox(tmp_path / "legacy.mbox", LEGACY[:3]))
    assert report["legacy_references"] == {"tickets": 0, "shared": 0, "aliases": []}
    assert query(db, "select count(*) from thread_ref where message_id like 'legacy %'") == [(0,)]
    live = _live(cfg)
    try:
        _send(live, ANA, "Re: Chamado nº 1234 - Erro no cadastro")
        assert last_inbox(live).outcome == "new_ticket", last_inbox(live).reason
    finally:
        live.stop()


@pytest.mark.parametrize(("pattern", "words"), [
    (r"'Chamado nº\s*(\d+'", "not a valid regular expression"),
    (r"'Chamado nº\s*\d+'", "has 0 groups; it needs exactly one"),
    (r"'(Chamado|Protocolo)\s*(\d+)'", "has 2 groups; it needs exactly one"),
    (r"'(\d*)'", "matches an empty subject"),
    ("42", "expected a list of regular expressions"),
])
def test_a_bad_pattern_stops_the_migration_naming_the_key_and_the_fix(tmp_path, pattern, words):
    cfg = write_config(tmp_path, extra=f"legacy_references = [{pattern}]" if pattern != "42"
                       else "legacy_references = 42")
    source = write_mbox(tmp_path / "legacy.mbox", LEGACY[:1])
    done = run(cfg, "migrate", str(source), "--mailbox", MAILBOX, "--dry-run")
    error = done.stderr.decode()
    assert done.returncode == 2, error
    assert f"{cfg}: mailbox[0].legacy_references: " in error and words in error, error
    assert "e.g." in error, error  # and what to write instead
    assert not database(tmp_path).exists()


# -- helpers ----------------------------------------------------------------


def _live(cfg: Path) -> RunningGateway:
    settings = load_settings(cfg)
    return RunningGateway(settings, Gateway(settings)).start()


def _send(live: RunningGateway, sender: str, subject: str, *, body: str = "Alguma novidade?") -> None:
    """Over a real SMTP session, without threading headers; waits until processed."""
    before = sum(live.inbox_counts().values())
    raw = make_mail(sender=sender, subject=subject, body=body)
    with smtplib.SMTP("127.0.0.1", live.port, timeout=30) as client:
        client.sendmail(sender, [live.address], crlf(raw))
    live.wait_processed(before + 1)


def _assert_added(live: RunningGateway, protocol: str, how: str) -> None:
    row = last_inbox(live)
    assert row.outcome == "follow_up" and row.reason.startswith(f"added to {protocol} "), row.reason
    assert how in row.reason, row.reason
