"""The Maildir deliverer: every mail a file of its own, readable by any Maildir reader."""

from __future__ import annotations

import mailbox
from concurrent.futures import ThreadPoolExecutor

from gateway.outbound.delivery import MaildirDeliverer


def test_two_deliverers_in_one_process_never_overwrite_each_other(tmp_path):
    first, second = MaildirDeliverer(tmp_path / "outbox"), MaildirDeliverer(tmp_path / "outbox")

    def deliver(i: int) -> None:
        (first if i % 2 else second).deliver("a@example.gov.br", ["b@example.org"],
                                             f"Subject: {i}\r\n\r\nbody {i}\r\n".encode())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(deliver, range(200)))
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    assert sorted(int(m["Subject"]) for m in box) == list(range(200))
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == [], "nothing left half-written"
