"""Bodies are fetched in groups whose sizes add up to at most
``max_message_size`` (``_groups``), so a folder of large mails never has
more than that in memory at once; against a real Dovecot, mails delivered
with IMAP APPEND."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from imapclient import IMAPClient

from gateway.app import Gateway
from gateway.config import Settings
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_mail
from tests.integration.imap.conftest import mailbox

pytestmark = pytest.mark.dovecot

USER = "atendimento"
BUDGET = 40_000  # max_message_size, bytes


def test_large_mails_are_fetched_in_groups_within_max_message_size(
        dovecot: Dovecot, make_settings: Callable[..., Settings], imap_config: Callable[..., dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # About 14 kB each on the server (base64): two fit in the budget, three do not.
    dovecot.append(USER, *[make_mail(subject=f"Laudo {n}", attachments=[("laudo.pdf", "application/pdf",
                                                                          bytes([n]) * 10_000)])
                           for n in range(7)])
    sizes: dict[int, int] = {}
    groups: list[tuple[list[int], int]] = []  # each body FETCH: its UIDs, the bytes it brought
    real_fetch = IMAPClient.fetch

    def recording_fetch(client: IMAPClient, messages: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        answer = real_fetch(client, messages, data, *args, **kwargs)
        if "RFC822.SIZE" in data:
            sizes.update((uid, int(item[b"RFC822.SIZE"])) for uid, item in answer.items())
        elif "BODY.PEEK[]" in data:
            groups.append((list(messages), sum(len(item[b"BODY[]"]) for item in answer.values())))
        return answer

    monkeypatch.setattr(IMAPClient, "fetch", recording_fetch)
    gateway = Gateway(make_settings(mailbox=[mailbox(**imap_config(max_message_size=BUDGET, batch_size=50))]))
    try:
        [poller] = gateway.imap_pollers()
        assert poller.drain_once().accepted == 7
    finally:
        gateway.close()

    assert len(sizes) == 7 and all(BUDGET / 3 < size <= BUDGET / 2 for size in sizes.values()), sizes
    assert [uid for uids, _ in groups for uid in uids] == sorted(sizes)  # each mail once, in UID order
    for uids, fetched in groups:
        assert sum(sizes[uid] for uid in uids) <= BUDGET and fetched <= BUDGET, groups
    assert [len(uids) for uids, _ in groups] == [2, 2, 2, 1]  # grouped, not one FETCH per mail
    assert dovecot.count(USER, "Processed") == 7
