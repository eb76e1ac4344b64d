"""Retention and erasure (LGPD) on tickets built by the real pipeline: after
``gateway purge`` or ``gateway forget`` the person's address, name, CPF and
words are in no column of any table, and what reports count is unchanged."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from gateway.clock import FixedClock
from gateway.config.settings import RetentionConfig
from gateway.workers.retention import RetentionStep
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import run, write_config
from tests.helpers.servers import wait_until
from tests.integration.lifecycle.conftest import CITIZEN, FRIDAY_HOLIDAY
from tests.integration.operations.conftest import scan, sqlite_url
from tests.unit.rules.rule_helpers import PDF, generate_cpf

CPF = generate_cpf(random.Random(20261120))
WORD = "Xilogravurista"  # a word only Ana wrote
ANA = [CITIZEN, "ana.souza", "Ana Souza", CPF, CPF.replace(".", "").replace("-", ""), WORD]
BRUNO = "bruno.lima@example.org"


def _ana_writes(desk: Any, subject: str = f"Cadastro {WORD}") -> str:
    return desk.citizen_writes(subject=subject, body=f"Nome: Ana Souza\nCPF: {CPF}\nSou {WORD} e preciso de ajuda.",
                               attachments=[("cpf_ana_souza.pdf", "application/pdf", PDF)])


def _all_sent(desk: Any) -> None:
    def sent() -> bool:
        with desk.running.gateway.db.reading() as tx:
            return not tx.execute(text("SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')")).scalar()
    wait_until(sent, what="the outbox delivered")


def _report(url: str) -> dict[str, Any]:
    """What a monthly report reads: tickets by their kept columns, counts of
    messages, attachments (and their sizes), events by kind, mails in and out."""
    queries = {
        "tickets": "SELECT protocol, mailbox, status, category, priority, created_at, closed_at, closed_reason, "
                   "survey_score, first_response_at, resolved_at, tags FROM ticket ORDER BY id",
        "messages": "SELECT ticket_id, direction, role, sent_at, count(*) FROM message "
                    "GROUP BY ticket_id, direction, role, sent_at ORDER BY 1, 2, 3, 4",
        "attachments": "SELECT count(*), sum(size), count(DISTINCT sha256) FROM attachment",
        "events": "SELECT ticket_id, kind, from_status, to_status, count(*) FROM event WHERE kind != 'anonymised' "
                  "GROUP BY ticket_id, kind, from_status, to_status ORDER BY 1, 2, 3, 4",
        "inbox": "SELECT count(*), sum(size), count(ticket_id) FROM inbox",
        "outbox": "SELECT ticket_id, kind, count(*) FROM outbox GROUP BY ticket_id, kind ORDER BY 1, 2",
    }
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {name: connection.execute(text(sql)).all() for name, sql in queries.items()}
    finally:
        engine.dispose()


def _counts(stdout: bytes) -> list[str]:
    return [line for line in stdout.decode().splitlines() if line.startswith("  ") and ":" in line]


def test_purge_drops_raw_mail_and_anonymises_closed_tickets_keeping_the_counts(desk, tmp_path: Path):
    protocol = _ana_writes(desk)
    desk.analyst_replies("#fechar\nAtendido por telefone, Ana Souza.")
    assert desk.ticket()["status"] == "closed"
    _all_sent(desk)
    url, config = sqlite_url(tmp_path), write_config(tmp_path)
    before = _report(url)
    assert scan(url, ANA), "the test must see Ana's data before the purge"

    dry = run(config, "purge", "--before", "2030-01-01", "--dry-run")
    assert dry.returncode == 0, dry.stderr.decode()
    assert b"dry run, nothing changed" in dry.stdout and scan(url, ANA)

    done = run(config, "purge", "--before", "2030-01-01")
    assert done.returncode == 0, done.stderr.decode()
    assert _counts(done.stdout) == _counts(dry.stdout), "a dry run counts exactly what a real run does"
    assert any("(inbox_raw)" in line for line in _counts(done.stdout))

    assert scan(url, ANA) == []
    assert _report(url) == before
    events = desk.running.ticket(protocol)["events"]
    assert events[-1]["kind"] == "anonymised" and "Ana" not in events[-1]["note"]
    again = run(config, "purge", "--before", "2030-01-01")
    assert again.returncode == 0 and b"nothing to do" in again.stdout, again.stdout.decode()


def test_purge_keeps_what_is_younger_than_the_date(desk, tmp_path: Path):
    _ana_writes(desk)
    desk.analyst_replies("#fechar")
    done = run(write_config(tmp_path), "purge", "--before", "2026-11-01")  # before everything happened
    assert done.returncode == 0 and b"nothing to do" in done.stdout
    assert CITIZEN in " ".join(scan(sqlite_url(tmp_path), [CITIZEN]))


def test_forget_erases_one_person_everywhere_and_keeps_others(desk, tmp_path: Path):
    first = _ana_writes(desk)
    desk.analyst_replies("#fechar\nResolvido.")
    second = _ana_writes(desk, subject="Outra dúvida")  # still open
    desk._send(BRUNO, desk.running.address,
               make_mail(sender=f"Bruno Lima <{BRUNO}>", cc=f"Ana Souza <{CITIZEN}>", subject="Pedido do Bruno"))
    _all_sent(desk)
    url, config = sqlite_url(tmp_path), write_config(tmp_path)
    before = _report(url)

    refused = run(config, "forget", CITIZEN)
    assert refused.returncode == 1
    assert f"1 open ticket(s) still being handled ({second})".encode() in refused.stderr
    assert b"--include-open" in refused.stderr and scan(url, ANA)

    dry = run(config, "forget", "--include-open", "--dry-run", CITIZEN)
    assert dry.returncode == 0 and "Simulação".encode() in dry.stdout and scan(url, ANA)

    done = run(config, "forget", "--include-open", CITIZEN.upper())
    assert done.returncode == 0, done.stderr.decode()
    report = done.stdout.decode()
    assert f"Chamados anonimizados: 2 ({first}, {second})" in report
    assert _counts(done.stdout) == _counts(dry.stdout)
    assert "participantes em cópia (participant): 1" in report

    assert scan(url, ANA) == []
    assert _report(url) == before
    assert scan(url, [BRUNO, "Pedido do Bruno"]), "another person's ticket keeps its data"


def test_the_daily_retention_step_applies_the_keeping_times_once_a_day(desk):
    _ana_writes(desk)
    desk.analyst_replies("#fechar")
    _all_sent(desk)
    url = str(desk.running.gateway.db.url)
    config = RetentionConfig(raw_mail_days=30, closed_ticket_days=30)
    early = RetentionStep(desk.running.gateway.db, config, FixedClock(FRIDAY_HOLIDAY + timedelta(days=10)))
    assert early.run_if_due() == {}
    assert scan(url, ANA)

    later = FixedClock(FRIDAY_HOLIDAY + timedelta(days=31))
    step = RetentionStep(desk.running.gateway.db, config, later)
    counts = step.run_if_due()
    assert counts is not None and counts["ticket"] == 1 and counts["inbox.raw"] >= 2
    assert scan(url, ANA) == []
    assert step.run_if_due() is None, "at most once a day"
    assert RetentionStep(desk.running.gateway.db, RetentionConfig(), later).run_if_due() is None, "0 keeps for ever"
