"""``gateway report``: how the desk did over a period, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import click

from gateway.cli.common import REVEAL_HELP, gateway_of, instant, settings_of


@click.command()
@click.option("--mailbox", default=None, metavar="ADDR", help="Only this mailbox's tickets (default: all).")
@click.option("--month", default=None, metavar="YYYY-MM", help="The period: one month (default: the current one).")
@click.option("--from", "first", default=None, metavar="YYYY-MM-DD", help="The period's first day (with --to).")
@click.option("--to", "last", default=None, metavar="YYYY-MM-DD", help="The period's last day, included.")
@click.option("--by", type=click.Choice(["category", "assignee", "week"]), default=None,
              help="One row per category, assignee or week (Monday), then the total.")
@click.option("--csv", "as_csv", is_flag=True, help="section,key,figure,value lines.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="As of this instant (the backlog's end, pending SLAs; default: the current time).")
@click.option("--reveal", is_flag=True, help=REVEAL_HELP)
@click.pass_context
def report(ctx: click.Context, mailbox: str | None, month: str | None, first: str | None, last: str | None,
           by: str | None, as_csv: bool, as_json: bool, now_text: str | None, reveal: bool) -> None:
    """Tickets opened, closed, returned and reopened; first-response and
    resolution times (median, p90, in the desk's working hours); SLA met per
    category; satisfaction; the backlog by age at the period's end.
    Survey comments have personal data masked unless --reveal."""
    from gateway import reports
    from gateway.services import report as service

    if as_csv and as_json:
        raise click.UsageError("choose one of --csv and --json")
    settings = settings_of(ctx)
    address = service.mailbox_address(settings, mailbox) if mailbox else None
    zone = service.period_zone(settings, address)
    gateway = gateway_of(ctx, settings)
    now = instant(now_text) if now_text else gateway.clock.now()
    period = _period(month, first, last, zone, now)
    try:
        with gateway.db.reading() as tx:
            found = service.gather(tx, settings, mailbox=address, period=period, by=by, now=now, reveal=reveal)
    finally:
        gateway.close()
    data = reports.as_dict(found)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif as_csv:
        click.echo(as_csv_text(data), nl=False)
    else:
        click.echo(as_text(data))


def _period(month: str | None, first: str | None, last: str | None, zone: str, now: Any) -> Any:
    from zoneinfo import ZoneInfo

    from gateway.reports import Period

    if month and (first or last):
        raise click.UsageError("give --month or --from/--to, not both")
    if bool(first) != bool(last):
        raise click.UsageError("--from and --to go together (both days included), e.g. --from 2026-11-01 --to 2026-11-15")
    try:
        if first and last:
            return Period.days(_day(first, "--from"), _day(last, "--to"), zone)
        return Period.month(month or now.astimezone(ZoneInfo(zone)).strftime("%Y-%m"), zone)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--month" if month else "--from/--to") from None


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date like 2026-11-01", param_hint=option) from None


# -- the shapes ---------------------------------------------------------------


def as_csv_text(data: dict[str, Any]) -> str:
    """Every figure as one ``section,key,figure,value`` line: a shape any
    spreadsheet pivots, whatever the grouping."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "key", "figure", "value"))
    for row in data["rows"]:
        for figure in ("opened", "closed", "returned", "reopened"):
            writer.writerow(("tickets", row["key"], figure, row[figure]))
        for wait in ("first_response", "resolution"):
            for figure, value in row[wait].items():
                writer.writerow((wait, row["key"], f"{figure}_{data['time_unit']}" if figure != "count" else figure,
                                 _blank(value)))
        writer.writerow(("satisfaction", row["key"], "mean", _blank(row["satisfaction"]["mean"])))
        writer.writerow(("satisfaction", row["key"], "answers", row["satisfaction"]["answers"]))
    for row in data["sla"]:
        for target in ("first_response", "resolution"):
            for figure, value in row[target].items():
                writer.writerow((f"sla_{target}", row["category"], figure, _blank(value)))
    survey = data["satisfaction"]
    for figure in ("surveyed", "answers", "response_rate_percent", "mean"):
        writer.writerow(("survey", "total", figure, _blank(survey[figure])))
    for score, count in survey["distribution"].items():
        writer.writerow(("survey", "total", f"score_{score}", count))
    for comment in survey["comments"]:
        writer.writerow(("comment", comment["protocol"], f"score_{comment['score']}", comment["comment"]))
    for bucket, count in data["backlog"]["by_age"].items():
        writer.writerow(("backlog", data["backlog"]["at"], bucket, count))
    return out.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value


def as_text(data: dict[str, Any]) -> str:
    unit = "working hours" if data["time_unit"] == "business_hours" else "hours"
    period = data["period"]
    lines = [f"{data['mailbox'] or 'all mailboxes'}, {period['label']} ({period['timezone']}); times in {unit}", ""]
    lines += table(
        (data["grouped_by"] or "", "OPENED", "CLOSED", "RETURNED", "REOPENED", "1ST RESP MEDIAN", "1ST RESP P90",
         "RESOLUTION MEDIAN", "RESOLUTION P90", "SATISFACTION", "ANSWERS"),
        [(row["key"], row["opened"], row["closed"], row["returned"], row["reopened"],
          _number(row["first_response"]["median"]), _number(row["first_response"]["p90"]),
          _number(row["resolution"]["median"]), _number(row["resolution"]["p90"]),
          _number(row["satisfaction"]["mean"]), row["satisfaction"]["answers"]) for row in data["rows"]])
    lines += ["", "SLA met, per category (tickets opened in the period)"]
    lines += table(("CATEGORY", "1ST RESP MET %", "MET", "MISSED", "PENDING", "RESOLUTION MET %", "MET", "MISSED",
                    "PENDING"),
                   [(row["category"], _number(row["first_response"]["met_percent"]), row["first_response"]["met"],
                     row["first_response"]["missed"], row["first_response"]["pending"],
                     _number(row["resolution"]["met_percent"]), row["resolution"]["met"],
                     row["resolution"]["missed"], row["resolution"]["pending"]) for row in data["sla"]])
    survey = data["satisfaction"]
    lines += ["", f"Satisfaction: {survey['answers']} of {survey['surveyed']} surveyed answered "
                  f"({_number(survey['response_rate_percent'])}%), mean {_number(survey['mean'])}"]
    lines += table(("SCORE", *survey["distribution"]), [("answers", *survey["distribution"].values())])
    for comment in survey["comments"]:
        lines.append(f"  {comment['protocol']}  {comment['score']}/5  {comment['comment']}")
    backlog = data["backlog"]
    lines += ["", f"Backlog at {backlog['at']}: {backlog['total']} open"]
    lines += table(("AGE", *backlog["by_age"]), [("tickets", *backlog["by_age"].values())])
    return "\n".join(lines)


def table(headers: tuple[Any, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    """A header row and aligned rows: the first column to the left, numbers to the right."""
    cells = [tuple(str(value) for value in headers), *[tuple(str(value) for value in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(value.ljust(widths[i]) if i == 0 else value.rjust(widths[i]) for i, value in enumerate(row)).rstrip()
            for row in cells]


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)
