"""The gateway's exceptions, in one tree.

    GatewayError
    ├── ConfigError            a config, rule or template file is wrong (names file, key, fix)
    ├── DurationError          a duration text (``3bd``) is not one of the accepted forms; also a ValueError
    ├── LinkError              a link token is tampered with, expired, or for another action; also a ValueError
    ├── ParseError             the bytes are not a mail we can read (the mail is quarantined)
    ├── PipelineOrderError     a step read what an earlier step should have set (a bug)
    ├── TransitionError        a move the ticket life does not allow; also a ValueError
    ├── SourceError            a legacy mailbox cannot be opened or read (``gateway migrate``)
    ├── ImapSetupError         something on our side keeps an IMAP poller from logging in
    ├── StorageUnavailable     the inbox could not take a mail; the peer must retry (4xx / 75)
    └── DeliveryError          an outbound mail could not be handed over
        ├── TransientDeliveryError   try again later (4xx, connection refused, timeout)
        └── PermanentDeliveryError   give up and record it on the ticket (5xx)

Library errors are translated where they enter (``raise ... from exc``) so
callers never need to know which library was underneath.  The modules that
raise an error import it from here, so ``gateway.links.LinkError`` or
``gateway.mail.parsed.ParseError`` name the same class.  This module
imports nothing from the gateway: every floor may use it.
"""

from __future__ import annotations

from pathlib import Path


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A config or rule file is wrong.

    The message names the file, the key and what would be accepted, so
    ``gateway check-config`` can print it as it is.
    """

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}")
        self.path, self.key, self.problem = str(path), key, problem


class DurationError(GatewayError, ValueError):
    """A duration text is not one of the accepted forms.

    The message quotes the text and says what is wrong (``gateway.durations``
    lists the valid forms), so a config loader can prefix the file and key
    and show it to the person as is.
    """

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"{text!r} is not a duration; {problem}")
        self.text = text


class LinkError(GatewayError, ValueError):
    """A token that is tampered with, expired, or for another action."""


class ParseError(GatewayError):
    """The bytes are not a mail we can read; the message says why."""


class PipelineOrderError(GatewayError):
    """A pipeline step needs a value that an earlier step did not set."""


class TransitionError(GatewayError, ValueError):
    """A move the ticket life does not allow, e.g. solving a rejected ticket."""


class SourceError(GatewayError):
    """A legacy source cannot be opened or read; the message names it and the fix."""


class ImapSetupError(GatewayError):
    """Something on our side, or the server's answer to it, keeps an IMAP
    poller from working its session: a missing secret, a lost hold on the
    folder, IDLE refused (the mailbox is polled from then on)."""


class StorageUnavailable(GatewayError):
    """The inbox could not take a mail (Ingest answered TEMPFAIL): the peer
    must retry, and an IMAP poller leaves the mail on the server."""


class DeliveryError(GatewayError):
    """An outbound mail could not be handed to the relay or the Maildir."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: a 4xx answer, a refused connection, a timeout."""


class PermanentDeliveryError(DeliveryError):
    """Not worth retrying: the relay answered 5xx for this mail."""


class RelayUnavailable(TransientDeliveryError):
    """The relay, not the mail: no session could be opened (refused
    connection, a 421/554 greeting, EHLO and HELO, STARTTLS or AUTH refused), or the relay
    wants one we did not open (530 at MAIL FROM).  No mail is
    charged an attempt for it, or failed for good: the pass stops and the
    sender tries again later."""
