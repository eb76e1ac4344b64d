"""``gateway ingest``: an MTA pipes one mail to us (Postfix ``pipe``, procmail).

Exit codes follow sysexits, as MTAs expect, and each says who must act:

====  ===========  =========================================================
0     EX_OK        stored; the MTA may forget the mail
65    EX_DATAERR   nothing could ever accept it (empty, too big); the MTA
                   bounces it, and the raw bytes are still kept in a file
                   beside the database so nothing is lost (75 instead when
                   that file cannot be written: the MTA keeps the mail)
67    EX_NOUSER    no recipient is one of our mailboxes (the MTA's maps are
                   stale); bounced as "addressee unknown"
75    EX_TEMPFAIL  not stored now: the database is down or full, the config
                   file is broken or unreadable, the pipe's command line has
                   an option it does not know, or an error we did not
                   foresee; the MTA keeps the mail and retries
78    EX_CONFIG    the command line is wrong (no --config/GATEWAY_CONFIG,
                   an unknown --mailbox); fails at once, nothing is stored
====  ===========  =========================================================

Postfix bounces on 78 (it maps it to 5.3.5, "local configuration error")
as on every code but 75 and a few system errors; that is why a broken
config *file*, which a person fixes while mail keeps arriving, answers 75.

Postfix's ``flags=F`` puts an mbox ``From sender date`` line before the
mail; it is no part of the mail, so it is taken off here and its sender
kept for when the command line gives none.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Final

from gateway.clock import Clock
from gateway.delivery import Accepts, Delivery

EX_OK: Final = 0
EX_DATAERR: Final = 65
EX_NOUSER: Final = 67
EX_TEMPFAIL: Final = 75
EX_CONFIG: Final = 78

# An mbox From_ line is "From <sender> <asctime date>"; one longer than this
# is not one (and must not make us read an unbounded line).
_MAX_FROM_LINE: Final = 1024
# What Postfix (and most MDAs) write for the null sender in a From_ line.
_NULL_SENDER_NAMES: Final = frozenset({"mailer-daemon", "<>"})


def deliver(ingest: Accepts, clock: Clock, *, stream: BinaryIO, mailbox: str | None, sender: str | None,
            recipients: Iterable[str], max_size: int, rejects: Path) -> tuple[int, str]:
    """Read one mail from ``stream`` and store it; returns (exit code, message).

    ``sender`` None means the command line did not give one: the From_
    line's sender is used then (an empty ``--sender`` is the null sender).
    """
    envelope_sender, head = read_from_line(stream)
    # 0 is no limit, as on the SMTP and LMTP listeners (it read one byte
    # and refused every mail as "larger than 0 bytes": a bounce each).
    raw = head + (stream.read(max(max_size + 1 - len(head), 0)) if max_size else stream.read())
    if not raw.strip():
        return EX_DATAERR, "empty input: nothing to store"
    if max_size and len(raw) > max_size:
        whole = raw + stream.read()
        try:
            path = _keep(rejects, whole, clock)
        except OSError as error:  # 65 would have the MTA bounce a mail kept nowhere: it keeps it instead
            return EX_TEMPFAIL, (f"mail larger than smtp.max_message_size ({max_size} bytes), and it could not be "
                                 f"kept in {rejects} ({error.strerror}); the MTA keeps it: make that folder "
                                 "writable for the gateway's user, or raise the limit")
        return EX_DATAERR, f"mail larger than smtp.max_message_size ({max_size} bytes); kept in {path}"
    delivery = Delivery(raw=raw, mail_from=sender if sender is not None else (envelope_sender or ""),
                        rcpt_tos=tuple(dict.fromkeys(r.strip() for r in recipients if r.strip())), via="pipe",
                        received_at=clock.now(), mailbox_hint=mailbox)
    receipt = ingest.accept(delivery)
    if receipt.accepted:
        return EX_OK, f"stored as #{receipt.inbox_id}"
    return EX_TEMPFAIL, f"not stored ({receipt.reason}); the MTA should retry"


def read_from_line(stream: BinaryIO) -> tuple[str | None, bytes]:
    """Take an mbox ``From `` line off the start of ``stream``.

    Returns (its sender, b"") when there is one ("" for MAILER-DAEMON, the
    null sender), else (None, the bytes read so far, which belong to the
    mail).  ``From:`` is a header, not this line, and is left alone.
    """
    first = stream.readline(_MAX_FROM_LINE)
    if not first.startswith(b"From ") or not first.endswith(b"\n"):
        return None, first
    words = first[5:].decode("ascii", "replace").split()
    sender = words[0] if words else ""
    return ("" if sender.lower() in _NULL_SENDER_NAMES else sender), b""


def _keep(folder: Path, raw: bytes, clock: Clock) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rejected-{clock.now().strftime('%Y%m%dT%H%M%S%f')}.eml"
    path.write_bytes(raw)
    return path


def stdin_bytes() -> BinaryIO:
    return sys.stdin.buffer
