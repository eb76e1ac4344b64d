"""What an operator watches, on the real ``gateway run``: one JSON log line
per accepted, processed and delivered mail; ``/metrics`` and a deep
``/healthz`` on the admin listener, not on the public pages."""

from __future__ import annotations

import json
import smtplib
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, query, run, smtp_port, write_config
from tests.helpers.servers import free_port, wait_until

SERVICE = "atendimento@example.gov.br"
CITIZENS = ("ana.souza@example.org", "bruno.lima@example.net", "carla.dias@example.com")
JSON_LOG = '[log]\nformat = "json"\n'


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[tuple[Path, GatewayProcess, int]]:
    """``gateway run`` (every role) logging JSON, with its admin port."""
    admin = free_port()
    config = write_config(tmp_path, admin_port=admin, extra=JSON_LOG)
    process = GatewayProcess(config, tmp_path / "gateway.log").start()
    try:
        yield config, process, admin
    finally:
        process.terminate()


def _send(config: Path, citizens: tuple[str, ...]) -> list[str]:
    """One mail from each citizen, by SMTP; their Message-IDs."""
    ids = [f"<observe.{name.split('@')[0]}@client.example.org>" for name in citizens]
    with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
        for citizen, message_id in zip(citizens, ids):
            client.sendmail(citizen, [SERVICE], make_mail(sender=citizen, message_id=message_id,
                                                          subject="Erro no cadastro"))
    return [message_id.strip("<>") for message_id in ids]


def _events(log: Path) -> list[dict[str, Any]]:
    """Every JSON line of the log (each must parse); the banner on stdout is not JSON."""
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("{")]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_each_mail_is_logged_accepted_processed_and_delivered_as_json(observed):
    config, process, _ = observed
    message_ids = _send(config, CITIZENS)
    database = config.parent / "gateway.db"

    def settled() -> list[dict[str, Any]] | None:
        events = _events(process.log)
        [(sent, unsent)] = query(database, "select count(*) filter (where status = 'sent'), "
                                           "count(*) filter (where status != 'sent') from outbox")
        deliveries = [e for e in events if e.get("event") == "delivery" and e["result"] == "sent"]
        processed = [e for e in events if e.get("event") == "processed"]
        done = len(processed) == len(CITIZENS) and sent >= 2 * len(CITIZENS) and not unsent
        return events if done and len(deliveries) == sent else None

    events = wait_until(settled, timeout=60, what="three mails processed and their answers delivered")
    accepted = [e for e in events if e.get("event") == "accepted"]
    processed = [e for e in events if e.get("event") == "processed"]
    assert sorted(e["message_id"] for e in accepted) == sorted(message_ids)
    assert sorted(e["message_id"] for e in processed) == sorted(message_ids)
    for line in accepted:
        assert line["transport"] == "smtp" and line["peer"].startswith("127.0.0.1:")
        assert line["size"] > 100 and line["ms"] >= 0 and line["level"] == "info"
        assert line["time"].endswith("Z") and line["logger"] == "gateway.ingest"
        assert f"accepted #{line['inbox_id']} via smtp" in line["message"]
    protocols = {protocol for (protocol,) in query(database, "select protocol from ticket")}
    assert {e["protocol"] for e in processed} == protocols and len(protocols) == len(CITIZENS)
    assert {(e["outcome"], e["mailbox"]) for e in processed} == {("new_ticket", SERVICE)}
    assert {e["inbox_id"] for e in processed} == {e["inbox_id"] for e in accepted}
    assert all(e["protocol"] in e["message"] for e in processed)

    deliveries = [e for e in events if e.get("event") == "delivery"]
    assert {e["to_domain"] for e in deliveries} >= {"example.org", "example.net", "example.com", "example.gov.br"}
    assert all(e["attempt"] == 1 and e["result"] == "sent" for e in deliveries)
    written = process.log.read_text(encoding="utf-8")
    assert not any(citizen in written for citizen in CITIZENS), "a citizen's address in the log"
    assert "apscheduler" not in written and "Running job" not in written


def test_metrics_on_the_admin_port_count_what_was_sent(observed):
    config, process, admin = observed
    _send(config, CITIZENS[:2])
    database = config.parent / "gateway.db"
    wait_until(lambda: query(database, "select count(*) from inbox where status = 'processed'") == [(2,)]
               and query(database, "select count(*) from outbox where status != 'sent'") == [(0,)],
               timeout=60, what="two mails processed and answered")

    def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        response = httpx.get(f"http://127.0.0.1:{admin}/metrics", timeout=30)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        samples = _samples(response.text)
        sent = query(database, "select count(*) from outbox where status = 'sent'")[0][0]
        return samples if samples[("gateway_deliveries_total", (("result", "sent"),))] == sent else None

    samples = wait_until(scraped, timeout=30, what="the deliveries counted")
    assert samples[("gateway_mails_accepted_total", (("transport", "smtp"),))] == 2
    assert samples[("gateway_mails_accepted_total", (("transport", "imap"),))] == 0
    assert samples[("gateway_mails_processed_total", (("outcome", "new_ticket"),))] == 2
    assert samples[("gateway_mails_processed_total", (("outcome", "quarantined"),))] == 0
    assert samples[("gateway_acceptance_seconds_count", ())] == 2
    assert samples[("gateway_processing_seconds_count", ())] == 2
    assert samples[("gateway_inbox_mails", (("status", "processed"),))] == 2
    assert samples[("gateway_inbox_backlog", ())] == 0 and samples[("gateway_database_up", ())] == 1
    assert samples[("gateway_outbox_due", ())] == 0 and samples[("gateway_quarantine_mails", ())] == 0
    assert ("gateway_mails_received", (("status", "processed"),)) not in samples
    assert any(name == "gateway_build_info" and value == 1 for (name, _), value in samples.items())

    with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(CITIZENS[0], ["ninguem@example.gov.br"], make_mail(to="ninguem@example.gov.br"))
    refused = _samples(httpx.get(f"http://127.0.0.1:{admin}/metrics", timeout=30).text)
    assert refused[("gateway_mails_refused_total", (("reason", "no_such_mailbox"),))] == 1

    web = tomllib.loads(config.read_text())["web"]["port"]
    assert httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=30).status_code == 404
    public = httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=30)
    assert public.status_code == 200 and public.json() == {"status": "ok", "database": "ok"}
    health = httpx.get(f"http://127.0.0.1:{admin}/healthz", timeout=30)
    assert health.status_code == 200, health.text
    assert {name: check["ok"] for name, check in health.json()["checks"].items()} == {
        "database": True, "processing_lag": True, "outbox": True, "storage": True}


def test_healthz_fails_while_a_backlog_waits_longer_than_the_lag_limit(tmp_path: Path):
    """Only the listener and the admin run: accepted mail waits unprocessed."""
    admin = free_port()
    config = write_config(tmp_path, admin_port=admin)
    config.write_text(config.read_text().replace("[admin]\n", "[admin]\nmax_processing_lag = 1.0\n", 1))
    process = GatewayProcess(config, tmp_path / "gateway.log", only="smtp,admin").start()
    healthz = f"http://127.0.0.1:{admin}/healthz"
    try:
        assert httpx.get(healthz, timeout=30).status_code == 200, "no backlog yet"
        _send(config, CITIZENS[:1])

        def unhealthy() -> httpx.Response | None:
            response = httpx.get(healthz, timeout=30)
            return response if response.status_code == 503 else None

        body = wait_until(unhealthy, timeout=30, interval=0.2, what="/healthz to see the lag").json()
        assert body["status"] == "unhealthy"
        lag = body["checks"]["processing_lag"]
        assert lag["ok"] is False and lag["backlog"] == 1 and lag["seconds"] >= lag["limit"] == 1.0  # shown to 0.1 s
        assert body["checks"]["database"] == {"ok": True}

        processed = run(config, "process")  # what the stopped processor would have done
        assert processed.returncode == 0 and b"processed 1 mail(s)" in processed.stdout, processed.stderr
        again = httpx.get(healthz, timeout=30)
        assert again.status_code == 200 and again.json()["checks"]["processing_lag"]["backlog"] == 0
    finally:
        process.terminate()


def test_healthz_outbox_fails_for_a_relay_down_not_for_a_citizen_s_full_mailbox(tmp_path: Path):
    """The outbox check looks at mails no attempt reached the relay for:
    a relay that cannot be reached leaves them so (uncharged) and fails it
    within max_outbox_age; an acknowledgement refused for now by the
    citizen's full mailbox is retried for days (RFC 5321 4.5.4.1) and must
    not keep /healthz failing meanwhile."""
    from tests.helpers.servers import CaptureRelay

    relay = CaptureRelay(refuse={CITIZENS[0]: "452 4.2.2 Mailbox full"}).start()
    admin = free_port()
    config = write_config(tmp_path, admin_port=admin)
    text = config.read_text().replace("[admin]\n", "[admin]\nmax_outbox_age = 1.0\n", 1)
    config.write_text(text.replace("[outbound]\n", f'[outbound]\nmode = "smtp"\nhost = "127.0.0.1"\n'
                                                    f"port = {relay.port}\nretry_initial = 3600\n", 1))
    process = GatewayProcess(config, tmp_path / "gateway.log", only="smtp,process,send,admin").start()
    healthz = f"http://127.0.0.1:{admin}/healthz"
    try:
        _send(config, CITIZENS[:1])
        wait_until(lambda: query(tmp_path / "gateway.db", "select status, attempts from outbox where kind = 'ack'")
                   == [("queued", 1)], timeout=30, what="the acknowledgement deferred by the full mailbox")
        wait_until(lambda: query(tmp_path / "gateway.db", "select status from outbox where kind = 'team_new'")
                   == [("sent",)], timeout=30, what="the team's notice delivered and settled")
        import time
        time.sleep(1.5)  # past max_outbox_age
        response = httpx.get(healthz, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["outbox"] == {"ok": True, "seconds": 0.0, "limit": 1.0, "due": 0,
                                                       "retrying": 1}
        relay.stop()  # the relay goes away: the next mail reaches nobody, and is not charged for it

        _send(config, CITIZENS[1:2])

        def unhealthy() -> httpx.Response | None:
            answer = httpx.get(healthz, timeout=30)
            return answer if answer.status_code == 503 else None

        outbox = wait_until(unhealthy, timeout=30, interval=0.2, what="/healthz to see the relay down").json()
        assert outbox["checks"]["outbox"]["ok"] is False and outbox["checks"]["outbox"]["seconds"] >= 1.0
    finally:
        process.terminate()
        relay.stop()
