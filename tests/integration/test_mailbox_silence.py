"""PITFALLS 10: a mailbox that stops receiving mail is seen on the admin
``/healthz`` and ``/metrics``, counted in its business time: a real gateway
(SMTP listener, processor, sender, admin listener) on a fixed clock, mail
sent with smtplib, and the operator's two URLs read with httpx."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.config import Settings
from gateway.store import arrivals
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, wait_until

WATCHED = "atendimento@example.gov.br"
UNWATCHED = "cnes@example.gov.br"
CITIZEN = "ana.souza@example.org"
BRASILIA = timezone(timedelta(hours=-3))  # America/Sao_Paulo, no DST since 2019
HOUR = 3600.0


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Brasília."""
    return datetime(2026, 11, day, hour, minute, tzinfo=BRASILIA)


@pytest.fixture
def start_desk(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., tuple[RunningGateway, FixedClock]]]:
    """A gateway with two mailboxes on a fixed clock: WATCHED with
    ``max_silence`` (4h unless told), UNWATCHED without."""
    started: list[RunningGateway] = []

    def start(at: datetime, max_silence: str = "4h") -> tuple[RunningGateway, FixedClock]:
        settings = make_settings(mailbox=[
            {"address": WATCHED, "protocol_prefix": "ATD", "team": ["equipe@example.gov.br"],
             "max_silence": max_silence},
            {"address": UNWATCHED, "protocol_prefix": "CNES", "team": ["equipe@example.gov.br"]},
        ])
        clock = FixedClock(at)
        running = RunningGateway(settings, Gateway(settings, clock)).start()
        started.append(running)
        return running, clock

    yield start
    for running in started:
        running.stop()


def send_at(running: RunningGateway, clock: FixedClock, at: datetime, to: str = WATCHED) -> None:
    """A citizen's mail reaches ``to`` at ``at``, and the gateway is done with it
    (processed, its answers delivered), so only the silence can fail /healthz."""
    clock.set(at)
    before = sum(running.inbox_counts().values())
    with smtplib.SMTP("127.0.0.1", running.port, timeout=30) as client:
        client.sendmail(CITIZEN, [to], make_mail(sender=f"Ana Souza <{CITIZEN}>", to=to, subject="Dúvida"))
    running.wait_processed(before + 1)
    wait_until(lambda: not _unsent(running), timeout=15, what="the answers delivered")


def _unsent(running: RunningGateway) -> int:
    from gateway.store import stats

    with running.gateway.db.reading() as tx:
        counts = stats.collect(tx, running.gateway.clock.now()).outbox_by_status
    return counts.get("queued", 0) + counts.get("sending", 0)


def healthz(running: RunningGateway) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{running.gateway.admin_port}/healthz", timeout=30)


def gauges(running: RunningGateway) -> dict[tuple[str, str], float]:
    """The silence gauges, by (name, mailbox)."""
    text = httpx.get(f"http://127.0.0.1:{running.gateway.admin_port}/metrics", timeout=30).text
    return {(sample.name, sample.labels["mailbox"]): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name.startswith("gateway_mailbox_")}


def test_a_weekend_without_mail_is_no_alarm_but_office_hours_are_until_a_mail_arrives(start_desk):
    running, clock = start_desk(local(27, 15))  # Friday 27/11/2026, an ordinary one
    send_at(running, clock, local(27, 16))  # two working hours left on Friday

    clock.set(local(30, 9))  # Monday 09:00: 65 hours later, 3 of them working ones
    answer = healthz(running)
    assert answer.status_code == 200, answer.text
    checks = answer.json()["checks"]
    assert checks[f"silence {WATCHED}"] == {"ok": True, "seconds": 3 * HOUR, "limit": 4 * HOUR,
                                            "last_mail": "2026-11-27T19:00:00+00:00"}
    assert f"silence {UNWATCHED}" not in checks  # max_silence not set: not watched
    assert gauges(running) == {("gateway_mailbox_silent_business_seconds", WATCHED): 3 * HOUR,
                               ("gateway_mailbox_max_silence_business_seconds", WATCHED): 4 * HOUR}

    send_at(running, clock, local(30, 9, 30), to=UNWATCHED)  # another mailbox's mail says nothing of this one
    clock.set(local(30, 11, 30))  # 2 + 3.5 working hours: past the limit
    answer = healthz(running)
    assert answer.status_code == 503, answer.text
    assert answer.json()["status"] == "unhealthy"
    check = answer.json()["checks"][f"silence {WATCHED}"]
    assert check["ok"] is False and check["seconds"] == 5.5 * HOUR and check["limit"] == 4 * HOUR
    assert check["message"] == (
        f"no mail to {WATCHED} since 2026-11-27 16:00 (America/Sao_Paulo): 5.5 business hours, more than "
        'max_silence = "4h"; check the MX records of example.gov.br (dig MX example.gov.br), the MTA in front '
        "of the gateway (its queue and its log: mail deferred to us?) and its route to the gateway's SMTP listener")
    others = {name: c["ok"] for name, c in answer.json()["checks"].items() if name != f"silence {WATCHED}"}
    assert all(others.values()), others  # the silence alone fails it
    assert gauges(running)[("gateway_mailbox_silent_business_seconds", WATCHED)] == 5.5 * HOUR

    send_at(running, clock, local(30, 11, 45))  # mail again: the MX was fixed
    answer = healthz(running)
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"][f"silence {WATCHED}"] == {"ok": True, "seconds": 0.0, "limit": 4 * HOUR,
                                                             "last_mail": "2026-11-30T14:45:00+00:00"}
    assert gauges(running)[("gateway_mailbox_silent_business_seconds", WATCHED)] == 0.0


def test_a_holiday_is_no_silence_and_business_days_are_whole_working_days(start_desk):
    """Consciência Negra (Friday 20/11/2026) is a national holiday: from
    Thursday 17:00 to Monday 10:00 is three working hours, not a working day."""
    running, clock = start_desk(local(19, 16), max_silence="1bd")
    send_at(running, clock, local(19, 17))

    clock.set(local(23, 10))  # Monday 10:00: Friday was a holiday, then the weekend
    check = healthz(running).json()["checks"][f"silence {WATCHED}"]
    assert check["ok"] is True and check["seconds"] == 3 * HOUR and check["limit"] == 10 * HOUR  # 08:00-18:00

    clock.set(local(23, 16, 59))  # 1 + 8h59 working hours: still within one working day
    assert healthz(running).json()["checks"][f"silence {WATCHED}"]["ok"] is True

    clock.set(local(23, 17, 1))  # two minutes more: a working day and a minute
    answer = healthz(running)
    assert answer.status_code == 503
    check = answer.json()["checks"][f"silence {WATCHED}"]
    assert check["ok"] is False and check["seconds"] == 10 * HOUR + 60
    assert 'more than max_silence = "1bd"' in check["message"]


def test_a_restart_finds_the_last_mail_behind_others_and_counts_a_never_used_one_from_its_start(
        start_desk: Callable[..., tuple[RunningGateway, FixedClock]], monkeypatch: pytest.MonkeyPatch):
    """After a restart the admin walks the inbox back from the newest mail
    (in batches: two rows here, to walk several) to each watched mailbox's last one."""
    monkeypatch.setattr(arrivals, "_BATCH", 2)
    first, clock = start_desk(local(30, 8))  # Monday 30/11/2026
    check = healthz(first).json()["checks"][f"silence {WATCHED}"]
    assert check == {"ok": True, "seconds": 0.0, "limit": 4 * HOUR, "last_mail": None}  # none yet: from the start
    clock.set(local(30, 12, 30))
    answer = healthz(first)
    assert answer.status_code == 503
    message = answer.json()["checks"][f"silence {WATCHED}"]["message"]
    assert message.startswith(f"no mail to {WATCHED} since the gateway started at 2026-11-30 08:00 "
                              "(America/Sao_Paulo) (nor before): 4.5 business hours")

    send_at(first, clock, local(30, 13))
    for minute in (1, 2, 3, 4, 5):
        send_at(first, clock, local(30, 13, minute), to=UNWATCHED)
    first.stop()

    again = local(30, 15)
    second = RunningGateway(first.settings, Gateway(first.settings, FixedClock(again))).start()
    try:
        check = healthz(second).json()["checks"][f"silence {WATCHED}"]
        assert check == {"ok": True, "seconds": 2 * HOUR, "limit": 4 * HOUR,
                         "last_mail": "2026-11-30T16:00:00+00:00"}
    finally:
        second.stop()

    # The walk is bounded (two batches here): a first look does not read a
    # whole large inbox, and a mailbox not met counts from the start.
    monkeypatch.setattr(arrivals, "_WALK_BATCHES", 2)
    third = RunningGateway(first.settings, Gateway(first.settings, FixedClock(again))).start()
    try:
        check = healthz(third).json()["checks"][f"silence {WATCHED}"]
        assert check == {"ok": True, "seconds": 0.0, "limit": 4 * HOUR, "last_mail": None}
    finally:
        third.stop()
