"""IDLE plus a periodic full look (PITFALLS item 2), against a real Dovecot.

IDLE only says "* N EXISTS" when a mail is added.  A mail can become
waiting in the folder without that: here a person's client had marked it
``\\Deleted`` (the poller skips those) and then restored it, below the
poller's UID high-water mark.  Dovecot tells the idling session only of a
flag change, which is no news of mail; a look above the last UID does not
see it either.  The full look at each re-IDLE must take it, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.transports import imap as imap_transport
from tests.helpers.dovecot import Dovecot, wait_for_count
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, wait_until

pytestmark = pytest.mark.dovecot

USER = "atendimento"
IDLE_TIMEOUT = 2.0  # seconds between full looks


def test_a_mail_idle_never_announced_is_taken_by_the_full_look_at_re_idle(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway], monkeypatch: pytest.MonkeyPatch) -> None:
    """PITFALLS item 2 (none of the seven pairs IDLE with a reconcile): a
    mail restored from ``\\Deleted`` below the high-water mark, announced by
    no EXISTS, is taken within two IDLE rounds (an early wake-up by the flag
    change resets nothing), by a full look, and only once: the later full
    looks take nothing more."""
    looks: list[tuple[bool, int]] = []  # (full, accepted) of every drain, in order
    real_drain = imap_transport.ImapPoller._drain

    def noted(self: imap_transport.ImapPoller, client: Any, *, full: bool, hold: Any) -> Any:
        result = real_drain(self, client, full=full, hold=hold)
        looks.append((full, result.accepted))
        return result

    monkeypatch.setattr(imap_transport.ImapPoller, "_drain", noted)
    with dovecot.client(USER) as client:
        client.append("INBOX", make_mail(subject="Apagada por engano"), flags=[b"\\Deleted"])  # UID 1
    dovecot.append(USER, make_mail(subject="Primeira"))  # UID 2: the high-water mark once taken
    running = imap_gateway(idle=True, idle_timeout=IDLE_TIMEOUT, poll_interval=300)
    [poller] = running.gateway.pollers
    running.wait_processed(1, timeout=20)
    wait_until(poller.idling.is_set, timeout=15, what="the poller to enter IDLE")
    assert [t["subject"] for t in running.tickets()] == ["Primeira"], "a \\Deleted mail is not taken"

    before = len(looks)
    with dovecot.client(USER, "INBOX") as client:  # the person restores it: a FETCH FLAGS, no EXISTS
        client.remove_flags([1], [b"\\Deleted"])
    running.wait_processed(2, timeout=2 * IDLE_TIMEOUT + 3)
    assert sorted(t["subject"] for t in running.tickets()) == ["Apagada por engano", "Primeira"]
    taking = [full for full, accepted in looks[before:] if accepted]
    assert taking == [True], f"taken by a full look, once: {looks[before:]}"

    taken = len(looks)
    wait_until(lambda: sum(full for full, _ in looks[taken:]) >= 2, timeout=3 * IDLE_TIMEOUT + 3,
               what="two more full looks")
    assert [accepted for _, accepted in looks[taken:]] == [0] * len(looks[taken:]), looks
    assert running.inbox_counts() == {"processed": 2}, "stored once: no look took it again"
    assert len(running.outbox(kind="ack")) == 2
    wait_for_count(dovecot, USER, "Processed", 2)
    assert dovecot.count(USER, "INBOX") == 0
