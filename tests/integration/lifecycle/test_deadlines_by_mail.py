"""Deadlines end to end: a real gateway, the clock moved by hand, and the
sweep run as `gateway sweep --now` runs it.  Each test checks what the
citizen and the team read, how many mails each got, and the timeline.

The scheduler is off (``[schedule] enabled = false``) so only the sweeps
the test runs happen."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.clock import FixedClock
from tests.helpers.servers import RunningGateway
from tests.integration.lifecycle.conftest import ANALYST, FRIDAY_HOLIDAY, TEAM, Desk, text_of


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def desk(quiet_desk: Callable[..., Desk]) -> Desk:
    return quiet_desk()



def cli(desk: Desk, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    config = tmp_path / "cli.toml"
    mailbox = desk.running.settings.mailboxes[0]
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n'
                      f'[outbound]\npath = "{tmp_path / "cli-outbox"}"\n'
                      f'[[mailbox]]\naddress = "{mailbox.address}"\nname = "{mailbox.name}"\n'
                      f'protocol_prefix = "ATD"\nteam = ["{TEAM}"]\n'
                      + "".join(f'{key} = "{getattr(mailbox, key)}"\n'
                                for key in ("wait_limit", "solved_limit", "wait_reminder", "solved_reminder")))
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *args], capture_output=True)


def test_waiting_reminds_once_then_closes_for_no_response(desk):
    desk.citizen_writes()
    desk.analyst_replies("#aguardando\nInforme o número do CNES da unidade, por favor.")
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("remind_waiting", utc(24, 13).isoformat())

    assert desk.sweep(utc(24, 12, 59)) == {}, "nothing before its time"
    assert desk.sweep(utc(24, 13)) == {"remind_waiting": 1}
    [reminder] = desk.to_citizen("reminder_waiting")
    body = text_of(reminder)
    assert "Responda a este e-mail até quarta-feira, 25/11/2026, às 10h." in body
    assert "Informe o número do CNES da unidade" in body, "the question is repeated"
    assert reminder["Subject"].startswith(f"[{desk.protocol}] Lembrete")
    assert desk.ticket()["due_kind"] == "no_response"
    assert desk.sweep(utc(24, 20)) == {}, "a second sweep sends nothing more"

    assert desk.sweep(utc(25, 13)) == {"no_response": 1}
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and ticket["due_at"] is None
    [closed] = desk.to_citizen("closed_no_response")
    assert "não recebemos a sua resposta até quarta-feira, 25/11/2026, às 10h" in " ".join(text_of(closed).split())
    assert desk.events()[-2:] == ["reminded", "closed"]
    assert [e for e in ticket["events"] if e["kind"] == "closed"][0]["actor"] == "gateway"
    assert desk.sweep(utc(30, 12)) == {}
    assert len(desk.to_citizen("reminder_waiting")) == 1 and not desk.to_citizen("survey"), "no survey after no answer"


def test_solution_unanswered_is_reminded_accepted_surveyed_and_the_survey_reminded_once(desk):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nAtualize o sistema para a versão 3.2.")
    # 3 business days after the Friday holiday: Mon 23, Tue 24, Wed 25 at 18:00 local (21:00 UTC).
    assert desk.sweep(utc(24, 20, 59)) == {}
    assert desk.sweep(utc(24, 21)) == {"remind_solved": 1}
    [reminder] = desk.to_citizen("reminder_solved")
    body = text_of(reminder)
    assert "Responda até quarta-feira, 25/11/2026, às 18h." in body
    assert "Atualize o sistema para a versão 3.2" in body and "/s/" in body, "the solution and its links again"

    assert desk.sweep(utc(25, 21)) == {"auto_accept": 1}
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and ticket["due_kind"] == "survey_reminder"
    [notice] = desk.to_citizen("closed_auto_accepted")
    assert "a solução foi considerada aceita" in " ".join(text_of(notice).split())
    assert len(desk.to_citizen("survey")) == 1
    assert desk.events()[-2:] == ["reminded", "auto_accepted"]

    # The survey reminder: 3 business days after Wed 25 18:00 local: Thu 26, Fri 27, Mon 30 at 18:00.
    assert desk.sweep(utc(30, 20)) == {}
    assert desk.sweep(utc(30, 21)) == {"survey_reminder": 1}
    [again] = desk.to_citizen("survey_reminder")
    assert "único lembrete" in text_of(again) and "5 - Muito satisfeito" in text_of(again)
    assert desk.ticket()["due_at"] is None
    assert desk.sweep(datetime(2026, 12, 20, 12, tzinfo=timezone.utc)) == {}, "then nothing more"
    assert [len(desk.to_citizen(k)) for k in ("reminder_solved", "closed_auto_accepted", "survey", "survey_reminder")] \
        == [1, 1, 1, 1]


def test_an_answer_before_the_limit_cancels_the_closure(desk):
    desk.citizen_writes()
    desk.analyst_replies("#aguardando\nQual o CNES?")
    assert desk.sweep(utc(24, 13)) == {"remind_waiting": 1}
    desk.clock.set(utc(24, 15))
    desk.citizen_replies("O CNES é 1234567.")
    assert desk.ticket()["status"] == "open" and desk.ticket()["due_at"] is None
    assert desk.sweep(utc(26, 12)) == {}
    assert desk.ticket()["status"] == "open" and not desk.to_citizen("closed_no_response")


def test_an_answered_survey_is_not_reminded(desk):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nAtualize o sistema.")
    desk.citizen_replies("Sim, resolvido.")
    desk.citizen_replies("5")
    assert desk.sweep(utc(30, 21)) == {}
    assert not desk.to_citizen("survey_reminder")


def test_catch_up_after_downtime_does_only_the_final_action_once(desk, tmp_path):
    """Down from Friday to Thursday: both reminders and both limits passed."""
    first = desk.citizen_writes()
    desk.analyst_replies("#aguardando\nQual o CNES?")
    desk.protocol = ""
    second = desk.citizen_writes(subject="Outro problema")
    desk.analyst_replies("#solucao\nReinstale o aplicativo.")

    result = cli(desk, tmp_path, "sweep", "--now", "2026-11-26T09:00:00-03:00", "--json")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    [summary] = json.loads(result.stdout)
    assert summary["acted"] == 2 and summary["done"] == {"no_response": 1, "auto_accept": 1}
    assert not desk.to_citizen("reminder_waiting") and not desk.to_citizen("reminder_solved"), \
        "no reminder about a deadline already gone"
    assert [desk.running.ticket(p)["status"] for p in (first, second)] == ["closed", "closed"]
    assert len(desk.to_citizen("closed_no_response")) == 1
    assert len(desk.to_citizen("closed_auto_accepted")) == 1 and len(desk.to_citizen("survey")) == 1

    again = cli(desk, tmp_path, "sweep", "--now", "2026-11-26T09:00:00-03:00", "--json")
    assert json.loads(again.stdout)[0]["acted"] == 0, "running it twice acts once"
    assert len(desk.to_citizen()) == 2 + 1 + 1 + 1 + 1 + 1, "2 acks, question, solution, 2 closures, survey"


def test_sla_warns_the_team_then_records_the_breach_and_lists_it_overdue(quiet_desk, tmp_path):
    desk = quiet_desk(sla={"Consulta Técnica": {"first_response": "1h", "resolution": "2h"}},
                              sla_default={"first_response": "4h"})
    desk.citizen_writes()  # Friday 10:00 local; the default target: first response by 14:00 local
    assert desk.ticket()["due_kind"] == "sla_warning"
    desk.clock.set(utc(20, 13, 5))
    desk.analyst_replies("#categoria Consulta Técnica\n#interno\nParece consulta técnica.")
    # The category's targets count from creation: first response met now (the note is an analyst's act),
    # resolution by 12:00 local, warned with 25% (30 min) left, at 11:30 local.
    ticket = desk.ticket()
    assert (ticket["category"], ticket["due_kind"], ticket["due_at"]) == \
        ("Consulta Técnica", "sla_warning", utc(20, 14, 30).isoformat())

    assert desk.sweep(utc(20, 14, 30)) == {"sla_warning": 1}
    [warning] = desk.running.outbox(kind="team_sla_warning", to=TEAM)
    body = text_of(warning)
    assert "solução: vence sexta-feira, 20/11/2026, às 12h" in body and "Consulta Técnica" in body
    assert warning["Subject"].startswith(f"[{desk.protocol}] Prazo de atendimento perto de vencer")
    assert not [m for m in desk.to_citizen() if "Prazo" in m["Subject"]], "the citizen never sees it"

    result = cli(desk, tmp_path, "tickets", "list", "--overdue", "--now", "2026-11-20T12:01:00-03:00", "--json")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    [late] = json.loads(result.stdout)
    assert (late["protocol"], late["overdue"]) == (desk.protocol, ["resolution"])

    assert desk.sweep(utc(20, 15)) == {"sla_breach": 1}
    [breach] = desk.running.outbox(kind="team_sla_breach", to=TEAM)
    assert "solução: venceu sexta-feira, 20/11/2026, às 12h" in text_of(breach)
    assert desk.events()[-2:] == ["sla_warning", "sla_breach"]
    assert desk.sweep(utc(21, 15)) == {}, "one warning and one breach, never more"

    desk.clock.set(utc(20, 16))
    desk.analyst_replies("#solucao\nAjuste feito.")
    result = cli(desk, tmp_path, "tickets", "list", "--overdue", "--now", "2026-11-20T13:01:00-03:00", "--json")
    assert json.loads(result.stdout) == [], "a proposed solution meets the resolution target"


def test_catch_up_of_an_sla_sends_the_breach_not_the_stale_warning(quiet_desk):
    desk = quiet_desk(sla_default={"first_response": "1h", "resolution": "2h"})
    desk.citizen_writes()
    assert desk.sweep(utc(23, 12)) == {"sla_breach": 1}
    [breach] = desk.running.outbox(kind="team_sla_breach", to=TEAM)
    body = text_of(breach)
    assert "primeira resposta: venceu" in body and "solução: venceu" in body, "one mail naming both targets"
    assert not desk.running.outbox(kind="team_sla_warning")
    assert desk.events().count("sla_breach") == 2


def test_english_mailbox_reads_english_deadlines(quiet_desk):
    desk = quiet_desk(language="en")
    desk.citizen_writes()
    desk.analyst_replies("#aguardando\nWhich unit?")
    assert desk.sweep(utc(24, 13)) == {"remind_waiting": 1}
    [reminder] = desk.to_citizen("reminder_waiting")
    assert "Please reply to this e-mail by Wednesday, 25 November 2026, at 10:00." in text_of(reminder)


def test_the_scheduler_inside_gateway_run_wakes_the_sweep(make_settings):
    """No manual sweep: APScheduler in serve() runs it every [schedule] interval."""
    from tests.helpers.servers import wait_until

    settings = make_settings(
        auth={"trusted_authserv_ids": ["mx.example.gov.br"]}, schedule={"interval": 0.2},
        smtp={"trusted_networks": ["127.0.0.1"]},  # the tests' client plays the MTA in front
        mailbox=[{"address": "atendimento@example.gov.br", "name": "Central de Atendimento",
                  "protocol_prefix": "ATD", "team": [TEAM], "analysts": [ANALYST]}])
    clock = FixedClock(FRIDAY_HOLIDAY)
    desk = Desk(RunningGateway(settings, Gateway(settings, clock)).start(), clock)
    try:
        desk.citizen_writes()
        desk.analyst_replies("#aguardando\nQual o CNES?")
        scheduler = desk.running.gateway.scheduler
        assert scheduler is not None
        clock.set(utc(25, 13))
        wait_until(lambda: desk.ticket()["status"] == "closed", what="the scheduled sweep to close the ticket")
        swept = scheduler.sweeps
        wait_until(lambda: scheduler.sweeps >= swept + 2, what="two more sweeps")
        assert len(desk.to_citizen("closed_no_response")) == 1 and not desk.to_citizen("reminder_waiting")
    finally:
        desk.running.stop()


def test_out_of_office_answers_neither_stop_nor_move_the_reminder_and_the_closure(desk):
    """PITFALLS item 6(a) (remind-then-close "cancelled by any *genuine*
    citizen reply") and K3 (out-of-office must not reopen, osTicket#2256):
    the requester's robot answers the question, and later the reminder, while
    she is away.  Neither answer is hers, so the ladder runs exactly as if
    they had never arrived: reminded Tue 24 at 10h local, closed for no
    response Wed 25 at 10h local, one mail of each, nothing sent to the robot.
    A robot's mail that restarted the wait would keep a ticket open for as
    long as the holiday lasts; one that cancelled it would leave it open forever."""
    desk.citizen_writes()
    desk.analyst_replies("#aguardando\nInforme o número do CNES da unidade, por favor.")
    planned = (desk.ticket()["due_kind"], desk.ticket()["due_at"])
    assert planned == ("remind_waiting", utc(24, 13).isoformat())
    [question] = desk.to_citizen("question")
    to_citizen_before = len(desk.to_citizen())

    # Monday: the mail client's vacation responder (RFC 3834 header), a reply to the question.
    desk.clock.set(utc(23, 14))
    landed = desk.citizen_writes(subject=f"Resposta automática: {question['Subject']}",
                                 body="Estou de férias até 30/11, sem acesso ao e-mail.",
                                 in_reply_to=question["Message-ID"], references=question["Message-ID"],
                                 headers={"Auto-Submitted": "auto-replied"})
    assert landed == desk.protocol and len(desk.running.tickets()) == 1
    ticket = desk.ticket()
    assert (ticket["status"], ticket["due_kind"], ticket["due_at"]) == ("waiting", *planned), \
        "the out-of-office moved the reminder"
    assert desk.events()[-1] == "automatic_mail"

    assert desk.sweep(utc(24, 12, 59)) == {}, "nothing before its time"
    assert desk.sweep(utc(24, 13)) == {"remind_waiting": 1}
    [reminder] = desk.to_citizen("reminder_waiting")
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("no_response", utc(25, 13).isoformat())

    # Tuesday: a webmail responder with no RFC 3834 header at all answers the reminder.
    desk.clock.set(utc(24, 14))
    desk.citizen_writes(subject=f"Resposta automática: {reminder['Subject']}",
                        body="Estou de férias até 30/11, sem acesso ao e-mail.",
                        in_reply_to=reminder["Message-ID"], references=reminder["Message-ID"])
    ticket = desk.ticket()
    assert (ticket["status"], ticket["due_kind"], ticket["due_at"]) == \
        ("waiting", "no_response", utc(25, 13).isoformat()), "the out-of-office moved the closure"

    assert desk.sweep(utc(25, 12, 59)) == {}, "the closure is not earlier either"
    assert desk.sweep(utc(25, 13)) == {"no_response": 1}
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and ticket["due_at"] is None
    assert desk.events()[-5:] == ["asked", "automatic_mail", "reminded", "automatic_mail", "closed"]
    assert len(desk.running.tickets()) == 1
    assert [len(desk.to_citizen(k)) for k in ("reminder_waiting", "closed_no_response")] == [1, 1]
    assert len(desk.to_citizen()) == to_citizen_before + 2, \
        "only the reminder and the closing notice: nothing answered the robot"
