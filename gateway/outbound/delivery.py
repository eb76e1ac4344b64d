"""The only code that opens an outbound connection.

A ``Deliverer`` hands one rendered mail over and says how it went; it
sorts failures into "try again later" (4xx, refused connection, timeout)
and "give up and record it" (5xx), so the sender never has to know which
library was underneath.  A mail whose envelope no relay could take (an
address with a NUL or a space, a non-ASCII local part for a relay without
SMTPUTF8) is a permanent failure of that mail, found before or while
talking to the relay, and never an error of another kind.

A relay may take a mail for some recipients and refuse others at ``RCPT``
(a team notice to two addresses, one of them gone): ``deliver`` then
returns the refused ones, each with its own error (4xx temporary, 5xx
permanent), so the sender records the result per recipient and tries
again only the temporary refusals.  It raises only when nobody got the mail.
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
from gateway.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from gateway.mail.addresses import addr_spec_problem, ascii_domain

_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


#: Recipients the relay refused while it took the mail for the others, each with its error.
Refused = dict[str, DeliveryError]


class Deliverer(Protocol):
    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> Refused | None:
        """Hand the mail over; return the recipients refused while others
        took it (empty or None: every one took it), or raise a DeliveryError
        when none did."""
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

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> Refused:
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
        return {}

    def close(self) -> None:
        """Nothing stays open between mails."""


class SmtpDeliverer:
    """Hands mail to a relay with aiosmtplib, in a loop of its own."""

    def __init__(self, config: OutboundConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> Refused:
        config = self.config
        sender, recipients = _envelope(mail_from, rcpt_tos)
        # Domains went to IDNA above; a local part still not ASCII needs the
        # relay's SMTPUTF8 (RFC 6531), and aiosmtplib refuses without it.
        needs_utf8 = [written for written, sent in zip((mail_from, *rcpt_tos), (sender, *recipients))
                      if not sent.isascii()]
        with _smtp_errors(f"{config.host}:{config.port}", needs_utf8):
            errors, _ = self._loop.run_until_complete(aiosmtplib.send(
                raw, sender=sender, recipients=recipients, mail_options=["SMTPUTF8"] if needs_utf8 else None,
                hostname=config.host, port=config.port,
                username=config.username or None, password=config.password or None,
                use_tls=config.security == "tls", start_tls=True if config.security == "starttls" else False,
                timeout=config.timeout, tls_context=ssl.create_default_context() if config.security != "none" else None,
            ))
        # aiosmtplib names each refused recipient as it was sent (IDNA): map back to ours.
        ours = dict(zip(recipients, rcpt_tos))
        return {ours.get(sent, sent): _refusal(f"{config.host}:{config.port}", ours.get(sent, sent), reply.code,
                                               reply.message)
                for sent, reply in errors.items()}

    def close(self) -> None:
        self._loop.close()


def _refusal(where: str, rcpt: str, code: int, message: str) -> DeliveryError:
    """One recipient's refusal as our error, with the relay's reply as its cause (the code for the log)."""
    kind = TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError
    error = kind(f"relay {where} refused {rcpt}: {code} {message}")
    error.__cause__ = aiosmtplib.SMTPRecipientRefused(code, message, rcpt)
    return error


def build(config: OutboundConfig) -> Deliverer:
    return MaildirDeliverer(config.path) if config.mode == "maildir" else SmtpDeliverer(config)


def _envelope(mail_from: str, rcpt_tos: Sequence[str]) -> tuple[str, list[str]]:
    """Sender and recipients as the relay should see them: checked (no
    connection is opened for an address no relay could take) and with
    non-ASCII domains in IDNA, so they need no SMTPUTF8."""
    for address in (mail_from, *rcpt_tos) if mail_from else rcpt_tos:
        problem = addr_spec_problem(address)
        if problem:
            raise PermanentDeliveryError(f"the address {address!r} cannot be sent to: {problem}")
    return (ascii_domain(mail_from) if mail_from else ""), [ascii_domain(rcpt) for rcpt in rcpt_tos]


@contextmanager
def _smtp_errors(where: str, needs_utf8: Sequence[str] = ()) -> Iterator[None]:
    """Turn aiosmtplib's errors into ours: 4xx can be retried, 5xx cannot,
    and an envelope this relay cannot carry is permanent."""
    try:
        yield
    except aiosmtplib.SMTPNotSupported as exc:
        if not needs_utf8:  # some other extension: as any other client-side SMTP error
            raise TransientDeliveryError(f"relay {where} unreachable: {exc}") from exc
        raise PermanentDeliveryError(f"relay {where} does not offer SMTPUTF8, which the non-ASCII address "
                                     f"{', '.join(map(repr, needs_utf8))} needs: {exc}") from exc
    except ValueError as exc:  # aiosmtplib's address check, UnicodeEncodeError: the same next time
        raise PermanentDeliveryError(f"relay {where}: the envelope cannot be written: {exc}") from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        kind = TransientDeliveryError if all(400 <= c < 500 for c in codes) else PermanentDeliveryError
        raise kind(f"relay {where} refused every recipient: {exc}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        kind = TransientDeliveryError if 400 <= exc.code < 500 else PermanentDeliveryError
        raise kind(f"relay {where} answered {exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
        raise TransientDeliveryError(f"relay {where} unreachable: {exc}") from exc
