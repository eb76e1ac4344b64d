"""A ladder of reminders before the automatic closure (PITFALLS item 6:
"a reminder ladder (e.g. D+3, D+7) and auto-close, all cancelled by any
genuine citizen reply"), end to end: a real gateway, mails through its
listener, the clock moved by hand and the sweep run as `gateway sweep`
runs it.

``wait_reminder = ["3bd", "1bd"]`` with ``wait_limit = "5bd"``: a question
asked on Friday 2026-11-20 (a holiday) is due by Fri 27 at 18:00 local, and
reminded on Tue 24 and Thu 26 at 18:00 local (21:00 UTC), each business day
counted by the mailbox's calendar as the one reminder always was.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.config import Settings
from tests.helpers.servers import RunningGateway
from tests.integration.lifecycle.conftest import ANALYST, FRIDAY_HOLIDAY, TEAM, Desk, text_of
from tests.integration.postgres.conftest import postgres_url  # noqa: F401 - fixture

LADDER = {"wait_limit": "5bd", "wait_reminder": ["3bd", "1bd"]}
QUESTION = "#aguardando\nInforme o número do CNES da unidade, por favor."


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def one_line(mail: Any) -> str:
    return " ".join(text_of(mail).split())


def test_a_ladder_sends_each_reminder_at_its_time_then_closes(quiet_desk):
    desk = quiet_desk(**LADDER)
    desk.citizen_writes()
    desk.analyst_replies(QUESTION)
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("remind_waiting", utc(24, 21).isoformat())

    assert desk.sweep(utc(24, 20, 59)) == {}, "nothing before its time"
    assert desk.sweep(utc(24, 21)) == {"remind_waiting": 1}
    [first] = desk.to_citizen("reminder_waiting")
    assert "Responda a este e-mail até sexta-feira, 27/11/2026, às 18h." in text_of(first)
    assert "Informe o número do CNES da unidade" in text_of(first), "the question is repeated"
    assert "Este é o 1º lembrete." in one_line(first) and "último" not in text_of(first)
    assert "Este é o 1º lembrete." in first.get_body(("html",)).get_content()
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("remind_waiting", utc(26, 21).isoformat())
    assert desk.sweep(utc(25, 12)) == {}, "a sweep in between sends nothing"
    assert desk.sweep(utc(26, 20, 59)) == {}

    assert desk.sweep(utc(26, 21)) == {"remind_waiting": 1}
    [_, second] = desk.to_citizen("reminder_waiting")
    assert "Este é o 2º lembrete, o último antes do encerramento." in one_line(second)
    assert "Responda a este e-mail até sexta-feira, 27/11/2026, às 18h." in text_of(second)
    assert second["Subject"].startswith(f"[{desk.protocol}] Lembrete")
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("no_response", utc(27, 21).isoformat())
    assert desk.sweep(utc(27, 20, 59)) == {}, "the closure is not earlier"

    assert desk.sweep(utc(27, 21)) == {"no_response": 1}
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and ticket["due_at"] is None
    assert desk.events()[-4:] == ["asked", "reminded", "reminded", "closed"]
    notes = [e["note"] for e in ticket["events"] if e["kind"] == "reminded"]
    assert [note.split("; ", 1)[1] for note in notes] == [f"reminder 1, next {utc(26, 21).isoformat()}",
                                                          "reminder 2, the last"]
    assert desk.sweep(utc(4, 12, month=12)) == {}
    assert [len(desk.to_citizen(k)) for k in ("reminder_waiting", "closed_no_response")] == [2, 1]


def test_a_genuine_reply_between_reminders_cancels_the_rest_and_an_out_of_office_does_not(quiet_desk):
    desk = quiet_desk(**LADDER)
    desk.citizen_writes()
    desk.analyst_replies(QUESTION)
    assert desk.sweep(utc(24, 21)) == {"remind_waiting": 1}
    [reminder] = desk.to_citizen("reminder_waiting")

    # Wednesday: her robot answers the reminder; the ladder goes on as if it had not.
    desk.clock.set(utc(25, 12))
    desk.citizen_writes(subject=f"Resposta automática: {reminder['Subject']}",
                        body="Estou de férias até 30/11, sem acesso ao e-mail.",
                        in_reply_to=reminder["Message-ID"], references=reminder["Message-ID"],
                        headers={"Auto-Submitted": "auto-replied"})
    ticket = desk.ticket()
    assert (ticket["status"], ticket["due_kind"], ticket["due_at"]) == \
        ("waiting", "remind_waiting", utc(26, 21).isoformat()), "the out-of-office moved the next reminder"

    # Then Ana herself answers: the second reminder and the closure are cancelled.
    desk.clock.set(utc(25, 14))
    desk.citizen_replies("O CNES é 1234567.")
    ticket = desk.ticket()
    assert ticket["status"] == "open" and ticket["due_at"] is None
    assert desk.sweep(utc(26, 21)) == {} and desk.sweep(utc(30, 12)) == {}
    assert desk.ticket()["status"] == "open"
    assert len(desk.to_citizen("reminder_waiting")) == 1 and not desk.to_citizen("closed_no_response")

    # A new question is a new wait: its ladder starts again at the first reminder.
    desk.clock.set(utc(25, 15))
    desk.analyst_replies("#aguardando\nQual o nome do responsável técnico?")
    # 5bd after Wed 25: Wed 2 Dec 18:00 local; 3bd before it: Fri 27 Nov; 1bd before: Tue 1 Dec.
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("remind_waiting", utc(27, 21).isoformat())
    assert desk.sweep(utc(27, 21)) == {"remind_waiting": 1}
    again = desk.to_citizen("reminder_waiting")[-1]
    assert "Qual o nome do responsável técnico?" in text_of(again)
    assert "Este é o 1º lembrete." in one_line(again), "the count starts with the new question"


def test_a_solution_ladder_reminds_twice_with_its_links_then_accepts(quiet_desk):
    """Listed in any order: ["1bd", "2bd"] before a 3bd limit reminds on Mon 23 and Tue 24 at 18:00 local."""
    desk = quiet_desk(language="en", solved_reminder=["1bd", "2bd"])
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nUpdate the system to version 3.2.")
    assert desk.sweep(utc(23, 21)) == {"remind_solved": 1}
    assert desk.sweep(utc(24, 12)) == {}
    assert desk.sweep(utc(24, 21)) == {"remind_solved": 1}
    first, second = desk.to_citizen("reminder_solved")
    for mail in (first, second):
        body = text_of(mail)
        assert "Please answer by Wednesday, 25 November 2026, at 18:00." in body
        assert "Update the system to version 3.2" in body and "/s/" in body, "the solution and its links again"
    assert "This is reminder 1." in one_line(first)
    assert "This is reminder 2, the last one before the request is closed." in one_line(second)

    assert desk.sweep(utc(25, 21)) == {"auto_accept": 1}
    assert desk.ticket()["status"] == "closed" and len(desk.to_citizen("survey")) == 1
    assert desk.events()[-3:] == ["reminded", "reminded", "auto_accepted"]


@pytest.mark.parametrize("single", ["2bd", ["2bd"]], ids=["plain", "one-entry-list"])
def test_the_single_reminder_config_behaves_as_it_always_did(quiet_desk, single):
    """``wait_reminder = "2bd"`` (and a list of one) is the one reminder of
    before: at its time, its mail without a word about a ladder, its event
    note as it was, then the closure."""
    desk = quiet_desk(wait_reminder=single)
    desk.citizen_writes()
    desk.analyst_replies(QUESTION)
    # wait_limit 5d: Wed 25 at 10:00 local; 2bd before: Mon 23 at 10:00 local.
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("remind_waiting", utc(23, 13).isoformat())
    assert desk.sweep(utc(23, 13)) == {"remind_waiting": 1}
    [reminder] = desk.to_citizen("reminder_waiting")
    text = text_of(reminder).replace("\r\n", "\n")
    assert "Responda a este e-mail até quarta-feira, 25/11/2026, às 10h." in text
    assert "º lembrete" not in text and "º lembrete" not in reminder.get_body(("html",)).get_content()
    assert "Sem resposta até lá, o chamado será encerrado automaticamente.\n\nAcompanhe em " in text, \
        "nothing new between the closing sentence and the link"
    assert (desk.ticket()["due_kind"], desk.ticket()["due_at"]) == ("no_response", utc(25, 13).isoformat())
    assert desk.sweep(utc(24, 21)) == {}, "one reminder, no second"
    assert desk.sweep(utc(25, 13)) == {"no_response": 1}
    [note] = [e["note"] for e in desk.ticket()["events"] if e["kind"] == "reminded"]
    assert re.fullmatch(r"reminder_waiting: limit 2026-11-25T13:00:00\+00:00", note)
    assert [len(desk.to_citizen(k)) for k in ("reminder_waiting", "closed_no_response")] == [1, 1]


# -- two sweeps at once --------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ladder_settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    """The desk's settings with the ladder, on SQLite or on PostgreSQL."""
    storage = {} if request.param == "sqlite" else {"url": request.getfixturevalue("postgres_url")}
    return make_settings(
        auth={"trusted_authserv_ids": ["mx.example.gov.br"]}, smtp={"trusted_networks": ["127.0.0.1"]},
        schedule={"enabled": False}, storage=storage,
        mailbox=[{"address": "atendimento@example.gov.br", "name": "Central de Atendimento",
                  "protocol_prefix": "ATD", "team": [TEAM], "analysts": [ANALYST], **LADDER}])


@pytest.fixture
def two_nodes(ladder_settings: Settings) -> Iterator[tuple[Desk, Gateway]]:
    """A running desk and a second node on the same database, sweeping only."""
    clock = FixedClock(FRIDAY_HOLIDAY)
    desk = Desk(RunningGateway(ladder_settings, Gateway(ladder_settings, clock)).start(), clock)
    other = Gateway(ladder_settings, FixedClock(FRIDAY_HOLIDAY), migrate=False)
    try:
        yield desk, other
    finally:
        other.close()
        desk.running.stop()


def test_two_sweeps_at_once_send_each_reminder_once(two_nodes):
    """Both nodes sweep at the same instant at each step of the ladder: each
    ticket gets each reminder once, and one closure."""
    desk, other = two_nodes
    protocols = []
    for number in range(4):
        desk.protocol = ""
        protocols.append(desk.citizen_writes(subject=f"Pedido {number}"))
        desk.analyst_replies(QUESTION)
    nodes = [desk.running.gateway, other]

    def both_sweep(at: datetime) -> Counter[str]:
        start = threading.Barrier(2)

        def sweep(node: Gateway) -> Counter[str]:
            start.wait(timeout=10)
            return node.sweeper.run_once(at).done

        with ThreadPoolExecutor(max_workers=2) as pool:
            return sum(pool.map(sweep, nodes), Counter())

    assert both_sweep(utc(24, 21)) == {"remind_waiting": 4}
    assert both_sweep(utc(24, 21, 1)) == {}
    assert both_sweep(utc(26, 21)) == {"remind_waiting": 4}
    assert both_sweep(utc(27, 21)) == {"no_response": 4}
    mails = Counter(mail["Subject"].split("]")[0] + "] " + kind
                    for kind in ("reminder_waiting", "closed_no_response") for mail in desk.to_citizen(kind))
    assert mails == {f"[{protocol}] {kind}": count for protocol in protocols
                     for kind, count in (("reminder_waiting", 2), ("closed_no_response", 1))}
    for protocol in protocols:
        ticket = desk.running.ticket(protocol)
        assert ticket["status"] == "closed"
        assert [e["kind"] for e in ticket["events"]][-3:] == ["reminded", "reminded", "closed"]
