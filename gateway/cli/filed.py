"""``gateway filed list``: the bounces and auto-replies that named no ticket.

They are not quarantined (nobody has to fix them) and never answered, but
an operator may want to see them: a wave of bounces for an address that
is no ticket's says something about our own mail.
"""

from __future__ import annotations


import click

from gateway.cli.common import list_inbox_rows


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

    list_inbox_rows(ctx, lambda tx: [{"inbox_id": row.id, "reason": row.reason or "",
                                      "received_at": row.received_at.isoformat(), "message_id": row.message_id,
                                      "mail_from": row.mail_from} for row in inbox.filed(tx, limit=limit)],
                    as_json, lambda row: f"inbox #{row['inbox_id']:<6} {row['received_at']} {row['reason']}")
