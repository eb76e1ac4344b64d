"""The pages' small parts alone: both languages complete, the language
choice, the CSRF token, the look-up limiter, mail text made safe, and the
Prometheus text."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.store.stats import Stats
from gateway.web import admin, csrf, texts
from gateway.web.app import as_text
from gateway.web.ratelimit import SlidingWindow

TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "web"


def test_both_languages_have_every_text_and_every_key_the_templates_use():
    assert set(texts.PT_BR) == set(texts.EN)
    assert all(value.strip() for table in texts.TEXTS.values() for value in table.values())
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_]+)", template.read_text()))
    assert used <= set(texts.PT_BR), f"missing texts: {used - set(texts.PT_BR)}"


def test_language_from_query_then_browser_then_portuguese():
    assert texts.choose("en", "pt-BR") == ("en", True)
    assert texts.choose("xx", "en-US,en;q=0.9") == ("en", False)
    assert texts.choose(None, "fr-FR,en;q=0.8,pt;q=0.9") == ("pt_BR", False)
    assert texts.choose(None, "de-DE") == ("pt_BR", False)
    assert texts.choose(None, None) == ("pt_BR", False)


def test_csrf_token_is_bound_to_the_cookie_and_the_form():
    token = csrf.form_token("s3cret", "cookie-value", "/consulta")
    assert csrf.valid("s3cret", "cookie-value", "/consulta", token)
    assert not csrf.valid("s3cret", "other-cookie", "/consulta", token)
    assert not csrf.valid("s3cret", "cookie-value", "/s/abc", token)
    assert not csrf.valid("other-secret", "cookie-value", "/consulta", token)
    assert not csrf.valid("s3cret", None, "/consulta", token) and not csrf.valid("s3cret", "cookie-value", "/consulta", None)


def test_sliding_window_limits_then_frees_a_key():
    now = [1000.0]
    window = SlidingWindow(2, 60, monotonic=lambda: now[0])
    assert window.hit("a") is None and window.hit("a") is None
    assert window.hit("a") == 60 and window.hit("b") is None
    now[0] += 61
    assert window.hit("a") is None


def test_sliding_window_keeps_a_bounded_number_of_keys():
    window = SlidingWindow(1, 60, max_keys=3)
    for n in range(10):
        window.hit(f"k{n}")
    assert len(window._hits) == 3


def test_mail_text_loses_its_html_and_is_escaped():
    shown = str(as_text('Olá <b>equipe</b> <script>alert("x")</script><img src=x onerror=alert(1)> x < y & "z"'))
    assert "<" not in shown.replace("&lt;", "") and "alert" not in shown
    assert shown.startswith("Olá equipe") and "x &lt; y &amp;" in shown


def test_the_database_gauges_in_prometheus_text_format():
    now = datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc)
    collected = Stats(mails_by_status={"processed": 7, "quarantined": 1, "accepted": 4}, tickets_by_status={"open": 2},
                      outbox_by_status={"queued": 3, "failed": 1, "weird\"status": 1}, outbox_retrying=1,
                      outbox_oldest_queued=now - timedelta(seconds=90), outbox_oldest_untried=now - timedelta(seconds=30),
                      deadlines_due=2,
                      oldest_due=now - timedelta(minutes=5), oldest_pending=now - timedelta(seconds=42), outbox_due=2)

    class Fixed:
        def collect(self):
            return admin.store_gauges(collected, now)

    registry = CollectorRegistry()
    registry.register(Fixed())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("gateway_inbox_mails", (("status", "processed"),))] == 7
    assert samples[("gateway_inbox_backlog", ())] == 4 and samples[("gateway_quarantine_mails", ())] == 1
    assert samples[("gateway_inbox_oldest_pending_seconds", ())] == 42
    assert samples[("gateway_tickets", (("status", "open"),))] == 2
    assert samples[("gateway_tickets", (("status", "closed"),))] == 0
    assert samples[("gateway_outbox_due", ())] == 2 and samples[("gateway_outbox_retrying", ())] == 1
    assert samples[("gateway_outbox_oldest_queued_seconds", ())] == 90
    assert samples[("gateway_outbox_oldest_untried_seconds", ())] == 30
    assert samples[("gateway_sweep_lag_seconds", ())] == 300
    assert samples[("gateway_outbox_mails", (("status", 'weird"status'),))] == 1
    assert "# TYPE gateway_inbox_mails gauge" in text and "gateway_mails_received" not in text
