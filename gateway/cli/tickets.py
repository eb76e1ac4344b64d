"""Commands that look at tickets."""

from __future__ import annotations

import json
import sys

import click

from gateway.cli.common import REVEAL_HELP, gateway_of, instant, iso


@click.group()
def tickets() -> None:
    """Look at tickets."""


@tickets.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", default=None)
@click.option("--mailbox", default=None)
@click.option("--limit", default=100, show_default=True)
@click.option("--overdue", is_flag=True, help="Only open tickets past an SLA target, most overdue first.")
@click.option("--now", "now_text", default=None, metavar="ISO8601", help="With --overdue: as of this instant.")
@click.option("--reveal", is_flag=True, help=REVEAL_HELP)
@click.pass_context
def tickets_list(ctx: click.Context, as_json: bool, status: str | None, mailbox: str | None, limit: int,
                 overdue: bool, now_text: str | None, reveal: bool) -> None:
    """List tickets, newest first (or the overdue ones); personal data masked unless --reveal."""
    from gateway.services import deadlines, views
    from gateway.store import due
    from gateway.store import tickets as store

    gateway = gateway_of(ctx)
    now = instant(now_text) if now_text else gateway.clock.now()
    with gateway.db.transaction() as tx:
        if overdue:
            rows = [{**views.summary(t, reveal=reveal), "overdue": deadlines.late_targets(t, now),
                     "first_response_due_at": iso(t.first_response_due_at),
                     "resolution_due_at": iso(t.resolution_due_at)}
                    for t in due.overdue(tx, now, mailbox=mailbox, limit=limit)]
        else:
            rows = [views.summary(t, reveal=reveal)
                    for t in store.listing(tx, mailbox=mailbox, status=status, limit=limit)]
    gateway.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        late = f" ATRASADO: {', '.join(row['overdue'])}" if row.get("overdue") else ""
        click.echo(f"{row['protocol']:<20} {row['status_label']:<28} {row['requester']:<32} "
                   f"{row['subject'][:60]}{late}")


@tickets.command(name="show")
@click.argument("protocol")
@click.option("--json", "as_json", is_flag=True)
@click.option("--reveal", is_flag=True, help=REVEAL_HELP)
@click.pass_context
def tickets_show(ctx: click.Context, protocol: str, as_json: bool, reveal: bool) -> None:
    """Show one ticket: messages and events; personal data masked unless --reveal."""
    from gateway.services import views

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        data = views.detail(tx, protocol.strip().upper(), reveal=reveal)
    gateway.close()
    if data is None:
        click.echo(f"no ticket {protocol}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['protocol']}  {data['status_label']}  {data['mailbox']}\n{data['subject']}\n"
               f"requester: {data['requester']}")
    for event in data["events"]:
        click.echo(f"  {event['at']}  {event['kind']:<14} {event['actor']}  {event['note']}")


@click.command()
@click.argument("protocol")
@click.argument("action", type=click.Choice(["track", "accept", "refuse", "survey"]))
@click.pass_context
def link(ctx: click.Context, protocol: str, action: str) -> None:
    """Print the signed link a mail would carry for PROTOCOL and ACTION."""
    from gateway import links
    from gateway.store import tickets as store

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        ticket = store.by_protocol(tx, protocol.strip().upper())
        round_ = str(ticket.solution_round) if ticket is not None else ""
    gateway.close()
    if ticket is None:
        click.echo(f"no ticket {protocol}", err=True)
        sys.exit(1)
    web = gateway.settings.web
    extra = round_ if action in ("accept", "refuse") else ""
    click.echo(links.make_url(web.base_url, web.secret, ticket.protocol, action, extra))
