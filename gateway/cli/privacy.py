"""``gateway purge`` and ``gateway forget``: personal data (LGPD).

``purge`` applies the keeping times now (what the scheduler does daily),
or with an explicit date; ``forget`` erases one person's data on their
request and prints a report the desk can send back.  Both have
``--dry-run``, which runs the same statements and rolls them back, so its
counts are exactly what a real run would change (store.retention).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import click

from gateway.cli.common import gateway_of

# What each count is, for the operator and for the answer to a citizen.
LABELS: Final = {
    "tickets": "chamados anonimizados",
    "ticket": "chamados (ticket)",
    "message": "mensagens (message)",
    "attachment": "anexos: nomes (attachment)",
    "event": "histórico (event)",
    "participant": "participantes em cópia (participant)",
    "ticket_field": "campos como CPF (ticket_field)",
    "thread_ref": "referências de conversa (thread_ref)",
    "inbox": "mensagens recebidas (inbox)",
    "inbox.raw": "cópias originais de mensagens recebidas (inbox_raw)",
    "outbox": "mensagens enviadas (outbox)",
    "outbox.raw": "cópias de mensagens enviadas (outbox_raw)",
    "quarantine": "quarentena (quarantine)",
    "mail_key": "chaves de duplicidade (mail_key)",
    "counter": "contadores de limite (counter)",
}


@click.command()
@click.option("--before", "before_text", default=None, metavar="DATE",
              help="Drop raw mails received and anonymise tickets closed before DATE (2025-01-31, or an "
                   "instant with its offset). Default: now minus [retention] raw_mail_days / closed_ticket_days.")
@click.option("--dry-run", is_flag=True, help="Count what would change; change nothing.")
@click.pass_context
def purge(ctx: click.Context, before_text: str | None, dry_run: bool) -> None:
    """Drop old raw mails and anonymise old closed tickets (LGPD retention)."""
    from gateway.store import retention

    gateway = gateway_of(ctx)
    try:
        now = gateway.clock.now()
        config = gateway.settings.retention
        if before_text is not None:
            raw_before = closed_before = _date(before_text)
            why = f"purge antes de {raw_before.date().isoformat()}"
        elif config.raw_mail_days or config.closed_ticket_days:
            raw_before = now - timedelta(days=config.raw_mail_days) if config.raw_mail_days else None
            closed_before = now - timedelta(days=config.closed_ticket_days) if config.closed_ticket_days else None
            why = f"retenção de {config.closed_ticket_days} dias após o fechamento"
        else:
            # Keeping for ever is a valid choice, not an error: a daily timer running this stays green.
            click.echo(f"{gateway.settings.source}: [retention] raw_mail_days and closed_ticket_days are 0 (keep "
                       "for ever): nothing to purge; set them, or give --before DATE")
            sys.exit(0)
        counts = retention.purge(gateway.db, raw_before=raw_before, closed_before=closed_before, at=now, why=why,
                                 dry_run=dry_run)
    finally:
        gateway.close()
    click.echo(("dry run, nothing changed: would change" if dry_run else "changed") + ":")
    click.echo(f"  raw mails before:      {_when(raw_before)}")
    click.echo(f"  tickets closed before: {_when(closed_before)}")
    _print_counts(counts)


@click.command()
@click.argument("address")
@click.option("--include-open", is_flag=True, help="Also anonymise the person's tickets that are still open.")
@click.option("--dry-run", is_flag=True, help="Count what would be erased; erase nothing.")
@click.pass_context
def forget(ctx: click.Context, address: str, include_open: bool, dry_run: bool) -> None:
    """Erase one person's data on request (LGPD), printing a report per table."""
    from gateway.store import retention

    address = address.strip().lower()
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise click.BadParameter(f"{address!r} is not an e-mail address", param_hint="ADDRESS")
    gateway = gateway_of(ctx)
    try:
        now = gateway.clock.now()
        ended, still_open = retention.person_tickets(gateway.db, address)
        if still_open and not include_open:
            listed = ", ".join(retention.protocols(gateway.db, still_open))
            click.echo(f"{address} has {len(still_open)} open ticket(s) still being handled ({listed}); "
                       "close them first, or rerun with --include-open to anonymise them too. "
                       "Nothing was erased.", err=True)
            sys.exit(1)
        anonymised = retention.protocols(gateway.db, ended + (still_open if include_open else []))
        counts = retention.forget(gateway.db, address, at=now, include_open=include_open, dry_run=dry_run)
    finally:
        gateway.close()
    if dry_run:
        click.echo("Simulação (--dry-run): nada foi apagado. Seria apagado:")
    click.echo(f"Pedido de eliminação de dados pessoais (LGPD, art. 18, VI) de {address}")
    click.echo(f"Atendido em {now.isoformat(timespec='seconds')} (UTC)." if not dry_run else "")
    click.echo(f"Chamados anonimizados: {len(anonymised)}" + (f" ({', '.join(anonymised)})" if anonymised else ""))
    click.echo("Mantidos, sem dados pessoais, para estatística: número de protocolo, caixa, categoria, "
               "situação, datas, prazos e nota da pesquisa.")
    click.echo("Registros apagados ou anonimizados, por tabela:")
    _print_counts(counts, empty="  nenhum registro com esse endereço")


def _print_counts(counts: Any, empty: str = "  nothing to do") -> None:
    if not counts:
        click.echo(empty)
    for kind, count in sorted(counts.items()):
        click.echo(f"  {LABELS.get(kind, kind)}: {count}")


def _date(text: str) -> datetime:
    """``--before``: a date (its start, UTC) or an instant with an offset."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date like 2025-01-31 or an instant like "
                                 "2025-01-31T00:00-03:00", param_hint="--before") from None
    if value.tzinfo is None:
        if len(text.strip()) > 10:
            raise click.BadParameter(f"{text!r} has no UTC offset; write e.g. 2025-01-31T00:00-03:00, or a date",
                                     param_hint="--before")
        value = value.replace(tzinfo=timezone.utc)
    return value


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "(kept: 0 days)"
