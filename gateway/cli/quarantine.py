"""Commands for the mails the pipeline could not handle."""

from __future__ import annotations

import json
import sys

import click

from gateway.cli.common import gateway_of


@click.group()
def quarantine() -> None:
    """Mails the pipeline could not handle, kept with their reason."""


@quarantine.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_list(ctx: click.Context, as_json: bool) -> None:
    """Quarantined mails with their reasons; personal data in a reason (an error quoting a subject) masked."""
    from gateway.store import inbox
    from gateway.tickets.fields import mask_personal_data_in

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        rows = [{"id": q.id, "inbox_id": i.id, "step": q.step, "reason": q.reason, "at": q.created_at.isoformat(),
                 "message_id": i.message_id, "mail_from": i.mail_from} for q, i in inbox.quarantined(tx)]
    gateway.close()
    rows = mask_personal_data_in(rows, except_keys=frozenset({"message_id"}))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"#{row['id']:<5} inbox #{row['inbox_id']:<6} [{row['step']}] {row['reason']}")


@quarantine.command(name="release")
@click.argument("quarantine_id", type=int)
@click.pass_context
def quarantine_release(ctx: click.Context, quarantine_id: int) -> None:
    """Process a quarantined mail again (after fixing what stopped it)."""
    from gateway.store import inbox
    from gateway.tickets.fields import mask_personal_data

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        row = inbox.release(tx, quarantine_id, gateway.clock.now())
    if row is None:
        gateway.close()
        click.echo(f"no quarantined mail #{quarantine_id}", err=True)
        sys.exit(1)
    result = gateway.ingest.process_one(row.id)
    gateway.close()
    reason = mask_personal_data(result.reason) if result else ""
    click.echo(f"inbox #{row.id}: {result.outcome.value if result else 'not processed'}: {reason}")
