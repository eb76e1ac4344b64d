"""``gateway monthly-report``: last month's report mail by hand, printed, or a month sent again."""

from __future__ import annotations

import click

from gateway.cli.common import gateway_of, instant, settings_of


@click.command("monthly-report")
@click.option("--mailbox", default=None, metavar="ADDR", help="Only this mailbox (default: all with report_to).")
@click.option("--month", default=None, metavar="YYYY-MM",
              help="Send this month's report now, whether due or already sent (default: the one due).")
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="As of this instant (default: the clock), e.g. 2026-12-01T08:00-03:00.")
@click.option("--dry-run", is_flag=True, help="Print the report mail; queue nothing, record nothing.")
@click.option("--force", is_flag=True, help="Send last month's report now, even before its day or if already sent.")
@click.pass_context
def monthly_report(ctx: click.Context, mailbox: str | None, month: str | None, now_text: str | None,
                   dry_run: bool, force: bool) -> None:
    """Queue each mailbox's monthly report to its `report_to` if it is due
    (on or after the first business day from `report_day`, at `report_time`,
    not yet sent for last month), as the scheduler does; the sender
    (`gateway run` or `gateway send`) delivers it.  The figures are
    `gateway report --month` of that month."""
    from zoneinfo import ZoneInfo

    from gateway.reports import Period
    from gateway.services.digest import mailboxes_of
    from gateway.services.monthly_report import MonthlyReports, previous_month

    settings = settings_of(ctx)
    try:
        chosen = mailboxes_of(settings, mailbox)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--mailbox") from None
    try:
        if month:
            Period.month(month, "UTC")  # refused before anything is sent
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--month") from None
    if mailbox is None:
        chosen = [m for m in chosen if m.report_to or dry_run]
    gateway = gateway_of(ctx, settings)
    now = instant(now_text) if now_text else gateway.clock.now()
    reports = MonthlyReports(settings, gateway.renderer)
    unfinished = [box.address for box in chosen if month and not dry_run
                  and month >= now.astimezone(ZoneInfo(box.timezone)).strftime("%Y-%m")]
    if unfinished:  # sending it would record the month as sent: its real report would never go
        gateway.close()
        raise click.BadParameter(f"{month} is not over yet for {', '.join(unfinished)}; a month's report is sent "
                                 "once it has ended (--dry-run shows it so far)", param_hint="--month")
    try:
        for box in chosen:
            wanted = month or previous_month(now.astimezone(ZoneInfo(box.timezone)).date())
            if dry_run:
                with gateway.db.reading() as tx:
                    mail = reports.compose(tx, box, wanted, now)
                click.echo(f"To: {', '.join(mail.to) or '(no report_to)'}\nSubject: {mail.parts.subject}\n\n"
                           f"{mail.parts.text}")
                continue
            if not box.report_to:
                click.echo(f"{box.address}: no report_to set ([[mailbox]] report_to = [\"chefia@...\"]); nothing queued")
                continue
            with gateway.db.transaction() as tx:
                sent = reports.send_due(tx, box, now, month=month, force=force or bool(month))
            if sent is not None:
                click.echo(f"{box.address}: queued the report of {sent.month} to {', '.join(sent.to)}")
            elif reports.due_month(box, now) is None:
                day = reports.send_day(box, *now.astimezone(ZoneInfo(box.timezone)).timetuple()[:2])
                click.echo(f"{box.address}: not due before {day.isoformat()} {box.report_time}; nothing queued "
                           "(--force sends it now)")
            else:
                click.echo(f"{box.address}: the report of {wanted} was already sent; nothing queued "
                           f"(--month {wanted} sends it again)")
    finally:
        gateway.close()
