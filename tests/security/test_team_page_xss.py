"""Stored XSS on the team page (django-helpdesk#980, osTicket#1108,
django-mailbox#42): a citizen's mail carries script in its subject, its
sender's display name, its text and an attachment's file name, through
the real listener; Maria then reads the queue and the ticket in a real
Chromium.  Nothing the mail carried may run: each hostile string shows as
text, and the page's window never gets the flag the scripts would set."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formataddr
from pathlib import Path
from typing import Any

import pytest

from gateway.credentials import hash_password
from tests.browser.conftest import browser, opened_page  # noqa: F401 - the module's Chromium
from tests.helpers.mailfactory import make_mail
from tests.security.conftest import CNES, MARIA, MTA_PEER, passes

pytestmark = pytest.mark.browser

PASSWORD = "correta-cavalo-bateria-grampo"
EVIL = "evil@cidada.example"
SUBJECT = "<script>window.__pwned = 'subject'</script>Certidão"
NAME = "<img src=x onerror=\"window.__pwned='name'\">Ana"
BODY = "Olá <svg onload=\"window.__pwned='text'\"></svg> preciso de ajuda </textarea><script>window.__pwned=1</script>"
FILENAME = "<img src=x onerror=window.__pwned='file'>.pdf"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:  # noqa: F811 - the imported fixture
    yield from opened_page(browser, 1280)


def test_nothing_a_mail_carries_runs_on_the_team_page(attack_desk: Any, tmp_path: Path, page: Any) -> None:
    credentials = tmp_path / "analysts.passwd"
    credentials.write_text(f"{MARIA}:{hash_password(PASSWORD, iterations=1000)}\n")
    target = attack_desk(submission={"credentials_file": str(credentials)})
    target.send(make_mail(subject=SUBJECT, sender=formataddr((NAME, EVIL)), to=CNES, body=BODY, trace=passes(EVIL),
                          attachments=[(FILENAME, "application/pdf", b"%PDF-1.4\n" + b"0" * 64)]),
                mail_from=EVIL, to=CNES, source=MTA_PEER)
    [protocol] = [t["protocol"] for t in target.running.tickets() if t["requester"] == EVIL]
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    base = f"http://127.0.0.1:{target.settings.web.port}"
    page.goto(base + "/equipe")
    page.get_by_label("E-mail").fill(MARIA)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("heading", name="Fila de chamados").wait_for()
    assert page.locator(f"#queue tbody tr[data-protocol='{protocol}']").count() == 1
    queue = page.inner_text("body")
    assert "<script>window.__pwned = 'subject'</script>Certidão" in queue, "the subject shows as written, as text"
    assert page.evaluate("window.__pwned") is None
    page.goto(f"{base}/equipe/chamado/{protocol}")
    page.wait_for_load_state("load")
    shown = page.inner_text("body")
    assert "window.__pwned = 'subject'" in shown and "onerror=window.__pwned='file'" in shown
    assert "<img src=x onerror=\"window.__pwned='name'\">Ana" in shown  # the sender's name, as text
    assert "preciso de ajuda" in shown  # the text (its markup is not kept from a plain-text part)
    assert page.evaluate("window.__pwned") is None and alerts == []
    scripts = page.locator("script").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert all("__pwned" not in text for text in scripts), "no script element carries the mail's words"
    handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(
        n => [...n.attributes].filter(a => a.name.startsWith('on')).map(a => a.value))""")
    assert handlers == [], f"event handler attributes on the page: {handlers}"
