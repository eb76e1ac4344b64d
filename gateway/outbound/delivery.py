"""The only code that opens an outbound connection.

A ``Deliverer`` hands one rendered mail over and says how it went; it
sorts failures into "try again later" (4xx, refused connection, timeout)
and "give up and record it" (5xx), so the sender never has to know which
library was underneath.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import aiosmtplib

from gateway.config import OutboundConfig
from gateway.errors import PermanentDeliveryError, TransientDeliveryError

_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


class Deliverer(Protocol):
    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        """Hand the mail over or raise a DeliveryError."""
        ...

    def close(self) -> None:
        """Release connections and loops."""
        ...


class MaildirDeliverer:
    """Writes each mail into a local Maildir: nothing leaves the machine.

    The Maildir way: write under ``tmp/``, fsync, then rename into ``new/``,
    with a name no other writer can choose (time, a random token, host).
    ``mailbox.Maildir`` names files by process id and a per-object counter,
    which two senders in one process can repeat.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        name = f"{int(time.time())}.M{uuid.uuid4().hex}.{_HOST}"
        try:
            for folder in ("tmp", "new", "cur"):
                (self.path / folder).mkdir(parents=True, exist_ok=True)
            temporary = self.path / "tmp" / name
            with temporary.open("xb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, self.path / "new" / name)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to the Maildir {self.path}: {exc}") from exc

    def close(self) -> None:
        """Nothing stays open between mails."""


class SmtpDeliverer:
    """Hands mail to a relay with aiosmtplib, in a loop of its own."""

    def __init__(self, config: OutboundConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        config = self.config
        with _smtp_errors(f"{config.host}:{config.port}"):
            errors, _ = self._loop.run_until_complete(aiosmtplib.send(
                raw, sender=mail_from, recipients=list(rcpt_tos), hostname=config.host, port=config.port,
                username=config.username or None, password=config.password or None,
                use_tls=config.security == "tls", start_tls=True if config.security == "starttls" else False,
                timeout=config.timeout, tls_context=ssl.create_default_context() if config.security != "none" else None,
            ))
        refused = {rcpt: reply for rcpt, reply in errors.items()}
        if refused:
            codes = ", ".join(f"{rcpt}: {reply.code} {reply.message}" for rcpt, reply in refused.items())
            raise PermanentDeliveryError(f"relay refused some recipients: {codes}")

    def close(self) -> None:
        self._loop.close()


def build(config: OutboundConfig) -> Deliverer:
    return MaildirDeliverer(config.path) if config.mode == "maildir" else SmtpDeliverer(config)


@contextmanager
def _smtp_errors(where: str) -> Iterator[None]:
    """Turn aiosmtplib's errors into ours: 4xx can be retried, 5xx cannot."""
    try:
        yield
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        kind = TransientDeliveryError if all(400 <= c < 500 for c in codes) else PermanentDeliveryError
        raise kind(f"relay {where} refused every recipient: {exc}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        kind = TransientDeliveryError if 400 <= exc.code < 500 else PermanentDeliveryError
        raise kind(f"relay {where} answered {exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
        raise TransientDeliveryError(f"relay {where} unreachable: {exc}") from exc
