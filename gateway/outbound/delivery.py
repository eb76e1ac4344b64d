"""The only code that opens an outbound connection.

A ``Deliverer`` hands one rendered mail over and says how it went; it
sorts failures into "try again later" (4xx, a timeout), "give up and
record it" (5xx), and "the relay is unavailable" (no session: a refused
connection, a 421/554 greeting, EHLO and HELO, STARTTLS or AUTH refused, 530 at MAIL FROM,
a Maildir that cannot be written; no mail is charged), so the sender never has to know which library was
underneath.  A mail whose envelope no relay could take (an
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
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Protocol

import aiosmtplib

from gateway.config import OutboundConfig
from gateway.errors import DeliveryError, PermanentDeliveryError, RelayUnavailable, TransientDeliveryError
from gateway.mail.addresses import addr_spec_problem, ascii_domain
from gateway.mail.seven_bit import to_seven_bit

log = logging.getLogger("gateway.sender")

_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
#: Seconds a session may sit unused before it is checked (NOOP) rather than trusted.
_IDLE_CHECK: Final = 5.0


#: Recipients the relay refused while it took the mail for the others, each with its error.
Refused = dict[str, DeliveryError]


class Deliverer(Protocol):
    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> Refused | None:
        """Hand the mail over; return the recipients refused while others
        took it (empty or None: every one took it), or raise a DeliveryError
        when none did."""
        ...

    def hang_up(self) -> None:
        """End any session kept open between mails (the batch is over)."""
        ...

    def close(self) -> None:
        """Release connections and loops."""
        ...


def _sync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class MaildirDeliverer:
    """Writes each mail into a local Maildir: nothing leaves the machine.

    The Maildir way: write under ``tmp/``, fsync, then rename into ``new/``
    and fsync ``new/`` (the database says "sent" next, durably), with a name
    no other writer can choose (time, a random token, host).
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
        except OSError as exc:  # the folder's failure (disk full, permissions), not the mail's: no attempt charged
            raise RelayUnavailable(f"cannot write to the Maildir {self.path}: {exc}") from exc
        try:
            _sync_folder(self.path / "new")  # the rename itself survives a power cut only once new/ is synced
        except OSError as exc:  # delivered: a retry would add a second copy (some network mounts refuse it)
            log.warning("Maildir %s: the folder new/ could not be synced (%s); the mail is there", self.path, exc)
        return {}

    def hang_up(self) -> None:
        """Nothing stays open between mails."""

    def close(self) -> None:
        """Nothing stays open between mails."""


class SmtpDeliverer:
    """Hands mail to a relay with aiosmtplib, in a loop of its own, over one session.

    The session is opened for the first mail and kept for the next ones
    (a batch of acknowledgements to one relay is one connection, not one
    connect, EHLO, STARTTLS, AUTH and QUIT per mail) until ``hang_up``.
    Any error that may have left it in doubt closes it, and the next mail
    opens a new one: a relay that drops the connection mid-batch costs the
    mail in flight an attempt (it may have been taken: retried later, as
    any transient failure), never the rest.  A session idle for more than
    ``_IDLE_CHECK`` seconds is checked with NOOP before use and replaced if
    the relay hung up meanwhile, so that nothing is lost to a relay's idle
    timeout.  A transaction that failed in SMTP terms is followed by RSET
    (aiosmtplib's ``sendmail``); one that ended in ``250`` leaves the
    session clean (RFC 5321 4.1.1.4), so RSET is not sent between mails.
    """

    def __init__(self, config: OutboundConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        #: Sessions opened so far (the benchmark and the log read it).
        self.connections = 0

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> Refused:
        config = self.config
        sender, recipients = _envelope(mail_from, rcpt_tos)
        # Domains went to IDNA above; a local part still not ASCII needs the
        # relay's SMTPUTF8 (RFC 6531), and aiosmtplib refuses without it.
        needs_utf8 = [written for written, sent in zip((mail_from, *rcpt_tos), (sender, *recipients))
                      if not sent.isascii()]
        where = f"{config.host}:{config.port}"
        try:
            with _smtp_errors(where, needs_utf8):
                errors, _ = self._loop.run_until_complete(
                    self._send(sender, recipients, raw, ["SMTPUTF8"] if needs_utf8 else None))
        except BaseException as error:
            if not _session_clean(error):
                self.hang_up()  # the session is in doubt: the next mail opens a new one
            raise
        finally:
            self._last_used = time.monotonic()
        # aiosmtplib names each refused recipient as it was sent (IDNA): map back to ours.
        ours = dict(zip(recipients, rcpt_tos))
        return {ours.get(sent, sent): _refusal(where, ours.get(sent, sent), reply.code, reply.message)
                for sent, reply in errors.items()}

    async def _send(self, sender: str, recipients: list[str], raw: bytes,
                    mail_options: list[str] | None) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        client = await self._session()
        if not raw.isascii():
            # RFC 6152: 8-bit content (our text parts, a forwarded original
            # kept as it came) is declared, which aiosmtplib's sendmail leaves
            # to its caller; a relay that did not offer 8BITMIME gets the mail
            # converted to 7 bits (or, should that fail, undeclared, as
            # every mail went before: most relays take it).
            if client.supports_extension("8bitmime"):
                mail_options = [*(mail_options or ()), "BODY=8BITMIME"]
            else:
                raw = _seven_bit(raw, f"{self.config.host}:{self.config.port}")
        return await client.sendmail(sender, recipients, raw, mail_options=mail_options)

    async def _session(self) -> aiosmtplib.SMTP:
        """The open session, checked if it sat idle; a new one if there is none or it is gone."""
        client = self._client
        if client is not None and client.is_connected and time.monotonic() - self._last_used > _IDLE_CHECK:
            try:
                await client.noop()
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                client.close()
        if client is None or not client.is_connected:
            config = self.config
            client = _Client(
                hostname=config.host, port=config.port,
                username=config.username or None, password=config.password or None,
                use_tls=config.security == "tls", start_tls=True if config.security == "starttls" else False,
                timeout=config.timeout,
                tls_context=ssl.create_default_context() if config.security != "none" else None)
            self._client = None
            try:
                await client.connect()  # the greeting (and EHLO, STARTTLS and AUTH when configured)
                await client.hello()
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError, ValueError) as error:
                # ValueError: a local host name EHLO cannot carry (not ASCII), every mail's alike
                client.close()
                raise _NoSession(error) from error
            except BaseException:
                client.close()  # never a half-open session left behind
                raise
            self._client = client
            self.connections += 1
        return client

    def hang_up(self) -> None:
        """End the session (QUIT when the relay still listens); the next mail opens a new one."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                self._loop.run_until_complete(client.quit())
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            pass  # the relay went first: nothing more to say to it
        finally:
            client.close()

    def close(self) -> None:
        self.hang_up()
        self._loop.close()


def _seven_bit(raw: bytes, where: str) -> bytes:
    """``raw`` converted for a relay without 8BITMIME (``mail.seven_bit``)."""
    try:
        converted = to_seven_bit(raw)
    except Exception as error:  # noqa: BLE001 - Unconvertible, or a mail the email package cannot rewrite: as it came
        converted = raw
        log.warning("relay %s does not offer 8BITMIME and this mail could not be converted to 7 bits (%s: %s): "
                    "sent with its 8-bit bytes", where, type(error).__name__, error)
    return converted


def _session_clean(error: BaseException) -> bool:
    """Whether the session can carry the next mail after ``error``: the relay
    answered (and aiosmtplib sent RSET), or the mail was refused before
    anything was sent.  A timeout, a lost connection, a 421 (the relay is
    closing) or anything unforeseen leave it in doubt."""
    cause = error.__cause__ if isinstance(error, DeliveryError) else error
    if isinstance(cause, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError)):
        return False
    if isinstance(cause, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code != 421 for r in cause.recipients)
    if isinstance(cause, aiosmtplib.SMTPResponseException):
        return cause.code != 421
    return isinstance(cause, (aiosmtplib.SMTPNotSupported, ValueError)) or \
        (isinstance(error, DeliveryError) and cause is None)


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


#: Seconds DATA may take, its final reply above all (RFC 5321 4.5.3.2.6:
#: 10 minutes; Postfix's smtp_data_done_timeout is 600 s too).
_DATA_TIMEOUT: Final = 600.0


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, with DATA given its own time.  A relay that
    scans content (amavis, a milter) may answer the final dot after our
    ``timeout`` (30 s): given up on, the mail was sent again at each retry,
    and the relay delivered each copy."""

    async def data(self, message: str | bytes, /, *, timeout: Any = aiosmtplib.smtp.Default.token) -> Any:
        if timeout is aiosmtplib.smtp.Default.token:
            timeout = max(self.timeout or 0.0, _DATA_TIMEOUT)
        return await super().data(message, timeout=timeout)

    async def hello(self) -> None:
        """EHLO (HELO if refused) once the session is open, as ``sendmail``
        would before its first mail: what the relay offers (8BITMIME) is
        then known before the first mail is sent.  ``connect`` says EHLO
        only for STARTTLS or AUTH."""
        if not self.is_ehlo_or_helo_needed:
            return
        try:
            await self.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not self.is_connected:
                raise
            await self.helo()


class _NoSession(Exception):
    """Opening the session failed: the relay's fault, whatever its code."""


@contextmanager
def _smtp_errors(where: str, needs_utf8: Sequence[str] = ()) -> Iterator[None]:
    """Turn aiosmtplib's errors into ours: 4xx can be retried, 5xx cannot,
    and an envelope this relay cannot carry is permanent.  A session that
    could not be opened is the relay's: a 535 after a password change, or a
    554 greeting, had failed every queued mail for good, one by one."""
    try:
        yield
    except _NoSession as exc:
        cause = exc.__cause__
        said = f"{cause.code} {cause.message}" if isinstance(cause, aiosmtplib.SMTPResponseException) else \
            f"{type(cause).__name__}: {cause}"
        raise RelayUnavailable(f"relay {where} unavailable: {said}") from cause
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
        if exc.code == 530:  # "authentication required", "STARTTLS first": said to us, not to this mail
            raise RelayUnavailable(f"relay {where} unavailable: {exc.code} {exc.message}; check [outbound] "
                                   "security, username and password") from exc
        kind = TransientDeliveryError if 400 <= exc.code < 500 else PermanentDeliveryError
        raise kind(f"relay {where} answered {exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
        raise TransientDeliveryError(f"relay {where} unreachable: {exc}") from exc
