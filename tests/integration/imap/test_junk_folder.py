"""``junk_folder`` against a real Dovecot: mail the provider files as spam
is counted and named, never taken (PITFALLS E: "nothing in the logs points
out that mails were skipped").  Junk mails are delivered with IMAP APPEND."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, wait_until
from tests.integration.imap.conftest import ADDRESS, CNES, mailbox

pytestmark = pytest.mark.dovecot

USER = "atendimento"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "junk" in r.getMessage()]


def test_junk_growth_is_warned_once_per_growth_and_junk_is_never_taken(
        dovecot: Dovecot, offline: Callable[..., Gateway], caplog: pytest.LogCaptureFixture) -> None:
    dovecot.append(USER, make_mail(subject="Pedido legítimo"))
    [poller] = offline(junk_folder="Junk").imap_pollers()
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        # No such folder yet: said once, and the folder is read as usual.
        assert poller.drain_once().accepted == 1
        assert poller.drain_once().accepted == 0
        [missing] = _warnings(caplog)
        assert f"mailbox {ADDRESS}: cannot look at the junk folder 'Junk'" in missing
        assert "set mailbox[0].imap.junk_folder" in missing and poller.junk_unseen is None
        caplog.clear()

        dovecot.append(USER, make_mail(subject="Parece spam"), make_mail(subject="Também"), folder="Junk")
        poller.drain_once()
        poller.drain_once()  # nothing new in Junk: no second warning
        [grew] = _warnings(caplog)
        assert f"mailbox {ADDRESS}: 2 unseen mail(s) in the junk folder Junk" in grew
        assert "move legitimate requests to INBOX, where the poller takes them" in grew
        assert poller.junk_unseen == 2
        caplog.clear()

        dovecot.append(USER, make_mail(subject="Mais um"), folder="Junk")
        assert poller.drain_once().accepted == 0
        [grew] = _warnings(caplog)
        assert "3 unseen mail(s) in the junk folder Junk on" in grew and "(2 before, 3 in all)" in grew
    assert dovecot.count(USER, "Junk") == 3  # neither fetched nor moved...
    assert all(b"\\Seen" not in flags for flags in dovecot.flags(USER, "Junk"))  # ...nor marked read


def test_a_failed_or_odd_junk_look_neither_stops_the_folder_nor_warns_the_same_junk_again(
        dovecot: Dovecot, offline: Callable[..., Gateway], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A STATUS that fails once, then answers without UNSEEN: the watched
    folder is still read each time, and when the count comes back the
    same, nothing is warned again (a failure had reset it to 0, so all of
    it was "new")."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    dovecot.append(USER, make_mail(subject="Parece spam"), make_mail(subject="Também"), folder="Junk")
    [poller] = offline(junk_folder="Junk").imap_pollers()
    real = IMAPClient.folder_status
    answers = iter([IMAPClientError("STATUS failed: try later"), {b"MESSAGES": 2}])

    def flaky(client: IMAPClient, folder: Any, what: Any = None) -> Any:
        answer = next(answers, None)
        if answer is None:
            return real(client, folder, what)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        assert poller.drain_once().accepted == 0
        assert poller.junk_unseen == 2 and len(_warnings(caplog)) == 1
        caplog.clear()
        monkeypatch.setattr(IMAPClient, "folder_status", flaky)
        for subject in ("Pedido 1", "Pedido 2", "Pedido 3"):
            dovecot.append(USER, make_mail(subject=subject))
            assert poller.drain_once().accepted == 1, "the watched folder is read whatever the junk look did"
        warned = _warnings(caplog)
        assert len(warned) == 1 and "cannot look at the junk folder" in warned[0], warned
        assert poller.junk_unseen == 2, "the count is back, and the same: no new warning"


def test_metrics_show_each_mailboxs_unseen_junk_and_a_missing_folder_is_not_unhealthy(
        dovecot: Dovecot, start_gateway: Callable[..., RunningGateway],
        imap_config: Callable[..., dict[str, Any]]) -> None:
    dovecot.append(USER, make_mail(subject="Spam?"), make_mail(subject="Spam de novo"), folder="Junk")
    running = start_gateway(mailbox=[
        mailbox(ADDRESS, "ATD", **imap_config(USER, junk_folder="Junk")),
        mailbox(CNES, "CNES", **imap_config("cnes", junk_folder="Spam")),  # cnes has no such folder
    ])
    admin = f"http://127.0.0.1:{running.gateway.admin_port}"

    def junk() -> dict[str, float]:
        text = httpx.get(f"{admin}/metrics", timeout=30).text
        return {sample.labels["mailbox"]: sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples if sample.name == "gateway_imap_junk_unseen"}

    wait_until(lambda: all(p.last_success for p in running.gateway.pollers), timeout=20,
               what="both pollers to read their folders")
    assert junk() == {ADDRESS: 2}  # cnes's folder could not be looked at: no figure, not a 0
    health = httpx.get(f"{admin}/healthz", timeout=30)
    assert health.status_code == 200, health.text
    assert dovecot.count(USER, "Junk") == 2 and running.tickets() == []
