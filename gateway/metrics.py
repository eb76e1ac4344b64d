"""What this process has done, as Prometheus counters and histograms.

Counters count since the process started, in this process only: that is
Prometheus's model (``rate()`` and ``increase()`` survive restarts, and
``sum by (...)`` adds the nodes of a cluster up).  What the database holds
(the backlog, the outbox, the quarantine) is the same seen from any node and
is read when ``/metrics`` is scraped (:mod:`gateway.web.admin`).

Each gateway has a registry of its own, not the library's global one: tests
run several gateways in one process, and the global registry refuses a
metric name twice.  Label values known in advance are created at start, so
a counter reads 0 before its first event instead of being absent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

import gateway

TRANSPORTS: Final = ("smtp", "lmtp", "submission", "imap")
#: Why a mail (or a recipient of it) was not taken; one label value each.
REFUSED_REASONS: Final = ("no_such_mailbox", "internal_only", "too_many_recipients", "too_many_connections",
                          "too_big", "storage_unavailable")
DELIVERY_RESULTS: Final = ("sent", "deferred", "failed")
#: What kind of storage trouble (gateway.store.faults.KINDS): the work waits and is tried again.
STORAGE_FAULTS: Final = ("disk_full", "unavailable", "lock_timeout", "conflict", "io")

# Commit of an accepted mail: milliseconds normally, seconds when the disk stalls.
_ACCEPTANCE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The pipeline for one mail: a few ms for a follow-up, more for big attachments.
_PROCESSING_BUCKETS: Final = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The counters and histograms of one gateway, in ``registry``."""

    def __init__(self) -> None:
        # The `_created` series double every counter and tell an operator
        # nothing the process start time does not.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        registry = self.registry
        self.mails_accepted = Counter(
            "gateway_mails_accepted", "Mails durably stored by this process, by transport.",
            ["transport"], registry=registry)
        self.mails_refused = Counter(
            "gateway_mails_refused", "Mails, recipients (at RCPT) or connections refused, by reason.",
            ["reason"], registry=registry)
        self.mails_processed = Counter(
            "gateway_mails_processed", "Accepted mails the pipeline finished in this process, by outcome.",
            ["outcome"], registry=registry)
        self.deliveries = Counter(
            "gateway_deliveries", "Outgoing delivery attempts, by result (sent, deferred: retried later, failed).",
            ["result"], registry=registry)
        self.sweep_actions = Counter(
            "gateway_sweep_actions", "Deadline actions the sweeps took, by kind (reminder, closure, ...).",
            ["kind"], registry=registry)
        self.storage_errors = Counter(
            "gateway_storage_errors", "Storage errors met by this process, by kind (disk_full, unavailable, "
            "lock_timeout, conflict, io); the mail or the delivery result waits and is tried again.",
            ["kind"], registry=registry)
        #: The last storage error: (time.monotonic(), kind, where, text), for /healthz.
        self.last_storage_error: tuple[float, str, str, str] | None = None
        self.acceptance_seconds = Histogram(
            "gateway_acceptance_seconds", "From the end of a mail's DATA (or fetch) to its commit: the wait "
            "before the peer hears 250.", buckets=_ACCEPTANCE_BUCKETS, registry=registry)
        self.processing_seconds = Histogram(
            "gateway_processing_seconds", "The pipeline's time for one mail (the commit it shares with its "
            "group not included).", buckets=_PROCESSING_BUCKETS, registry=registry)
        build = Gauge("gateway_build_info", "Always 1; the version of the gateway running.", ["version"],
                      registry=registry)
        build.labels(gateway.__version__).set(1)
        _start_at_zero(self.mails_accepted, TRANSPORTS)
        _start_at_zero(self.mails_refused, REFUSED_REASONS)
        _start_at_zero(self.deliveries, DELIVERY_RESULTS)
        _start_at_zero(self.storage_errors, STORAGE_FAULTS)

    def refused(self, reason: str) -> None:
        self.mails_refused.labels(reason).inc()

    def storage_error(self, kind: str, where: str, error: BaseException) -> None:
        """Count a storage error and keep it as the last one (``/healthz`` shows it)."""
        self.storage_errors.labels(kind).inc()
        self.last_storage_error = (time.monotonic(), kind, where, f"{type(error).__name__}: {error}"[:300])

    def outcomes(self, values: Iterable[str]) -> None:
        """Create the processed counter for each outcome the pipeline knows (at 0)."""
        _start_at_zero(self.mails_processed, values)


def _start_at_zero(counter: Counter, values: Iterable[str]) -> None:
    for value in values:
        counter.labels(value)
