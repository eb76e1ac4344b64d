"""Other helpdesks' failures (PITFALLS, see the README) in a legacy mailbox, through
the real ``gateway migrate`` command on an mbox built here: localised reply
prefixes (B), legacy charsets (F, 12), lone bounces and out-of-office mail
(G, 9), and the team's own addresses never told a "new protocol" (G2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.helpers.legacy import ANALYST, MAILBOX, NOW, write_mbox
from tests.helpers.process import query
from tests.integration.migrate.conftest import config, database, migrate

START = NOW - timedelta(days=200)


def mail(sender: str, to: str, subject: bytes | str, at: datetime, message_id: str, *, charset: str = "utf-8",
         body: bytes = b"Prezados, segue a mensagem.\n", headers: str = "") -> bytes:
    subject_bytes = subject.encode() if isinstance(subject, str) else subject
    return (f"From: {sender}\nTo: {to}\nDate: {format_datetime(at)}\n".encode()
            + (f"Message-ID: <{message_id}>\n".encode() if message_id else b"")
            + b"Subject: " + subject_bytes + b"\n" + headers.encode()
            + f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n"
              "Content-Transfer-Encoding: 8bit\n\n".encode() + body)


ANA, BIA = "Ana Souza <ana@example.org>", "Bia Lima <bia@example.org>"

# B: Outlook replies that dropped In-Reply-To/References, in several languages.
PREFIXED = [
    mail(ANA, MAILBOX, "Erro ao gerar relatório mensal", START, "p0@example.org"),
    mail(MAILBOX, "ana@example.org", "RES: Erro ao gerar relatório mensal", START + timedelta(hours=3), "p1@example.org"),
    *[mail(ANA, MAILBOX, f"{prefix} Erro ao gerar relatório mensal", START + timedelta(hours=4 + n), f"p{2 + n}@example.org")
      for n, prefix in enumerate(("VS:", "Antw:", "SV:", "Odp:", "AW: WG:", "R:", "FWD:", "Res:"))],
    # Someone else forwards the same subject: another person's request, not Ana's ticket (zammad#4965).
    mail(BIA, MAILBOX, "WG: Erro ao gerar relatório mensal", START + timedelta(hours=20), "pw@example.org"),
]

# F: subjects and bodies in the charsets that broke other helpdesks.
CHARSETS = [
    ("koi8-r", "Нет доступа к системе"), ("windows-1251", "Ошибка регистрации"),
    ("ks_c_5601-1987", "등록 오류 문의"), ("iso-8859-8-i", "שגיאה ברישום"),
    ("iso-8859-1", "Inclusão de profissional"), ("windows-1252", "Atualização cadastral – urgente"),
]
ENCODED = [mail(f"Cidadão {n} <enc{n}@example.org>", MAILBOX,
                f"=?{charset}?B?{__import__('base64').b64encode(text.encode(charset.replace('ks_c_5601-1987', 'cp949').replace('-i', ''))).decode()}?=".encode(),
                START + timedelta(days=1, hours=n), f"enc{n}@example.org", charset=charset,
                body=f"{text}\n".encode(charset.replace("ks_c_5601-1987", "cp949").replace("-i", "")))
           for n, (charset, text) in enumerate(CHARSETS)]
# Raw Latin-1 bytes in the header and an x-user-defined body: a reply whose headers were lost still joins.
ENCODED.append(mail("Cidadão 4 <enc4@example.org>", MAILBOX, b"RES: Inclus\xe3o de profissional",
                    START + timedelta(days=2), "enc4r@example.org", charset="x-user-defined",
                    body=b"Ainda n\xe3o consegui.\n"))

# G: machine mail that belongs to no conversation with a person.
LONE = [
    mail("MAILER-DAEMON@mx.example.org", MAILBOX, "Undelivered Mail Returned to Sender", START + timedelta(days=3),
         "dsn1@mx.example.org", headers="Auto-Submitted: auto-replied\n"),
    mail("Carlos <carlos@example.org>", MAILBOX, "Resposta automática: Ausente", START + timedelta(days=3, hours=1),
         "ooo1@example.org", headers="Auto-Submitted: auto-replied\n"),
]

# G2: the team writing among itself, lately (an open ticket with nobody outside).
INTERNAL = [
    mail(f"Maria Analista <{ANALYST}>", MAILBOX, "Escala do plantão", NOW - timedelta(hours=5), "int1@example.gov.br"),
    mail(f"Central <{MAILBOX}>", MAILBOX, "Lembrete: backup da caixa", NOW - timedelta(hours=4), "int2@example.gov.br"),
]


def _tickets(db: Path) -> dict[str, tuple[str, str, str]]:
    """message-id -> (protocol, ticket subject, requester)."""
    rows = query(db, "select m.message_id, t.protocol, t.subject, t.requester from message m "
                     "join ticket t on t.id = m.ticket_id")
    return {row[0]: tuple(row[1:]) for row in rows}


def test_legacy_pitfalls_in_one_mailbox(tmp_path):
    source = write_mbox(tmp_path / "legacy.mbox", [*PREFIXED, *ENCODED, *LONE, *INTERNAL])
    cfg = config(tmp_path)
    report = migrate(cfg, source, "--notify-open")
    db = database(tmp_path)
    by_id = _tickets(db)

    # B: every localised prefix joins Ana's conversation; Bia's forward is hers.
    ana = {by_id[f"p{n}@example.org"][0] for n in range(10)}
    assert len(ana) == 1, ana
    assert by_id["pw@example.org"][0] not in ana and by_id["pw@example.org"][2] == "bia@example.org"

    # F: each subject decoded, never mojibake or empty; the Latin-1 reply joined its conversation.
    for n, (_, text) in enumerate(CHARSETS):
        protocol, subject, requester = by_id[f"enc{n}@example.org"]
        assert subject == text and requester == f"enc{n}@example.org"
    assert by_id["enc4r@example.org"][0] == by_id["enc4@example.org"][0]
    [(reply_text,)] = query(db, "select text from message where message_id = 'enc4r@example.org'")
    assert reply_text.startswith("Ainda n") and "consegui" in reply_text

    # G: the lone bounce and out-of-office are kept with their reason, not opened as tickets.
    held = query(db, "select i.status, q.reason, r.raw from inbox i join quarantine q on q.inbox_id = i.id "
                       "join inbox_raw r on r.inbox_id = i.id")
    for message_id in ("dsn1@mx.example.org", "ooo1@example.org"):
        assert message_id not in by_id
        [(status, reason)] = [(s, r) for s, r, raw in held if f"<{message_id}>".encode() in raw]
        assert status == "quarantined" and "automatic mail" in reason
    assert report["quarantined"] == len(held) == 2

    # G2: --notify-open never mails the service's own addresses (a loop through our own inbox).
    rcpts = [r for (r,) in query(db, "select first_rcpt from outbox")]
    assert rcpts and not {MAILBOX, ANALYST} & set(rcpts), rcpts
    assert set(rcpts) <= {"ana@example.org", "bia@example.org", *(f"enc{n}@example.org" for n in range(6))}
    assert report["run"]["tickets_created"] == report["conversations"]


def test_live_mail_is_not_imported_twice_and_late_replies_find_their_migrated_ticket(tmp_path):
    """PITFALLS D (one mail, several tickets: osTicket#866, freescout#2807) and
    A (a reply becomes a new ticket): the mailbox went live before the export,
    so one mail is both live and in the legacy file; and a citizen answers a
    legacy mail after the migration, with only In-Reply-To to go by."""
    from tests.helpers.process import run

    cfg, db = config(tmp_path), database(tmp_path)
    live = mail("Paulo Ribeiro <paulo@example.org>", MAILBOX, "Certificado digital não reconhecido",
                NOW - timedelta(days=2), "live1@example.org")
    assert run(cfg, "ingest", "--mailbox", MAILBOX, stdin=live).returncode == 0
    assert run(cfg, "process").returncode == 0
    [(live_protocol,)] = query(db, "select protocol from ticket")

    source = write_mbox(tmp_path / "legacy.mbox", [*PREFIXED[:2], ENCODED[0], live])
    report = migrate(cfg, source)
    assert report["run"]["already"] == 1 and report["run"]["imported"] == 3
    tickets = query(db, "select protocol, requester from ticket order by id")
    assert [p for p, r in tickets if r == "paulo@example.org"] == [live_protocol]
    assert len(tickets) == 3

    # Late replies, threaded by In-Reply-To alone: into the open migrated ticket; the
    # long-closed one gets a new ticket linked to it (the mailbox's reopen window is past).
    for message_id, sender, parent in (("late1@example.org", "Cidadão 0 <enc0@example.org>", "enc0@example.org"),
                                       ("late2@example.org", ANA, "p1@example.org")):
        late = mail(sender, MAILBOX, "Re: pedido", NOW, message_id, headers=f"In-Reply-To: <{parent}>\n")
        assert run(cfg, "ingest", "--mailbox", MAILBOX, stdin=late).returncode == 0
    assert run(cfg, "process").returncode == 0
    landed = dict(query(db, "select m.message_id, t.id from message m join ticket t on t.id = m.ticket_id "
                            "where m.message_id like 'late%' or m.message_id in ('enc0@example.org', "
                            "'p1@example.org')"))
    assert landed["late1@example.org"] == landed["enc0@example.org"]
    [(linked,)] = query(db, "select linked_ticket_id from ticket where id = ?", landed["late2@example.org"])
    assert linked == landed["p1@example.org"]
    assert query(db, "select count(*) from ticket") == [(4,)]


def test_mail_that_arrives_between_the_passes_is_reported_and_taken_by_the_next_run(tmp_path):
    """PITFALLS E (mail silently skipped: freescout#2001, "nothing in the logs
    points out that mails were skipped"): the MTA appends to the mbox after
    the headers were threaded; that mail is counted and said, not lost, and
    the next run imports it."""
    from gateway.config import load_settings
    from gateway.migrate import report as reports
    from gateway.migrate.importer import Importer
    from gateway.migrate.plan import make_plan
    from gateway.migrate.roles import Team
    from gateway.migrate.sources import MboxSource
    from gateway.migrate.states import StatePolicy
    from gateway.migrate.threading import iter_index
    from gateway.store.bulk import BulkWriter
    from gateway.store.db import Database
    from tests.helpers.legacy import mbox_bytes

    cfg, db_path = config(tmp_path), database(tmp_path)
    source_path = write_mbox(tmp_path / "legacy.mbox", PREFIXED[:3])
    settings = load_settings(cfg)
    mailbox = settings.mailbox_for(MAILBOX)[0]
    team = Team.of(mailbox)
    source = MboxSource(source_path)
    plan = make_plan(list(iter_index(source.headers())), mailbox=mailbox, team=team, window=timedelta(days=30),
                     policy=StatePolicy(closed_after=mailbox.solved_limit), now=NOW)
    late = mail("Joana <joana@example.org>", MAILBOX, "Pedido novo", NOW - timedelta(minutes=1), "new1@example.org")
    with source_path.open("ab") as handle:  # delivered while the import runs
        handle.write(mbox_bytes([late]))

    database_ = Database(settings.storage)
    try:
        database_.migrate()
        importer = Importer(BulkWriter(database_.engine), plan, mailbox, team, source=source.description, now=NOW,
                            limits=settings.processing)
        counts = importer.write(source.mails(), 2, lambda _n: None)
    finally:
        database_.dispose()
    assert (counts.imported, counts.arrived_during) == (3, 1)
    shown = reports.render(reports.summary(plan, source.description, MAILBOX, counts), dry_run=False)
    assert "1 arrived during the import (run again to take them)" in shown

    again = migrate(cfg, source_path)
    assert (again["run"]["imported"], again["run"]["already"], again["run"]["arrived_during"]) == (1, 3, 0)
    [(requester,)] = query(db_path, "select t.requester from ticket t join message m on m.ticket_id = t.id "
                                    "where m.message_id = 'new1@example.org'")
    assert requester == "joana@example.org"
