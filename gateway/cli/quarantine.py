"""Commands for the mails the pipeline could not handle."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Final

import click

from gateway.cli.common import REVEAL_HELP, gateway_of, list_inbox_rows

log = logging.getLogger("gateway.quarantine")

# The headers `quarantine show` summarises; the rest stay in the raw mail.
_SHOWN_HEADERS: Final = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "Auto-Submitted", "Content-Type")


@click.group()
def quarantine() -> None:
    """Mails the pipeline could not handle, kept with their reason."""


@quarantine.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_list(ctx: click.Context, as_json: bool) -> None:
    """Quarantined mails with their reasons; personal data in a reason (an error quoting a subject) masked."""
    from gateway.store import inbox

    list_inbox_rows(ctx, lambda tx: [{"id": q.id, "inbox_id": i.id, "step": q.step, "reason": q.reason,
                                      "at": q.created_at.isoformat(), "message_id": i.message_id,
                                      "mail_from": i.mail_from} for q, i in inbox.quarantined(tx)],
                    as_json, lambda row: f"#{row['id']:<5} inbox #{row['inbox_id']:<6} [{row['step']}] {row['reason']}")


@quarantine.command(name="show")
@click.argument("quarantine_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--raw", is_flag=True, help="Write the mail's raw bytes to stdout instead "
                                          "(e.g. `gateway quarantine show 3 --raw | gateway explain -`).")
@click.option("--reveal", is_flag=True, help=REVEAL_HELP)
@click.pass_context
def quarantine_show(ctx: click.Context, quarantine_id: int, as_json: bool, raw: bool, reveal: bool) -> None:
    """One quarantined mail: why (step and reason), its headers, its size and where its raw bytes are."""
    from gateway.config.checks import masked_url
    from gateway.store import inbox
    from gateway.tickets.fields import mask_personal_data_in

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        found = inbox.quarantine_entry(tx, quarantine_id)
        if found is not None:
            entry, mail = found
            data: dict[str, Any] = {
                "id": entry.id, "inbox_id": mail.id, "state": _state(entry.released_at, mail.status),
                "step": entry.step, "reason": entry.reason, "at": entry.created_at.isoformat(),
                "released_at": entry.released_at.isoformat() if entry.released_at else None,
                "received_at": mail.received_at.isoformat(), "via": mail.via, "peer": mail.peer,
                "mail_from": mail.mail_from, "rcpt_tos": list(mail.rcpt_tos or []), "size": mail.size,
                "message_id": mail.message_id, "headers": _headers(mail.raw),
                "raw": f"table inbox_raw, inbox_id {mail.id}, in {masked_url(gateway.settings.storage.url)}"
                       if mail.raw else "deleted (discarded)",
                "note": mail.reason if mail.status == "discarded" else None,  # who discarded it, when
            }
            raw_bytes = bytes(mail.raw or b"")
    gateway.close()
    if found is None:
        click.echo(f"no quarantined mail #{quarantine_id}; `gateway quarantine list` shows them", err=True)
        sys.exit(1)
    if raw:
        if not raw_bytes:
            click.echo(f"quarantined mail #{quarantine_id} was discarded; its raw bytes are gone", err=True)
            sys.exit(1)
        click.get_binary_stream("stdout").write(raw_bytes)
        return
    if not reveal:
        data = mask_personal_data_in(data, except_keys=frozenset({"message_id", "Message-ID", "raw"}))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"quarantine #{data['id']} ({data['state']}), inbox #{data['inbox_id']}, {data['at']}\n"
               f"step: {data['step']}\nreason: {data['reason']}\n"
               f"received: {data['received_at']} via {data['via']} from {data['peer'] or '-'}\n"
               f"envelope: {data['mail_from'] or '<>'} -> {', '.join(data['rcpt_tos']) or '-'}\n"
               f"size: {data['size']} bytes\nraw mail: {data['raw']}"
               + (f"\n{data['note']}" if data["note"] else ""))
    for name, value in data["headers"].items():
        click.echo(f"  {name}: {value}")


@quarantine.command(name="discard")
@click.argument("quarantine_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def quarantine_discard(ctx: click.Context, quarantine_id: int, yes: bool) -> None:
    """Give up on a quarantined mail: its raw bytes are deleted; the reason, who and when are kept."""
    from gateway.store import inbox

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        found = inbox.quarantine_entry(tx, quarantine_id)
        pending = found is not None and found[0].released_at is None
        size = found[1].size if found is not None else 0
    if not pending:
        gateway.close()
        click.echo(f"no quarantined mail #{quarantine_id} waiting; `gateway quarantine list` shows them", err=True)
        sys.exit(1)
    if not yes and not click.confirm(f"Discard quarantined mail #{quarantine_id} ({size} bytes)? "
                                     "Its raw bytes are deleted for good", default=False):
        gateway.close()
        click.echo("not discarded", err=True)
        sys.exit(1)
    now = gateway.clock.now()
    note = f"discarded by {_operator()} at {now.isoformat()}"
    with gateway.db.transaction() as tx:
        row = inbox.discard(tx, quarantine_id, now, note)
    gateway.close()
    if row is None:  # released or discarded meanwhile by someone else
        click.echo(f"quarantined mail #{quarantine_id} was handled meanwhile; nothing discarded", err=True)
        sys.exit(1)
    log.warning("quarantine #%d (inbox #%d) %s", quarantine_id, row.id, note)
    click.echo(f"quarantine #{quarantine_id} (inbox #{row.id}): {note}")


@quarantine.command(name="release")
@click.argument("quarantine_id", type=int)
@click.pass_context
def quarantine_release(ctx: click.Context, quarantine_id: int) -> None:
    """Process a quarantined mail again (after fixing what stopped it). Exit 1 if it is quarantined again."""
    from gateway.pipeline.context import Outcome
    from gateway.store import inbox
    from gateway.tickets.fields import mask_personal_data

    gateway = gateway_of(ctx)
    with gateway.db.transaction() as tx:
        row = inbox.release(tx, quarantine_id, gateway.clock.now())
        found = inbox.quarantine_entry(tx, quarantine_id) if row is None else None
    if row is None:
        gateway.close()
        if found is not None and found[0].released_at is not None:  # a second release would process it twice
            how = "discarded" if found[1].status == "discarded" else "released"
            click.echo(f"quarantined mail #{quarantine_id} was already {how} at {found[0].released_at.isoformat()}; "
                       f"nothing done (`gateway quarantine show {quarantine_id}`)", err=True)
        else:
            click.echo(f"no quarantined mail #{quarantine_id}; `gateway quarantine list` shows them", err=True)
        sys.exit(1)
    result = gateway.ingest.process_one(row.id)
    again = None
    if result is not None and result.outcome is Outcome.QUARANTINED:
        with gateway.db.transaction() as tx:
            again = max((q.id for q, i in inbox.quarantined(tx) if i.id == row.id), default=None)
    gateway.close()
    reason = mask_personal_data(result.reason) if result else ""
    if result is not None and result.outcome is Outcome.QUARANTINED:
        where = f" as #{again}" if again is not None else ""
        click.echo(f"inbox #{row.id}: quarantined again{where}: {reason}", err=True)
        sys.exit(1)
    click.echo(f"inbox #{row.id}: {result.outcome.value if result else 'taken by another worker meanwhile'}"
               f"{': ' + reason if reason else ''}")


def _state(released_at: Any, status: str) -> str:
    if released_at is None:
        return "waiting"
    return "discarded" if status == "discarded" else "released"


def _headers(raw: bytes | None) -> dict[str, str]:
    """The summary headers, decoded (RFC 2047), each on one line; a header
    that does not decode is shown as written."""
    from email import policy
    from email.parser import BytesHeaderParser

    if not raw:
        return {}
    decoded = BytesHeaderParser(policy=policy.default).parsebytes(bytes(raw))
    written = BytesHeaderParser(policy=policy.compat32).parsebytes(bytes(raw))
    shown = {}
    for name in _SHOWN_HEADERS:
        try:
            values = [str(value) for value in decoded.get_all(name) or []]
        except Exception:  # noqa: BLE001 - a malformed header is shown as written, not fatal
            values = [str(value) for value in written.get_all(name) or []]
        if values:
            shown[name] = " ".join("; ".join(values).split())[:300]
    return shown


def _operator() -> str:
    """Who ran the command, for the audit note (the login name, else the uid)."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
