"""The gateway's exceptions, in one tree.

    GatewayError
    ├── ConfigError            a config, rule or template file is wrong (names file, key, fix)
    ├── PipelineOrderError     a step read what an earlier step should have set (a bug)
    ├── StoreUnavailable       the database cannot take the write; the peer must retry (4xx / 75)
    └── DeliveryError          an outbound mail could not be handed over
        ├── TransientDeliveryError   try again later (4xx, connection refused, timeout)
        └── PermanentDeliveryError   give up and record it on the ticket (5xx)

Library errors are translated where they enter (``raise ... from exc``) so
callers never need to know which library was underneath.
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


class PipelineOrderError(GatewayError):
    """A pipeline step needs a value that an earlier step did not set."""


class StoreUnavailable(GatewayError):
    """The database could not durably take a mail; the sender must retry."""


class DeliveryError(GatewayError):
    """An outbound mail could not be handed to the relay or the Maildir."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: a 4xx answer, a refused connection, a timeout."""


class PermanentDeliveryError(DeliveryError):
    """Not worth retrying: the relay answered 5xx for this mail."""
