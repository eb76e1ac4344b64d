"""``gateway migrate`` end to end on mbox, Maildir and a real Dovecot: tickets
match the generated conversations; dry run writes nothing; an interrupted
run resumes; a second run adds nothing; broken mail is quarantined; only
``--notify-open`` queues mail, one per open ticket."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
from datetime import timezone
from pathlib import Path

import pytest

from gateway.outbound import compose

from tests.conftest import need
from tests.helpers.corpus import PTBR, full_mails, require_corpus
from tests.helpers.dovecot import BINARY, Dovecot
from tests.helpers.legacy import BROKEN, MAILBOX, generate, write_maildir, write_mbox
from tests.helpers.process import GATEWAY, query, run
from tests.helpers.servers import wait_until
from tests.integration.migrate.conftest import NOW_ISO, check_tickets, config, database, migrate, nothing_lost


def test_mbox_with_corpus_and_a_broken_mail_becomes_tickets(tmp_path):
    require_corpus("ptbr-clients")
    box = generate(30)
    corpus = [path.read_bytes() for path in sorted(PTBR.glob("*.eml"))]
    source = write_mbox(tmp_path / "legacy.mbox", [*box.inbox, *corpus, BROKEN, *box.sent])
    cfg = config(tmp_path)

    dry = migrate(cfg, source, "--dry-run")
    assert not database(tmp_path).exists()  # not even the database file
    assert dry["dry_run"] and dry["conversations"] >= 30 and dry["quarantined"] >= 1

    report = migrate(cfg, source)
    db = database(tmp_path)
    check_tickets(db, box)
    assert report["conversations"] == dry["conversations"] and report["tickets_by_state"] == dry["tickets_by_state"]
    assert report["run"]["tickets_created"] == report["conversations"]
    nothing_lost(db, len(box.inbox) + len(corpus) + 1 + len(box.sent), report["duplicates_in_source"])
    reasons = [r for (r,) in query(db, "select reason from quarantine")]
    assert any("could not be parsed" in r and "header" in r for r in reasons), reasons
    assert report["run"]["quarantined"] == len(reasons) == report["quarantined"]

    # No mail loops: nothing queued, and the processing worker finds nothing to acknowledge.
    assert run(cfg, "process").stdout.decode().strip() == "processed 0 mail(s)"
    assert query(db, "select count(*) from outbox") == [(0,)]

    # The conversation dated on New Year's Eve in Brasília (already 2025 in UTC) is a 2024 ticket.
    [(protocol,)] = query(db, "select protocol from ticket where requester = 'cidadao1@example.org'")
    assert protocol.startswith("ATD-2024-")
    shown = json.loads(run(cfg, "tickets", "show", _protocol_of(db, "cidadao3@example.org"), "--json").stdout)
    assert [m["direction"] for m in shown["messages"]][:2] == ["in", "out"]
    assert shown["messages"][1]["role"] == "analyst" and shown["messages"][0]["role"] == "requester"
    assert shown["messages"][0]["attachments"][0]["filename"] == "comprovante3.pdf"
    assert shown["messages"][0]["date"].startswith(box.conversations[3].first.astimezone(timezone.utc).isoformat()[:16])
    assert [e["kind"] for e in shown["events"]] == ["migrated"]


def test_a_second_run_adds_nothing_and_a_dry_run_changes_nothing(tmp_path):
    box = generate(10)
    source = write_mbox(tmp_path / "legacy.mbox", [*box.inbox, *box.sent])
    cfg = config(tmp_path)
    first = migrate(cfg, source)
    counts = _counts(database(tmp_path))
    again = migrate(cfg, source)
    assert again["run"]["imported"] == again["run"]["tickets_created"] == 0
    assert again["run"]["already"] == first["run"]["imported"]
    migrate(cfg, source, "--dry-run")
    assert _counts(database(tmp_path)) == counts
    check_tickets(database(tmp_path), box)


def test_an_interrupted_run_resumes_without_duplicates(tmp_path):
    box = generate(1200, body_bytes=1500)
    source = write_mbox(tmp_path / "legacy.mbox", [*box.inbox, *box.sent])
    cfg, db = config(tmp_path), database(tmp_path)
    args = [*GATEWAY, "--config", str(cfg), "migrate", str(source), "--mailbox", MAILBOX, "--now", NOW_ISO,
            "--batch-size", "50"]

    # Ctrl-C's equivalent: the open batch rolls back, the command says how to resume.
    stored = _interrupt(args, db, signal.SIGTERM, after=0)
    assert stored[0] < box.mails and stored[1].returncode == 130
    assert b"run the same command again" in stored[1].stderr
    # A hard kill in the middle of a batch.
    killed = _interrupt(args, db, signal.SIGKILL, after=stored[0])
    assert stored[0] < killed[0] < box.mails

    report = migrate(cfg, source)
    assert report["run"]["already"] == killed[0]
    assert report["run"]["imported"] == box.mails - killed[0]
    check_tickets(db, box)
    nothing_lost(db, box.mails, 0)
    assert query(db, "select count(*) from ticket") == [(len(box.conversations),)]


def test_maildir_sent_folder_makes_team_messages_and_corpus_mails_are_all_kept(tmp_path):
    corpus = require_corpus()
    box = generate(20)
    inbox = [*box.inbox, box.sent[0]]  # the team copied the shared mailbox on one reply: same Message-ID twice
    extra = [path.read_bytes() for path in full_mails()]
    write_maildir(tmp_path / "Maildir", [*inbox, *extra], box.sent)
    cfg = config(tmp_path, analysts=False)  # the analyst is known only by the Sent folder
    report = migrate(cfg, tmp_path / "Maildir")
    db = database(tmp_path)
    check_tickets(db, box)
    assert report["duplicates_in_source"] >= 1
    nothing_lost(db, len(inbox) + len(extra) + len(box.sent), report["run"]["duplicates"])
    assert corpus.exists()


@pytest.mark.dovecot
def test_imap_inbox_and_sent_of_a_real_dovecot(tmp_path):
    need(BINARY is not None, "Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    box = generate(15)
    server = Dovecot({"atendimento": "segredo-legado"}).start()
    try:
        server.append("atendimento", *box.inbox, BROKEN)
        server.append("atendimento", *box.sent, folder="Sent")
        cfg = config(tmp_path, analysts=False)
        url = f"imap://atendimento@127.0.0.1:{server.port}/INBOX,Sent"
        report = migrate(cfg, url, env={"GATEWAY_MIGRATE_PASSWORD": "segredo-legado"})
        check_tickets(database(tmp_path), box)
        assert report["run"]["quarantined"] == 1
        nothing_lost(database(tmp_path), box.mails + 1, 0)
        # Read-only: nothing moved or flagged on the server.
        assert server.count("atendimento", "INBOX") == len(box.inbox) + 1
        assert all(b"\\Seen" not in flags for flags in server.flags("atendimento", "INBOX"))
        wrong = migrate(cfg, url, env={"GATEWAY_MIGRATE_PASSWORD": "errada"}, expect=1)
        assert wrong == {}
    finally:
        server.stop(remove=True)


def test_notify_open_queues_one_mail_per_open_ticket_and_only_once(tmp_path):
    box = generate(14)
    source = write_mbox(tmp_path / "legacy.mbox", [*box.inbox, *box.sent])
    cfg, db = config(tmp_path), database(tmp_path)
    migrate(cfg, source)
    assert query(db, "select count(*) from outbox") == [(0,)]  # never without --notify-open

    report = migrate(cfg, source, "--notify-open", "--notify-per-minute", "60")
    open_requesters = sorted(c.requester for c in box.conversations if c.state == "open")
    assert report["run"]["notices_queued"] == len(open_requesters)
    rows = query(db, "select o.first_rcpt, r.raw, o.kind, t.protocol, t.status, o.next_attempt_at from outbox o "
                     "join outbox_raw r on r.message_id = o.message_id "
                     "join ticket t on t.id = o.ticket_id order by o.next_attempt_at")
    assert sorted(r[0] for r in rows) == open_requesters
    for rcpt, raw, kind, protocol, status, _ in rows:
        mail = email.message_from_bytes(compose.sendable(raw))  # a draft as the sender writes it
        assert kind == "migrated" and status == "open" and protocol in mail["Subject"]
        assert mail["Auto-Submitted"] == "auto-generated" and mail["In-Reply-To"]
    assert len({r[5] for r in rows}) == len(rows)  # spaced out, not one burst

    again = migrate(cfg, source, "--notify-open")
    assert again["run"]["notices_queued"] == 0
    assert query(db, "select count(*) from outbox") == [(len(open_requesters),)]


def test_bad_arguments_name_what_is_wrong(tmp_path):
    cfg = config(tmp_path)
    done = run(cfg, "migrate", str(tmp_path / "nothing.mbox"), "--mailbox", MAILBOX)
    assert done.returncode == 2 and b"no such file or folder" in done.stderr
    done = run(cfg, "migrate", str(tmp_path), "--mailbox", "outra@example.gov.br")
    assert done.returncode == 2 and b"no such [[mailbox]]" in done.stderr
    source = write_mbox(tmp_path / "x.mbox", generate(1).inbox)
    done = run(cfg, "migrate", str(source), "--mailbox", MAILBOX, "--thread-window", "3x")
    assert done.returncode == 2 and b"--thread-window" in done.stderr


# -- helpers -------------------------------------------------------------------


def _protocol_of(db: Path, requester: str) -> str:
    [(protocol,)] = query(db, "select protocol from ticket where requester = ?", requester)
    return protocol


def _counts(db: Path) -> list[tuple[int, ...]]:
    return query(db, "select (select count(*) from inbox), (select count(*) from ticket), "
                     "(select count(*) from message), (select count(*) from event), (select count(*) from outbox)")


def _interrupt(args: list[str], db: Path, sig: signal.Signals, *,
               after: int) -> tuple[int, subprocess.CompletedProcess[bytes]]:
    """Start the migration, send ``sig`` once more than ``after`` mails are stored; (mails stored, result)."""
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def progressed() -> bool:
        assert child.poll() is None, "the migration finished before it could be interrupted"
        try:
            return db.exists() and query(db, "select count(*) from inbox")[0][0] > after
        except Exception:  # noqa: BLE001 - the schema may not exist yet
            return False

    try:
        wait_until(progressed, timeout=120, interval=0.02, what="the migration to store a batch")
        child.send_signal(sig)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    [(stored,)] = query(db, "select count(*) from inbox")
    return stored, subprocess.CompletedProcess(args, child.returncode, out, err)
