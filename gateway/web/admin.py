"""The operator's listener: ``/metrics`` (Prometheus) and a deep ``/healthz``.

It runs apart from the citizens' pages, on ``[admin] host:port`` (loopback
by default): what it shows (backlogs, mailboxes, error texts) is for the
operator, and its checks cost queries a public URL must not offer to anyone.

``/metrics`` is the gateway's own registry: the process's counters and
histograms (:mod:`gateway.metrics`) and, read from the database at each
scrape by :class:`StoreCollector`, gauges that are the same on every node.
``/healthz`` answers 200 when every check passes and 503 otherwise, with a
JSON body naming each check, its figure and its limit:

- ``database``: it answers a query;
- ``processing_lag``: the oldest accepted mail not yet processed has waited
  less than ``max_processing_lag`` (a stopped or stuck processor);
- ``outbox``: the oldest mail not yet tried (no attempt reached the
  relay: it is down, refuses the session, or no sender runs) was queued
  less than ``max_outbox_age`` ago.  A mail refused for now by its
  recipient's server (a full mailbox) is retried for days and does not
  fail it; ``retrying`` says how many are;
- ``storage``: this process met no storage error (disk full, database
  unavailable, lock timeout, conflict) in the last minute; the last one's
  kind, where and text are shown while it fails.  A full disk does not fail
  ``database`` (reads still work): this check is where it shows;
- ``imap <mailbox>``: each IMAP poller of this process is waiting in IDLE
  or finished reading its folder less than ``max_imap_silence`` ago;
- ``silence <mailbox>``: each mailbox with ``max_silence`` set had mail
  within that much business time (:mod:`gateway.web.silence`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.clock import Clock
from gateway.config import MailboxConfig
from gateway.config.settings import AdminConfig
from gateway.metrics import Metrics
from gateway.store import stats
from gateway.store.db import Database
from gateway.tickets.states import Status
from gateway.web import silence

log = logging.getLogger("gateway.admin")

_MAIL_STATUSES = ("accepted", "processed", "duplicate", "quarantined")
_OUTBOX_STATUSES = ("queued", "sending", "sent", "failed")
_NO_STORE = {"Cache-Control": "no-store"}
#: Seconds without a storage error before the ``storage`` check passes again.
_STORAGE_QUIET = 60.0


class Poller(Protocol):
    """What ``/healthz`` reads of an IMAP poller (``gateway.transports.imap.ImapPoller``)."""

    mailbox: str
    last_error: str
    last_success: float | None  # time.monotonic()
    junk_unseen: int | None  # unseen mails in the junk folder at the last full look; None: not watched or unknown

    @property
    def idling(self) -> Any: ...  # a threading.Event, set while waiting in IDLE


class StoreCollector(Collector):
    """Gauges read from the database when ``/metrics`` is scraped.

    If the database does not answer, the scrape still succeeds with
    ``gateway_database_up 0`` and the process's counters: the failure is
    then a figure to alert on, not a missing target.
    """

    def __init__(self, db: Database, clock: Clock, pollers: Callable[[], Sequence[Poller]],
                 watch: silence.SilenceWatch | None = None) -> None:
        self.db, self.clock, self.pollers = db, clock, pollers
        self.watch = watch or silence.SilenceWatch((), clock.now())

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        up = GaugeMetricFamily("gateway_database_up", "1 if the database answered this scrape, else 0.")
        try:
            with self.db.reading() as tx:
                collected = stats.collect(tx, now)
                silences = self.watch.measure(tx, now)
        except Exception as error:  # noqa: BLE001 - reported as a figure
            log.warning("metrics: the database did not answer: %s: %s", type(error).__name__, error)
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from store_gauges(collected, now)
            yield from silence.gauges(silences)
        yield from imap_gauges(self.pollers())

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names are known only by collecting; the registry must not query at registration


def store_gauges(collected: stats.Stats, now: datetime) -> Iterator[Metric]:
    """The database's figures as Prometheus gauges."""
    mails = collected.mails_by_status
    yield _labelled("gateway_inbox_mails", "Mails in the inbox by status (accepted: waiting for the pipeline).",
                    "status", mails, _MAIL_STATUSES)
    yield _single("gateway_inbox_backlog", "Mails accepted and not yet processed.", mails.get("accepted", 0))
    yield _single("gateway_inbox_oldest_pending_seconds",
                  "Age of the oldest mail accepted and not yet processed (0: none).",
                  _age(collected.oldest_pending, now))
    yield _single("gateway_quarantine_mails", "Mails in quarantine, waiting for a person.",
                  mails.get("quarantined", 0))
    yield _labelled("gateway_tickets", "Tickets by state.", "status", collected.tickets_by_status,
                    [s.value for s in Status])
    yield _labelled("gateway_outbox_mails", "Outgoing mails by delivery status.", "status",
                    collected.outbox_by_status, _OUTBOX_STATUSES)
    yield _single("gateway_outbox_due", "Outgoing mails due for an attempt now.", collected.outbox_due)
    yield _single("gateway_outbox_retrying", "Undelivered mails that have failed at least one attempt.",
                  collected.outbox_retrying)
    yield _single("gateway_outbox_oldest_queued_seconds", "Age of the oldest mail not yet sent (0: none).",
                  _age(collected.outbox_oldest_queued, now))
    yield _single("gateway_outbox_oldest_untried_seconds",
                  "Age of the oldest mail not yet sent that no attempt reached the relay for (0: none).",
                  _age(collected.outbox_oldest_untried, now))
    yield _single("gateway_deadlines_due", "Tickets whose deadline has passed and no sweep has handled yet.",
                  collected.deadlines_due)
    yield _single("gateway_sweep_lag_seconds",
                  "How long ago the oldest unhandled deadline fell due (0: the sweeps are up to date).",
                  _age(collected.oldest_due, now))


def imap_gauges(pollers: Sequence[Poller]) -> Iterator[Metric]:
    if not pollers:
        return
    family = GaugeMetricFamily("gateway_imap_last_success_timestamp_seconds",
                               "When each IMAP poller of this process last read its folder to the end "
                               "(Unix time; 0: not yet).", labels=["mailbox"])
    offset = time.time() - time.monotonic()
    for poller in pollers:
        family.add_metric([poller.mailbox], 0 if poller.last_success is None else poller.last_success + offset)
    yield family
    junk = GaugeMetricFamily("gateway_imap_junk_unseen",
                             "Unseen mails in each IMAP mailbox's junk_folder at the last full look (absent: "
                             "not watched, or the folder could not be looked at).", labels=["mailbox"])
    for poller in pollers:
        if poller.junk_unseen is not None and not getattr(poller, "standby", False):  # a standby's count is stale
            junk.add_metric([poller.mailbox], poller.junk_unseen)
    yield junk


class Admin:
    """The admin listener's two routes on one gateway's parts."""

    def __init__(self, config: AdminConfig, db: Database, clock: Clock, metrics: Metrics,
                 pollers: Callable[[], Sequence[Poller]], mailboxes: Sequence[MailboxConfig] = ()) -> None:
        self.config, self.db, self.clock, self.metrics, self.pollers = config, db, clock, metrics, pollers
        self.started = time.monotonic()  # an IMAP poller that never succeeded is silent since then
        # A watched mailbox that never had mail is silent since then.
        self.watch = silence.SilenceWatch(mailboxes, clock.now())
        metrics.registry.register(StoreCollector(db, clock, pollers, self.watch))

    async def metrics_page(self, _request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, self.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)

    async def healthz(self, _request: Request) -> Response:
        checks = await run_in_threadpool(self.checks)
        healthy = all(check["ok"] for check in checks.values())
        return JSONResponse({"status": "ok" if healthy else "unhealthy", "checks": checks},
                            status_code=200 if healthy else 503, headers=_NO_STORE)

    def checks(self) -> dict[str, dict[str, Any]]:
        """Every check by name: ``ok`` and what it measured."""
        config, now = self.config, self.clock.now()
        checks: dict[str, dict[str, Any]] = {}
        try:
            with self.db.reading() as tx:
                stats.ping(tx)
                collected = stats.collect(tx, now)
                silences = self.watch.measure(tx, now)
        except Exception as error:  # noqa: BLE001 - any failure to answer is the finding
            checks["database"] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
            for name in ("processing_lag", "outbox", *(f"silence {m.address}" for m in self.watch.mailboxes)):
                checks[name] = {"ok": False, "error": "unknown: the database did not answer"}
        else:
            checks["database"] = {"ok": True}
            checks["processing_lag"] = _limit(_age(collected.oldest_pending, now), config.max_processing_lag,
                                              backlog=collected.mails_by_status.get("accepted", 0))
            checks["outbox"] = _limit(_age(collected.outbox_oldest_untried, now), config.max_outbox_age,
                                      due=collected.outbox_due, retrying=collected.outbox_retrying)
            checks.update((f"silence {s.mailbox.address}", s.check()) for s in silences)
        checks["storage"] = _storage(self.metrics)
        for poller in self.pollers():
            silent = time.monotonic() - (poller.last_success or self.started)
            waiting = poller.idling.is_set() or poller.standby  # standby: another node polls this folder
            check = _limit(0.0 if waiting else silent, config.max_imap_silence, idle=poller.idling.is_set(),
                           standby=poller.standby)
            if poller.last_error:
                check["last_error"] = poller.last_error[:300]
            checks[f"imap {poller.mailbox}"] = check
        return checks


def create_app(admin: Admin) -> Starlette:
    return Starlette(routes=[Route("/metrics", admin.metrics_page), Route("/healthz", admin.healthz)])


def public_healthz(db: Database) -> Callable[[Request], Any]:
    """The public pages' ``/healthz``, for a load balancer: up or not, and
    nothing else (no error text, no figures; those are the admin listener's)."""
    async def healthz(_request: Request) -> Response:
        def ping() -> None:
            with db.reading() as tx:  # not behind the writer: a mail being processed must not stall it
                stats.ping(tx)
        try:
            await run_in_threadpool(ping)
        except Exception:  # noqa: BLE001 - the reason is for the operator's log, not the public
            log.warning("public /healthz: the database did not answer", exc_info=True)
            return JSONResponse({"status": "unhealthy"}, status_code=503, headers=_NO_STORE)
        return JSONResponse({"status": "ok", "database": "ok"}, headers=_NO_STORE)
    return healthz


def _storage(metrics: Metrics) -> dict[str, Any]:
    """The ``storage`` check: failing for a minute after each storage error."""
    total = int(sum(sample.value for family in metrics.storage_errors.collect() for sample in family.samples
                    if sample.name.endswith("_total")))
    if metrics.last_storage_error is None:
        return {"ok": True, "errors": total}
    at, kind, where, text = metrics.last_storage_error
    ago = time.monotonic() - at
    return {"ok": ago > _STORAGE_QUIET, "errors": total, "last_kind": kind, "last_where": where,
            "last_error": text, "seconds_ago": round(ago, 1), "limit": _STORAGE_QUIET}


def _limit(seconds: float, limit: float, **figures: Any) -> dict[str, Any]:
    return {"ok": seconds <= limit, "seconds": round(seconds, 1), "limit": limit, **figures}


def _labelled(name: str, help_text: str, label: str, counts: dict[str, int], known: Sequence[str]) -> Metric:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for value in [*known, *sorted(set(counts) - set(known))]:
        family.add_metric([value], counts.get(value, 0))
    return family


def _single(name: str, help_text: str, value: float) -> Metric:
    return GaugeMetricFamily(name, help_text, value=value)


def _age(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds()) if since else 0.0
