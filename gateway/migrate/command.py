"""``gateway migrate SOURCE --mailbox ADDR``: the two passes, the progress
bar, interruption, and what is printed.

Pass 1 reads headers only and threads them into a plan (what
``--dry-run`` reports, writing nothing, not even the database file).  Pass
2 streams the mails again and writes them in batches; Ctrl-C or a kill
between batches loses nothing, and running the same command again resumes.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task,
                           TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from gateway.clock import SystemClock
from gateway.config import MailboxConfig, Settings
from gateway.durations import Duration, Unit, parse_duration
from gateway.errors import ConfigError, DurationError, SourceError
from gateway.migrate import report
from gateway.migrate.plan import Plan, make_plan
from gateway.migrate.roles import SENT_FOLDERS, Team
from gateway.migrate.sources import DEFAULT_PASSWORD_ENV, Source, open_source
from gateway.migrate.states import StatePolicy
from gateway.migrate.threading import MailHeaders
from gateway.tickets.states import Status

EXIT_INTERRUPTED = 130
_STATES = click.Choice([Status.OPEN.value, Status.CLOSED.value])


def options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The command's arguments and options (kept here so cli.py stays thin)."""
    decorators = [
        click.argument("source"),
        click.option("--mailbox", "mailbox_address", required=True,
                     help="The service address the legacy mailbox becomes (a [[mailbox]] of the config)."),
        click.option("--dry-run", is_flag=True, help="Read and thread only; print the report; write nothing."),
        click.option("--notify-open", is_flag=True,
                     help="Queue one mail with the new protocol to each still-open ticket's requester."),
        click.option("--notify-per-minute", default=30.0, show_default=True,
                     help="Pace of those mails through the outbox."),
        click.option("--analyst", "analysts", multiple=True,
                     help="An address that answered for the team (besides the mailbox's team and analysts)."),
        click.option("--sent-folder", "sent_folders", multiple=True,
                     help=f"A folder of the team's sent mail (default: {', '.join(SENT_FOLDERS[:5])}, ...)."),
        click.option("--closed-after", default=None, metavar="DURATION",
                     help="Team wrote last this long ago: closed (default: the mailbox's solved_limit)."),
        click.option("--answered", default=Status.OPEN.value, type=_STATES, show_default=True,
                     help="State when the team wrote last, more recently than --closed-after."),
        click.option("--thread-window", default="30d", show_default=True, metavar="DURATION",
                     help="Mails without threading headers join a conversation with the same subject and "
                          "participant this long after its last mail."),
        click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
                     help="Environment variable holding the IMAP password."),
        click.option("--batch-size", default=500, show_default=True, help="Mails per transaction."),
        click.option("--now", "now_text", default=None, metavar="ISO8601",
                     help="Infer states as of this instant (default: now)."),
        click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def run(settings: Settings, source: str, mailbox_address: str, **values: Any) -> int:
    """The whole command; returns the exit status."""
    console = Console(stderr=True)
    found = settings.mailbox_for(mailbox_address)
    if found is None:
        click.echo(f"--mailbox {mailbox_address}: no such [[mailbox]] in {settings.source}", err=True)
        return 2
    mailbox = found[0]
    try:
        now = _now(values["now_text"])
        window = _as_timedelta(_duration("--thread-window", values["thread_window"]))
        closed_after = (_duration("--closed-after", values["closed_after"]) if values["closed_after"]
                        else mailbox.solved_limit)
        opened = open_source(source, password_env=values["password_env"])
    except (SourceError, click.BadParameter) as error:
        click.echo(f"gateway migrate: {error}", err=True)
        return 2
    team = Team.of(mailbox, analysts=values["analysts"], sent_folders=values["sent_folders"] or SENT_FOLDERS)
    policy = StatePolicy(closed_after=closed_after, answered=Status(values["answered"]))
    with _interruptible():
        try:
            plan = _pass_one(opened, mailbox, team, window, policy, now, console)
            if values["dry_run"]:
                _print(report.summary(plan, opened.description, mailbox.address), values["as_json"], dry_run=True)
                return 0
            counts = _pass_two(settings, opened, plan, mailbox, team, now, values, console)
        except SourceError as error:
            click.echo(f"gateway migrate: {error}", err=True)
            return 1
        except ConfigError as error:  # the database's schema is behind or ahead of this version
            click.echo(f"gateway migrate: {error}", err=True)
            return 2
        except KeyboardInterrupt:
            click.echo("interrupted: every finished batch is kept; run the same command again to resume", err=True)
            return EXIT_INTERRUPTED
    _print(report.summary(plan, opened.description, mailbox.address, counts), values["as_json"], dry_run=False)
    return 0


def _pass_one(source: Source, mailbox: MailboxConfig, team: Team, window: timedelta, policy: StatePolicy,
              now: datetime, console: Console) -> Plan:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("reading headers", total=None)
        index: list[MailHeaders] = []
        for mail in source.headers():
            index.append(MailHeaders.read(mail))
            if len(index) % 200 == 0:
                progress.update(task, completed=len(index))
    return make_plan(index, mailbox=mailbox, team=team, window=window, policy=policy, now=now)


def _pass_two(settings: Settings, source: Source, plan: Plan, mailbox: MailboxConfig, team: Team, now: datetime,
              values: dict[str, Any], console: Console) -> report.RunCounts:
    from gateway.migrate.importer import Importer
    from gateway.store.bulk import BulkWriter
    from gateway.store import schema
    from gateway.store.db import Database

    db = Database(settings.storage)
    try:
        schema.prepare(db)  # creates an empty database; refuses one behind or ahead, as every command does
        importer = Importer(BulkWriter(db.engine), plan, mailbox, team, source=source.description, now=now,
                            limits=settings.processing)
        importer.find_earlier_tickets()
        started = time.monotonic()
        with _bar(console) as progress:
            task = progress.add_task("importing", total=len(plan.index))
            counts = importer.write(source.mails(), values["batch_size"],
                                    lambda n: progress.advance(task, n))
        counts.seconds = time.monotonic() - started
        if values["notify_open"]:
            counts.notices_queued = _notify(settings, db, mailbox, team, now, values["notify_per_minute"])
        return counts
    finally:
        db.dispose()


def _notify(settings: Settings, db: Any, mailbox: MailboxConfig, team: Team, now: datetime,
            per_minute: float) -> int:
    from gateway.migrate.notices import queue_notices
    from gateway.outbound.notices import Notifier
    from gateway.outbound.render import Renderer

    notifier = Notifier(settings, Renderer(settings.templates.path or None))
    return queue_notices(db, notifier, mailbox, now=now, per_minute=per_minute, team=team)


def _bar(console: Console) -> Progress:
    """Rate and ETA, as the issue asks; redrawn a few times a second."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} mails/s" if task.speed else "… mails/s")


def _print(data: dict[str, Any], as_json: bool, *, dry_run: bool) -> None:
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, **data}, ensure_ascii=False, indent=2))
    else:
        click.echo(report.render(data, dry_run=dry_run))


class _interruptible:
    """SIGTERM behaves as Ctrl-C: the open batch rolls back, the message says how to resume."""

    def __enter__(self) -> None:
        self._previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def __exit__(self, *_exc: object) -> None:
        signal.signal(signal.SIGTERM, self._previous)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _now(text: str | None) -> datetime:
    if not text:
        return SystemClock().now()
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"--now {text!r} is not an ISO 8601 instant like 2026-11-25T18:00-03:00") from None
    if value.tzinfo is None:
        raise click.BadParameter(f"--now {text!r} has no UTC offset; write e.g. 2026-11-25T18:00-03:00")
    return value


def _duration(option: str, text: str) -> Duration:
    try:
        return parse_duration(text)
    except DurationError as error:
        raise click.BadParameter(f"{option} {text!r}: {error}") from None


def _as_timedelta(duration: Duration) -> timedelta:
    """The calendar length: the window is a rough "soon after", so business
    days count as days and business hours as hours."""
    if duration.unit in (Unit.DAYS, Unit.BUSINESS_DAYS):
        return timedelta(days=duration.amount)
    if duration.unit is Unit.BUSINESS_HOURS:
        return timedelta(hours=duration.amount)
    return duration.to_timedelta()

