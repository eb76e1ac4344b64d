"""``/healthz`` and ``/metrics`` (Prometheus text exposition format 0.0.4).

Everything is read from the database, so the figures are the same on
every node and survive restarts: mails received by processing status,
tickets by state, the outbox (depth, retries, failures, age of the oldest
queued mail) and the deadlines.  There is no "last sweep" timestamp to
read; the lag of the sweeps is measured instead by what they have not
done yet: how many deadlines have passed unhandled and how long ago the
oldest one fell due (near zero while the scheduler keeps up).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from gateway.clock import Clock
from gateway.store import stats
from gateway.store.db import Database
from gateway.tickets.states import Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAIL_STATUSES = ("accepted", "processed", "duplicate", "quarantined")
_OUTBOX_STATUSES = ("queued", "sending", "sent", "failed")


class Metrics:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def healthz(self, _request: Request) -> Response:
        try:
            await run_in_threadpool(self._ping)
        except Exception as error:  # any failure to answer is "unhealthy", with the reason
            return JSONResponse({"status": "unhealthy", "database": f"{type(error).__name__}: {error}"[:300]},
                                status_code=503, headers={"Cache-Control": "no-store"})
        return JSONResponse({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})

    async def metrics(self, _request: Request) -> Response:
        now = self.clock.now()
        try:
            collected = await run_in_threadpool(self._collect, now)
        except Exception as error:
            return PlainTextResponse(f"# database unavailable: {type(error).__name__}\n", status_code=503)
        return PlainTextResponse(render(collected, now), media_type=CONTENT_TYPE)

    def _ping(self) -> None:
        with self.db.reading() as tx:  # not behind the writer: a mail being processed must not stall it
            stats.ping(tx)

    def _collect(self, now: datetime) -> stats.Stats:
        with self.db.transaction() as tx:
            return stats.collect(tx, now)


def render(collected: stats.Stats, now: datetime) -> str:
    lines: list[str] = []
    _family(lines, "gateway_mails_received", "gauge",
            "Mails accepted by a transport, by processing status (accepted = waiting for the pipeline).",
            _labelled("status", collected.mails_by_status, _MAIL_STATUSES))
    _family(lines, "gateway_tickets", "gauge", "Tickets by state.",
            _labelled("status", collected.tickets_by_status, [s.value for s in Status]))
    _family(lines, "gateway_outbox_mails", "gauge", "Outgoing mails by delivery status.",
            _labelled("status", collected.outbox_by_status, _OUTBOX_STATUSES))
    depth = collected.outbox_by_status.get("queued", 0) + collected.outbox_by_status.get("sending", 0)
    _family(lines, "gateway_outbox_queue_depth", "gauge", "Outgoing mails not yet delivered (queued or sending).",
            [("", depth)])
    _family(lines, "gateway_outbox_retrying", "gauge", "Undelivered mails that have failed at least one attempt.",
            [("", collected.outbox_retrying)])
    _family(lines, "gateway_outbox_failed", "gauge", "Outgoing mails given up on (permanent failure or retries spent).",
            [("", collected.outbox_by_status.get("failed", 0))])
    _family(lines, "gateway_outbox_oldest_queued_seconds", "gauge", "Age of the oldest undelivered mail (0: none).",
            [("", _age(collected.outbox_oldest_queued, now))])
    _family(lines, "gateway_deadlines_due", "gauge", "Tickets whose deadline has passed and no sweep has handled yet.",
            [("", collected.deadlines_due)])
    _family(lines, "gateway_sweep_lag_seconds", "gauge",
            "How long ago the oldest unhandled deadline fell due (0: the sweeps are up to date).",
            [("", _age(collected.oldest_due, now))])
    return "\n".join(lines) + "\n"


def _labelled(label: str, counts: dict[str, int], known: Iterable[str]) -> list[tuple[str, float]]:
    names = [*known, *sorted(set(counts) - set(known))]
    return [(f'{{{label}="{_escape(name)}"}}', counts.get(name, 0)) for name in names]


def _family(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)


def _age(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds()) if since else 0.0


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
