"""``gateway filed list``: the bounces and auto-replies that named no ticket.

They are not quarantined (nobody has to fix them) and never answered, but
an operator may want to see them: a wave of bounces for an address that
is no ticket's says something about our own mail.
"""

from __future__ import annotations

import json

import click

from gateway.cli.common import gateway_of


@click.group()
def filed() -> None:
    """Automatic mail (bounces, auto-replies) kept without a ticket."""


@filed.command(name="list")
@click.option("--limit", type=int, default=100, show_default=True, help="Show at most this many, newest first.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def filed_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Filed mails with why; personal data in a reason masked."""
    from gateway.store import inbox
    from gateway.tickets.fields import mask_personal_data_in

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        rows = [{"inbox_id": row.id, "reason": row.reason or "", "received_at": row.received_at.isoformat(),
                 "message_id": row.message_id, "mail_from": row.mail_from} for row in inbox.filed(tx, limit=limit)]
    gateway.close()
    rows = mask_personal_data_in(rows, except_keys=frozenset({"message_id"}))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"inbox #{row['inbox_id']:<6} {row['received_at']} {row['reason']}")
