"""Composition root: builds every part from Settings, starts and stops them.

``gateway run`` is one process with one event loop (the listeners, the web
pages and the scheduler) and a few threads for the blocking work
(processing, sending).  ``--only`` picks some roles, so several nodes on
PostgreSQL can split the work.

``admin`` (``/metrics``, ``/healthz`` on ``[admin] host:port``) is a role
like the others: ``gateway run`` starts it, and a ``--only`` list starts it
only when it names it (``--only smtp,admin``).  Counters are per process,
so each process an operator wants to watch lists ``admin``, with a port of
its own when several run on one host.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from gateway.calendar.mailboxes import calendar_for
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.ingest import Ingest
from gateway.metrics import Metrics
from gateway.outbound import delivery
from gateway.outbound.notices import Notifier
from gateway.outbound.render import Renderer
from gateway.pipeline import runner
from gateway.services.citizen import PageAnswers
from gateway.services.digest import Digests
from gateway.services.due import DueActions
from gateway.services import rulebook
from gateway.services.intake import Intake
from gateway.store import processors, schema
from gateway.store.direct import ALIVE_EVERY
from gateway.store.db import Database
from gateway.workers.processing import process_loop, say_alive
from gateway.workers.sender import Sender
from gateway.workers.sweeps import Sweeper, SweepResult

if TYPE_CHECKING:  # the serving parts are imported where they serve (see Gateway.serve)
    from starlette.applications import Starlette

    from gateway.transports.imap import ImapPoller
    from gateway.transports.smtp import Listener
    from gateway.workers.scheduler import Scheduler

log = logging.getLogger("gateway.app")

ROLES: Final = ("smtp", "process", "send", "imap", "schedule", "web", "admin")

# Gateway.process_backlog: mails per pass between renewals of its row (a few
# seconds of work), the bound on its passes, how it waits for mail another
# worker holds, and how often a failed pass is tried again (pauses of 0.5 s
# doubling: ~16 s in all).
_CHUNK: Final = 500
_BACKLOG_ROUNDS: Final = 100_000
_IDLE_ROUNDS: Final = 20
_IDLE_PAUSE: Final = 0.25
_FAILED_ROUNDS: Final = 5

# The listeners, the pages, the scheduler and the IMAP client are imported by
# the methods that start them, not here: `gateway process`, which the MTA's
# pipe starts when no worker runs, only processes (issue 19: 0.84 s of
# start-up, most of it uvicorn, Starlette, APScheduler and aiosmtpd it never used).


class Gateway:
    def __init__(self, settings: Settings, clock: Clock | None = None, *, migrate: bool = True,
                 wait_for_database: float = 0.0) -> None:
        """``migrate``: check the schema (store.schema.prepare): an empty
        database is created at head, one behind or ahead is refused with a
        SchemaMismatch (``gateway db upgrade`` is the explicit upgrade).
        ``wait_for_database``: seconds to keep retrying an unreachable one."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.storage)
        if migrate:
            schema.prepare(self.db, wait=wait_for_database)
        self.renderer = Renderer(settings.templates.path or None)
        self.notifier = Notifier(settings, self.renderer)
        self.rules = rulebook.rule_store(settings, self.renderer)  # a broken rule file stops start-up here
        for mailbox in settings.mailboxes:  # so does a closed_calendar that is no whole days off
            calendar_for(mailbox)
        self.intake = Intake(settings, self.notifier, self.rules)  # #categoria reads the category's SLA there
        self.metrics = Metrics()  # this gateway's registry: several gateways in one process (tests) never collide
        self.ingest = Ingest(self.db, settings, self.clock, runner.steps(self.intake, self.rules),
                             metrics=self.metrics)
        self.sender = Sender(self.db, settings.outbound, delivery.build(settings.outbound), self.clock,
                             metrics=self.metrics)
        self.ingest.on_processed.append(lambda _result: self.sender.wake.set())
        self.sweeper = Sweeper(self.db, DueActions(settings, self.intake.writer), self.clock,
                               batch_size=settings.schedule.batch_size, group_size=settings.processing.group_size,
                               metrics=self.metrics)
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pollers: list[ImapPoller] = []  # the running IMAP pollers (role "imap")
        self.scheduler: Scheduler | None = None  # role "schedule", while serving
        self._processor_node: str | None = None  # role "process": its row in store.processors, while running
        self._processor_lock = threading.Lock()
        self.admin_port: int | None = None  # role "admin": the port bound, while serving ([admin] port 0: any)
        # Whether a SIGHUP came while starting (`gateway run` sets cli.signals.take_hangup):
        # the rules are then reloaded once the loop takes the signal over.
        self.pending_reload: Callable[[], bool] = lambda: False

    def start_workers(self, roles: Iterable[str] = ROLES) -> None:
        roles = set(roles)
        if "process" in roles:
            self._processor_node = processors.this_node()
            self._spawn("processor", lambda: process_loop(self.ingest, self.stopping,
                                                          self.settings.processing.poll_interval,
                                                          alive=self._processor_alive, alive_every=ALIVE_EVERY))
        if "send" in roles:
            self._spawn("sender", lambda: self.sender.loop(self.stopping))
        if "imap" in roles:
            self.pollers = self.imap_pollers()
            for poller in self.pollers:  # one thread each: a failing account stops no other
                self._spawn(f"imap {poller.mailbox}", lambda poller=poller: poller.run(self.stopping))

    def sweep_all(self) -> list[SweepResult]:
        """``gateway sweep``: batches until nothing due is left at the clock's now."""
        now, results = self.clock.now(), []
        while True:
            results.append(self.sweeper.run_once(now))
            if not results[-1].acted or results[-1].found < self.sweeper.batch_size:
                return results

    def imap_pollers(self, mailbox: str | None = None) -> list[ImapPoller]:
        """A poller per mailbox with ``[mailbox.imap]`` (or only ``mailbox``'s)."""
        from gateway.store.imap_state import ImapStateStore
        from gateway.transports import imap

        state = ImapStateStore(self.db, self.clock.now)
        return [imap.ImapPoller(m.address, m.imap, self.ingest, state, self.clock, where=f"mailbox[{index}].imap")
                for index, m in enumerate(self.settings.mailboxes)
                if m.imap is not None and (mailbox is None or m.address == mailbox.strip().lower())]

    async def serve(self, roles: Iterable[str] = ROLES, ready: threading.Event | None = None) -> None:
        """Run until ``stop()`` (or SIGTERM/SIGINT in the main thread)."""
        from gateway.credentials import Credentials
        from gateway.transports import smtp, submission
        from gateway.web import app as web
        from gateway.services.monthly_report import MonthlyReports
        from gateway.workers.digests import DigestStep
        from gateway.workers.monthly_reports import MonthlyReportStep
        from gateway.workers.retention import RetentionStep
        from gateway.workers.scheduler import Scheduler

        roles = set(roles)
        self.start_workers(roles)
        servers: list[Listener] = []
        site = operator = None
        if "admin" in roles and self.settings.admin.enabled:  # first: a port in use fails before mail is accepted
            operator = await self.start_admin()
        if "web" in roles and self.settings.web.enabled:
            site = await web.start(self.web_app(), self.settings)
        if "smtp" in roles and self.settings.smtp.enabled:
            servers.append(await smtp.start(self.ingest, self.settings, self.clock, self.metrics))
        if "smtp" in roles and self.settings.submission.enabled:
            credentials = Credentials.load(self.settings.submission.credentials_file)
            servers.append(await submission.start(self.ingest, self.settings, self.clock, credentials.verify,
                                                  remembered=credentials.remembered))
        self.scheduler = scheduler = None
        if "schedule" in roles and self.settings.schedule.enabled:
            self.scheduler = scheduler = Scheduler(self.settings.schedule, self.sweeper, self.sender.wake,
                                                   RetentionStep(self.db, self.settings.retention, self.clock),
                                                   DigestStep(self.db, Digests(self.settings, self.renderer), self.clock),
                                                   MonthlyReportStep(self.db, MonthlyReports(self.settings, self.renderer),
                                                                     self.clock))
            scheduler.start()  # wakes the deadline sweeps (in threads) on this loop
        _install_signal_handlers(self)
        if ready is not None:
            ready.set()
        try:
            while not self.stopping.is_set():
                await asyncio.sleep(0.1)
        finally:
            if site is not None:
                await web.stop(*site)
            if operator is not None:
                await web.stop(*operator)
            if scheduler is not None:
                scheduler.stop()
            # Each session is told 421 (one storing a mail once it has its answer), all listeners at once.
            await asyncio.gather(*(server.close() for server in servers))

    async def start_admin(self) -> tuple[asyncio.Task[None], Any]:
        """The admin listener (``/metrics``, ``/healthz``) on ``[admin] host:port``."""
        from gateway.web import admin, app as web

        config = self.settings.admin
        app = admin.create_app(admin.Admin(config, self.db, self.clock, self.metrics, lambda: self.pollers,
                                           self.settings.mailboxes))
        task, server, self.admin_port = await web.listen(app, config.host, config.port, section="admin")
        log.info("admin listener (/metrics, /healthz) on http://%s:%d", config.host, self.admin_port)
        return task, server

    def web_app(self) -> Starlette:
        """The pages (track, look-up, solution, survey, /healthz) on this gateway's parts."""
        from gateway.web import app as web

        return web.create_app(self.settings, self.db, self.clock, PageAnswers(self.settings, self.intake.writer),
                              wake_sender=self.sender.wake.set)

    def reload_rules(self) -> None:
        """SIGHUP: re-read the rule files; a broken one keeps its old rules and is logged."""
        errors = self.rules.reload()
        for error in errors:
            log.error("rules not reloaded, keeping the previous ones: %s", error)
        log.info("rule files reloaded: %d ok, %d kept old rules", len(self.rules.files) - len(errors), len(errors))

    def stop(self) -> None:
        self.stopping.set()
        self._processor_gone()  # first: a pipe from now on starts `gateway process` for its mail
        self.ingest.accepted.set()
        self.sender.wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self.ingest.close()

    def process_backlog(self) -> int:
        """Process every accepted mail as a worker pipes can see, then leave
        (``gateway process``, also what the pipe starts when no worker runs).

        Its row in store.processors, renewed between chunks of mails, tells
        each pipe that stores a mail meanwhile to leave it here.  So that
        none is left behind, it leaves the living first and only then looks
        for accepted mail once more: a pipe commits its mail before it looks
        for a worker, so it either stored before that last look or found no
        worker and had a process started.  Mail another worker holds is
        waited for a little (``_IDLE_PAUSE``, ``_IDLE_ROUNDS`` times); a pass
        that fails (the database locked, full or gone) is tried again after
        a pause that doubles, ``_FAILED_ROUNDS`` times, out of the living
        meanwhile; ``stopping`` (SIGTERM) ends it between groups.  Whatever
        is left waits for the next pipe's process, the next ``gateway
        process`` or a gateway's start."""
        node, said, done, idle, failed = processors.this_node(), float("-inf"), 0, 0, 0
        try:
            for _ in range(_BACKLOG_ROUNDS):
                if self.stopping.is_set():
                    return done
                if time.monotonic() - said >= ALIVE_EVERY:
                    with self._processor_lock:
                        self._processor_node = node
                    said = say_alive(self._processor_alive, said)
                try:
                    passed = self.ingest.drain(limit=_CHUNK, stop=self.stopping)
                except Exception as error:  # the storage's fault: the mails stay accepted
                    # Not a worker while it cannot reach the database: a pipe meanwhile has a
                    # process started (one, by its claim), which may be the one that gets through.
                    self._processor_gone()
                    said, failed = float("-inf"), failed + 1
                    if failed > _FAILED_ROUNDS:
                        raise
                    log.warning("processing pass failed (%s: %s); trying again in %.1f s", type(error).__name__,
                                error, _IDLE_PAUSE * 2 ** failed)
                    self.stopping.wait(_IDLE_PAUSE * 2 ** failed)
                    continue
                failed, done = 0, done + passed
                if passed == _CHUNK:
                    continue
                self._processor_gone()
                said = float("-inf")
                if self.stopping.is_set() or not self.ingest.has_pending():
                    return done
                idle = 0 if passed else idle + 1
                if idle > _IDLE_ROUNDS:
                    log.warning("accepted mail left to the worker that holds it (another process)")
                    return done
                self.stopping.wait(_IDLE_PAUSE if not passed else 0)
            log.warning("gateway process stopped after %d mail(s): more kept arriving; the rest waits", done)
            return done
        finally:
            self._processor_gone()

    def _processor_alive(self) -> None:
        """The processing worker renews its row (store.processors), unless
        stopping: a renewal after the row's removal would bring it back."""
        with self._processor_lock:
            if self._processor_node is not None and not self.stopping.is_set():
                processors.seen(self.db, self._processor_node)

    def _processor_gone(self) -> None:
        with self._processor_lock:
            node, self._processor_node = self._processor_node, None
            if node is None:
                return
            try:
                processors.gone(self.db, node)
            except Exception as error:  # noqa: BLE001 - the row grows old by itself (store.processors)
                log.warning("could not remove processing worker %s from the living: %s", node, error)

    def close(self) -> None:
        self.stop()
        self.sender.deliverer.close()
        self.db.dispose()

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)


def _install_signal_handlers(gateway: Gateway) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.stopping.set)
    loop.add_signal_handler(signal.SIGHUP, gateway.reload_rules)
    if gateway.pending_reload():  # a SIGHUP came while starting: applied once, now that it is safe
        gateway.reload_rules()
