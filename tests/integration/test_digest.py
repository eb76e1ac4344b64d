"""The daily digest (issue 18, item 2) over tickets made by mail through the
real listener, with the clock moved by hand (times in Brasília, UTC-3; the
desk works 08-18, Monday to Friday; Friday 20/11 is Consciência Negra, a
holiday).  The desk's first response target is 2 business hours and its
digest goes at 17:45.

- A: opened Thu 19 10:00, assigned to Maria (#atribuir): due Thu 12:00, overdue.
- W: opened Thu 19 11:00, the analyst asks for the CPF (#aguardando): waiting.
- E: opened Thu 19 12:00, answered at 12:30: nothing due, not listed.
- D: opened Fri 20 10:00 (the holiday): due Mon 10:00, overdue.
- F: opened Fri 20 11:00, closed (#fechar): not listed.
- B: opened Mon 23 15:55: due Mon 17:55, due today.
- C: opened Mon 23 17:40, assigned to Maria: due Tue 09:40, new.

The digest runs as of Mon 23 17:50.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway import links
from gateway.services.digest import Digests
from gateway.workers.digests import DigestStep
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import wait_until
from tests.integration.lifecycle.conftest import (  # noqa: F401 - fixtures
    ANALYST,
    TEAM,
    TRUSTED,
    Desk,
    desk_settings,
    open_desk,
    text_of,
)

SLA = {"first_response": "2bh"}
SUBJECTS = {"A": "Erro ao incluir profissional no CNES", "W": "Pedido de certidão", "E": "Dúvida sobre o sistema",
            "D": "Alteração de endereço", "F": "Senha bloqueada", "B": "Cadastro duplicado",
            "C": "Inclusão de vínculo"}
SECTIONS = {"Em atraso": "overdue", "Prazo vence hoje": "due_today", "Novos, ainda sem ação": "new",
            "Aguardando o solicitante": "waiting"}


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


MONDAY_1750 = utc(23, 20, 50)


def opens(desk: Desk, name: str, at: datetime) -> str:
    return desk.opens_at(at, SUBJECTS[name])


def analyst(desk: Desk, protocol: str, at: datetime, body: str) -> None:
    desk.analyst_at(protocol, at, body)


def tell_story(desk: Desk) -> dict[str, str]:
    story = {"A": opens(desk, "A", utc(19, 13))}
    analyst(desk, story["A"], utc(19, 13, 30), f"#atribuir {ANALYST}")
    story["W"] = opens(desk, "W", utc(19, 14))
    analyst(desk, story["W"], utc(19, 14, 30), "#aguardando Qual é o seu CPF?")
    story["E"] = opens(desk, "E", utc(19, 15))
    analyst(desk, story["E"], utc(19, 15, 30), "Bom dia, estamos verificando.")
    story["D"] = opens(desk, "D", utc(20, 13))
    story["F"] = opens(desk, "F", utc(20, 14))
    analyst(desk, story["F"], utc(20, 14, 30), "#fechar Resolvido por telefone.")
    story["B"] = opens(desk, "B", utc(23, 18, 55))
    story["C"] = opens(desk, "C", utc(23, 20, 40))
    analyst(desk, story["C"], utc(23, 20, 42), f"#atribuir {ANALYST}")
    return story


@pytest.fixture
def desk(open_desk: Callable[..., Desk]) -> Desk:  # noqa: F811
    desk = open_desk(schedule={"enabled": False}, sla_default=SLA, digest="17:45")
    desk.story = tell_story(desk)  # type: ignore[attr-defined]
    return desk


def step(desk: Desk) -> DigestStep:
    """The scheduler's digest step on this desk's database (another one is another node)."""
    gateway = desk.running.gateway
    return DigestStep(gateway.db, Digests(gateway.settings, gateway.renderer), desk.clock)


def body(mail: Any) -> str:
    """The plain text part, with the line ends a reader's client shows."""
    return text_of(mail).replace("\r\n", "\n")


def digests(desk: Desk, to: str) -> list[Any]:
    return desk.running.outbox(kind="team_digest", to=to)


def listed(text: str) -> dict[str, list[str]]:
    """The digest's lists, by name, as the protocols they show, in order."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^== (.+) \((\d+)\) ==$", line)
        if heading:
            current = SECTIONS[heading.group(1)]
            found[current] = []
        elif current and line.startswith("[ATD-"):
            found[current].append(line[1:line.index("]")])
    return found


def test_the_story_stands_as_told(desk):
    states = {name: desk.running.ticket(protocol)["status"] for name, protocol in desk.story.items()}
    assert states == {"A": "assigned", "W": "waiting", "E": "open", "D": "new", "F": "closed", "B": "new",
                      "C": "assigned"}


def test_the_team_gets_every_list_and_each_assignee_only_their_tickets(desk):
    s = desk.story
    assert step(desk).run_once(MONDAY_1750) == 2
    [team] = digests(desk, TEAM)
    [maria] = digests(desk, ANALYST)
    assert team["To"] == TEAM and maria["To"] == ANALYST
    assert team["Auto-Submitted"] == "auto-generated" and team["Reply-To"] == TEAM
    assert team["Subject"] == ("Resumo diário 23/11/2026, Central de Atendimento: 2 em atraso, 1 para hoje, "
                               "1 novo, 1 aguardando o solicitante")
    team_text = body(team)
    assert listed(team_text) == {"overdue": [s["A"], s["D"]], "due_today": [s["B"]], "new": [s["C"]],
                                 "waiting": [s["W"]]}
    assert s["E"] not in team_text and s["F"] not in team_text
    assert f"[{s['B']}] Cadastro duplicado\nPrazo: hoje, às 17h55\n" in team_text
    assert f"Responsável: {ANALYST}" in team_text
    assert listed(body(maria)) == {"overdue": [s["A"]], "new": [s["C"]]}
    assert "os chamados atribuídos a você" in body(maria)


def test_each_line_replies_on_its_ticket_and_links_to_it(desk):
    a = desk.story["A"]
    step(desk).run_once(MONDAY_1750)
    [team] = digests(desk, TEAM)
    text = body(team)
    mailto = re.search(rf"^Responder: (mailto:\S*{a}\S*)$", text, re.M).group(1)
    target = urlsplit(mailto)
    assert target.path == f"atendimento+{a}@example.gov.br"
    subject = parse_qs(target.query)["subject"][0]
    assert subject == f"[{a}] Erro ao incluir profissional no CNES"
    html = team.get_body(("html",)).get_content()
    assert f'<a href="{mailto}">[{a}] Erro ao incluir profissional no CNES</a>' in html
    tracking = re.search(r"^Acompanhamento: (\S+)$", text.split(f"[{a}]", 1)[1], re.M).group(1)
    claim = links.verify(desk.running.settings.web.secret, tracking.rsplit("/", 1)[1], action="track",
                         max_age_seconds=3600 * 24 * 30)
    assert claim.protocol == a
    # Maria answers from the digest: the mail lands on ticket A.
    desk.clock.set(utc(23, 21))
    desk._send(ANALYST, target.path, make_mail(subject=subject, sender=f"Maria Lima <{ANALYST}>", to=target.path,
                                               trace=dict([TRUSTED.split(": ", 1)]),
                                               body="#interno Visto no resumo do dia."))
    last = desk.running.ticket(a)["events"][-1]
    assert (last["kind"], last["actor"], last["at"]) == ("note", ANALYST, "2026-11-23T21:00:00+00:00")


def test_not_on_a_saturday_a_holiday_nor_before_its_time_and_once_a_day(desk):
    first, other_node = step(desk), step(desk)
    assert first.run_once(utc(21, 21)) == 0, "Saturday"
    assert first.run_once(utc(20, 21)) == 0, "Friday 20/11: Consciência Negra"
    assert first.run_once(utc(23, 20, 44)) == 0, "Monday 17:44, before 17:45"
    assert digests(desk, TEAM) == []
    assert first.run_once(MONDAY_1750) == 2
    assert first.run_once(utc(23, 20, 55)) == 0
    assert other_node.run_once(utc(23, 21, 30)) == 0, "a restart or another node sends it again"
    assert len(digests(desk, TEAM)) == 1 and len(digests(desk, ANALYST)) == 1
    assert other_node.run_once(utc(24, 20, 50)) == 2, "Tuesday's is due"
    assert len(digests(desk, TEAM)) == 2


def test_an_empty_digest_is_not_sent(open_desk):
    desk = open_desk(schedule={"enabled": False}, sla_default=SLA, digest="08:00")
    assert step(desk).run_once(utc(23, 12)) == 0
    assert desk.running.outbox(kind="team_digest") == []


def test_the_running_scheduler_sends_it_once_when_due(open_desk):
    desk = open_desk(schedule={"interval": 0.2}, sla_default=SLA, digest="08:00")
    protocol = desk.citizen_writes()  # Friday 20/11 10:00, the holiday: nothing due today
    scheduler = desk.running.gateway.scheduler
    seen = scheduler.digest_runs
    wait_until(lambda: scheduler.digest_runs >= seen + 3, what="three digest steps on the holiday")
    assert desk.running.outbox(kind="team_digest") == []
    desk.clock.set(utc(23, 11, 1))  # Monday 08:01
    [team] = wait_until(lambda: digests(desk, TEAM), what="the team's digest")
    assert protocol in body(team)
    seen = scheduler.digest_runs
    wait_until(lambda: scheduler.digest_runs >= seen + 5, what="five more digest steps")
    assert len(digests(desk, TEAM)) == 1


def gateway_cli(desk: Desk, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "digest.toml"
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n'
                      f'[outbound]\npath = "{tmp_path / "cli-outbox"}"\n'
                      f'[web]\nsecret = "{desk.running.settings.web.secret}"\n'
                      '[[mailbox]]\naddress = "atendimento@example.gov.br"\nname = "Central de Atendimento"\n'
                      f'protocol_prefix = "ATD"\nteam = ["{TEAM}"]\nanalysts = ["{ANALYST}"]\ndigest = "17:45"\n'
                      '[mailbox.sla_default]\nfirst_response = "2bh"\n')
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "digest", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_by_hand_printed_then_sent_once(desk, tmp_path):
    s = desk.story
    printed = gateway_cli(desk, tmp_path, "--now", "2026-11-23T17:50-03:00", "--dry-run").stdout
    assert f"To: {TEAM}\n" in printed and f"To: {ANALYST}\n" in printed
    assert listed(printed.split(f"To: {ANALYST}")[0])["overdue"] == [s["A"], s["D"]]
    assert desk.running.outbox(kind="team_digest") == [], "--dry-run queues nothing"
    saturday = gateway_cli(desk, tmp_path, "--now", "2026-11-21T17:50-03:00").stdout
    assert "not due" in saturday
    sent = gateway_cli(desk, tmp_path, "--now", "2026-11-23T17:50-03:00", "--mailbox", "atendimento@example.gov.br")
    assert "queued 2 digest(s)" in sent.stdout
    again = gateway_cli(desk, tmp_path, "--now", "2026-11-23T18:10-03:00").stdout
    assert "already sent today" in again
    assert len(digests(desk, TEAM)) == 1 and step(desk).run_once(utc(23, 21, 30)) == 0
