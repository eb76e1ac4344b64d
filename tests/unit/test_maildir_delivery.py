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


def test_the_file_and_then_the_new_folder_are_synced_before_it_counts_as_sent(tmp_path, monkeypatch):
    """The database records "sent" right after: a rename not yet on disk
    (new/ not synced) could be lost to a power cut with the row saying sent."""
    import os
    import stat

    synced: list[str] = []
    real = os.fsync

    def noting(handle: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(handle).st_mode) else "file")
        real(handle)

    monkeypatch.setattr(os, "fsync", noting)
    MaildirDeliverer(tmp_path / "outbox").deliver("a@example.gov.br", ["b@example.org"], b"Subject: x\r\n\r\ny\r\n")
    assert synced == ["file", "folder"]
