"""``gateway ingest``: an MTA pipes one mail to us (Postfix ``pipe``, procmail).

Exit codes follow sysexits, as MTAs expect: 0 when the mail is stored, 75
(EX_TEMPFAIL) when the MTA should keep it and retry, 65 (EX_DATAERR) only
when nothing could ever accept it; even then the raw mail is written to
a file beside the database so nothing is lost.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, Final

from gateway.clock import Clock
from gateway.delivery import Delivery, Ingest

EX_OK: Final = 0
EX_DATAERR: Final = 65
EX_TEMPFAIL: Final = 75


def deliver(ingest: Ingest, clock: Clock, *, stream: BinaryIO, mailbox: str | None, sender: str,
            recipients: tuple[str, ...], max_size: int, rejects: Path) -> tuple[int, str]:
    """Read one mail from ``stream`` and store it; returns (exit code, message)."""
    raw = stream.read(max_size + 1)
    if not raw.strip():
        return EX_DATAERR, "empty input: nothing to store"
    if len(raw) > max_size:
        rest = stream.read()
        path = _keep(rejects, raw + rest, clock)
        return EX_DATAERR, f"mail larger than smtp.max_message_size ({max_size} bytes); kept in {path}"
    delivery = Delivery(raw=raw, mail_from=sender, rcpt_tos=recipients, via="pipe",
                        received_at=clock.now(), mailbox_hint=mailbox)
    receipt = ingest.accept(delivery)
    if receipt.accepted:
        return EX_OK, f"stored as #{receipt.inbox_id}"
    return EX_TEMPFAIL, f"not stored ({receipt.reason}); the MTA should retry"


def _keep(folder: Path, raw: bytes, clock: Clock) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rejected-{clock.now().strftime('%Y%m%dT%H%M%S%f')}.eml"
    path.write_bytes(raw)
    return path


def stdin_bytes() -> BinaryIO:
    return sys.stdin.buffer
