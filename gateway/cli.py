"""``gateway``: one thin function per command; the work is elsewhere."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, Final

import click

from gateway import logs
from gateway.config import Settings, load_settings
from gateway.errors import ConfigError

# Owner read-write, group read, others nothing: the database holds citizens'
# mails and CPFs, the outbox their answers.  Applied before any file exists.
PRIVATE_UMASK: Final = 0o027


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)


def _gateway(ctx: click.Context, settings: Settings | None = None) -> Any:
    from gateway.app import Gateway

    settings = settings or _settings(ctx)
    try:
        return Gateway(settings)
    except ConfigError as error:  # a broken rule file
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (default: $GATEWAY_CONFIG, else the embedded defaults).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """E-mail gateway for ticket-based service desks."""
    _restrict_umask()
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    logs.configure(verbose=verbose)  # personal data masked in every record, -v included


def _restrict_umask() -> None:
    """Take away at least group-write and every "others" bit from what we create.

    A service started from a shell or a unit without ``UMask=`` inherits
    022, and SQLite, the Maildir and any log file would be world-readable.
    A stricter umask inherited from the caller (077) is kept, never widened.
    """
    inherited = os.umask(PRIVATE_UMASK)
    os.umask(inherited | PRIVATE_UMASK)


def _refuse_unsafe(problems: list[ConfigError], command: str) -> None:
    """Exit 2 before anything starts if the settings are unsafe on a network
    (``gateway.safety``), naming each key and its fix."""
    if not problems:
        return
    for problem in problems:
        click.echo(f"unsafe setting: {problem}", err=True)
    click.echo(f"gateway {command}: refusing to start; fix the setting(s) above "
               "(`gateway check-config` lists them all)", err=True)
    sys.exit(2)


@main.command()
@click.option("--only", default="", help="Comma-separated roles to run: smtp, process, send, imap, schedule, web "
                                         "(default: all).")
@click.pass_context
def run(ctx: click.Context, only: str) -> None:
    """Run the gateway: listener, processing and sending in one process."""
    from gateway.app import ROLES

    roles = [r.strip() for r in only.split(",") if r.strip()] or list(ROLES)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise click.BadParameter(f"unknown role {unknown[0]!r}; expected some of {', '.join(ROLES)}", param_hint="--only")
    from gateway.safety import unsafe_settings

    settings = _settings(ctx)
    _refuse_unsafe(unsafe_settings(settings), "run")  # before a port, a file or a connection is opened
    gateway = _gateway(ctx, settings)
    _print_welcome(gateway.settings)
    try:
        asyncio.run(gateway.serve(roles))
    finally:
        gateway.close()


@main.command()
@click.option("--mailbox", default=None, help="Service address the mail is for, when the envelope does not say.")
@click.option("--sender", default="", help="Envelope sender (Postfix: ${sender}).")
@click.option("--recipient", "recipients", multiple=True, help="Envelope recipient (Postfix: ${recipient}).")
@click.option("--no-process", is_flag=True, help="Only store; leave processing to a running gateway.")
@click.pass_context
def ingest(ctx: click.Context, mailbox: str | None, sender: str, recipients: tuple[str, ...], no_process: bool) -> None:
    """Read one mail on standard input (MTA pipe). Exit 0 stored, 75 retry, 65 refused."""
    from gateway.app import Gateway
    from gateway.transports import pipe

    try:
        settings = load_settings(ctx.obj.get("config"))
        gateway = Gateway(settings)
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(pipe.EX_TEMPFAIL)  # the MTA keeps the mail while the admin fixes the config
    except Exception as error:  # database unreachable
        click.echo(f"cannot open storage: {error}", err=True)
        sys.exit(pipe.EX_TEMPFAIL)
    if mailbox and settings.mailbox_for(mailbox) is None:
        click.echo(f"--mailbox {mailbox}: no such mailbox in {settings.source}", err=True)
        sys.exit(pipe.EX_DATAERR)
    db_path = Path(gateway.db.url.database or "var/gateway.db")
    code, message = pipe.deliver(gateway.ingest, gateway.clock, stream=pipe.stdin_bytes(), mailbox=mailbox,
                                 sender=sender, recipients=recipients, max_size=settings.smtp.max_message_size,
                                 rejects=db_path.parent / "rejected")
    if code == pipe.EX_OK and not no_process:
        gateway.ingest.drain()
    gateway.close()
    click.echo(message, err=code != pipe.EX_OK)
    sys.exit(code)


@main.command()
@click.option("--once", is_flag=True, help="Drain each folder once and exit (cron, tests); without it, keep polling.")
@click.option("--mailbox", default=None, help="Only this mailbox's IMAP account (with --once).")
@click.option("--no-process", is_flag=True, help="Only store; leave processing to a running gateway.")
@click.pass_context
def poll(ctx: click.Context, once: bool, mailbox: str | None, no_process: bool) -> None:
    """Read mail from the mailboxes' IMAP accounts ([mailbox.imap]). Exit 1 if one failed."""
    from gateway.safety import unsafe_imap

    settings = _settings(ctx)
    _refuse_unsafe(unsafe_imap(settings, mailbox), "poll")
    gateway = _gateway(ctx, settings)
    pollers = gateway.imap_pollers(mailbox)
    if not pollers:
        gateway.close()
        what = f"mailbox {mailbox}" if mailbox else "any mailbox"
        click.echo(f"no [mailbox.imap] for {what} in {gateway.settings.source}", err=True)
        sys.exit(2)
    if not once:
        try:
            asyncio.run(gateway.serve(["imap", "process", "send"]))
        finally:
            gateway.close()
        return
    failed = 0
    for poller in pollers:
        try:
            result = poller.drain_once()
        except Exception as error:  # noqa: BLE001 - reported per mailbox; the others still run
            failed += 1
            click.echo(poller.describe(error), err=True)
            continue
        click.echo(f"{poller.mailbox}: took {result.accepted} mail(s), held {result.held} in quarantine")
    if not no_process:
        done = gateway.ingest.drain()
        click.echo(f"processed {done} mail(s)")
    gateway.close()
    sys.exit(1 if failed else 0)


@main.command(name="process")
@click.pass_context
def process_cmd(ctx: click.Context) -> None:
    """Process every accepted mail once, then exit."""
    gateway = _gateway(ctx)
    done = gateway.ingest.drain()
    gateway.close()
    click.echo(f"processed {done} mail(s)")


@main.command()
@click.pass_context
def send(ctx: click.Context) -> None:
    """Deliver what is due in the outbox once, then exit."""
    gateway = _gateway(ctx)
    tried = gateway.sender.run_once()
    gateway.close()
    click.echo(f"tried {tried} mail(s)")


@main.group()
def tickets() -> None:
    """Look at tickets."""


# Masking is the default because a terminal's output ends up in scrollback,
# screenshots and pasted tickets; seeing a CPF is a deliberate act.
_REVEAL_HELP: Final = ("Show CPFs, phone numbers and addresses as written "
                       "(default: masked, e.g. ***.533.447-**, (61) *****-8888).")


@tickets.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", default=None)
@click.option("--mailbox", default=None)
@click.option("--limit", default=100, show_default=True)
@click.option("--overdue", is_flag=True, help="Only open tickets past an SLA target, most overdue first.")
@click.option("--now", "now_text", default=None, metavar="ISO8601", help="With --overdue: as of this instant.")
@click.option("--reveal", is_flag=True, help=_REVEAL_HELP)
@click.pass_context
def tickets_list(ctx: click.Context, as_json: bool, status: str | None, mailbox: str | None, limit: int,
                 overdue: bool, now_text: str | None, reveal: bool) -> None:
    """List tickets, newest first (or the overdue ones); personal data masked unless --reveal."""
    from gateway.services import deadlines, views
    from gateway.store import due
    from gateway.store import tickets as store

    gateway = _gateway(ctx)
    now = _instant(now_text) if now_text else gateway.clock.now()
    with gateway.db.transaction() as tx:
        if overdue:
            rows = [{**views.summary(t, reveal=reveal), "overdue": deadlines.late_targets(t, now),
                     "first_response_due_at": _iso(t.first_response_due_at),
                     "resolution_due_at": _iso(t.resolution_due_at)}
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


@main.command()
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="Act as the scheduler would at this instant (default: the clock), e.g. 2026-11-25T18:00-03:00.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sweep(ctx: click.Context, now_text: str | None, as_json: bool) -> None:
    """Run every due deadline once (reminders, closures, SLA warnings), then exit. Cron can call it."""
    from gateway.app import Gateway
    from gateway.clock import FixedClock

    settings = _settings(ctx)
    gateway = Gateway(settings, FixedClock(_instant(now_text)) if now_text else None)
    try:
        results = gateway.sweep_all()
    finally:
        gateway.close()
    if as_json:
        click.echo(json.dumps([{"now": r.now.isoformat(), "found": r.found, "acted": r.acted, "skipped": r.skipped,
                                "failed": r.failed, "done": dict(r.done)} for r in results], indent=2))
    else:
        for result in results:
            click.echo(result.summary())
    sys.exit(1 if any(r.failed for r in results) else 0)


def _instant(text: str) -> Any:
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 instant like 2026-11-25T18:00-03:00",
                                 param_hint="--now") from None
    if value.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no UTC offset; write e.g. 2026-11-25T18:00-03:00 or ...Z",
                                 param_hint="--now")
    return value


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


@tickets.command(name="show")
@click.argument("protocol")
@click.option("--json", "as_json", is_flag=True)
@click.option("--reveal", is_flag=True, help=_REVEAL_HELP)
@click.pass_context
def tickets_show(ctx: click.Context, protocol: str, as_json: bool, reveal: bool) -> None:
    """Show one ticket: messages and events; personal data masked unless --reveal."""
    from gateway.services import views

    gateway = _gateway(ctx)
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


@main.command(name="hash-password")
@click.argument("address")
@click.password_option(prompt="Password", confirmation_prompt=True)
def hash_password_cmd(address: str, password: str) -> None:
    """Print a credentials line for ADDRESS (for [submission] credentials_file)."""
    from gateway.credentials import hash_password

    click.echo(f"{address.strip().lower()}:{hash_password(password)}")


@main.command()
@click.argument("protocol")
@click.argument("action", type=click.Choice(["track", "accept", "refuse", "survey"]))
@click.pass_context
def link(ctx: click.Context, protocol: str, action: str) -> None:
    """Print the signed link a mail would carry for PROTOCOL and ACTION."""
    from gateway import links
    from gateway.store import tickets as store

    gateway = _gateway(ctx)
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


@main.group()
def quarantine() -> None:
    """Mails the pipeline could not handle, kept with their reason."""


@quarantine.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_list(ctx: click.Context, as_json: bool) -> None:
    """Quarantined mails with their reasons; personal data in a reason (an error quoting a subject) masked."""
    from gateway.store import inbox
    from gateway.tickets.fields import mask_personal_data_in

    gateway = _gateway(ctx)
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

    gateway = _gateway(ctx)
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


def _migrate_options(function: Any) -> Any:
    from gateway.migrate.command import options

    return options(function)


@main.command()
@_migrate_options
@click.pass_context
def migrate(ctx: click.Context, source: str, mailbox_address: str, **values: Any) -> None:
    """Import a legacy mailbox (mbox, Maildir, folder of .eml, imap[s]:// URL) into tickets."""
    from gateway.migrate.command import run as run_migration

    sys.exit(run_migration(_settings(ctx), source, mailbox_address, **values))


@main.command(name="check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the config and the templates; exit non-zero naming what is wrong."""
    from gateway.outbound.render import Renderer, sample_context
    from gateway.safety import unsafe_settings

    settings = _settings(ctx)
    try:
        renderer = Renderer(settings.templates.path or None)
        for mailbox in settings.mailboxes:
            for name in renderer.names(mailbox.language):
                if not name.startswith("_"):
                    renderer.render(name, language=mailbox.language, mailbox=mailbox.address,
                                    context=sample_context(mailbox.protocol_prefix, mailbox.display_name,
                                                           mailbox.address))
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    except Exception as error:  # a template that does not render
        click.echo(f"template error: {type(error).__name__}: {error}", err=True)
        sys.exit(2)
    problems = _check_rules(settings, renderer)
    for problem in problems:
        click.echo(f"rules error: {problem}", err=True)
    unsafe = unsafe_settings(settings)
    for error in unsafe:
        click.echo(f"unsafe setting: {error}", err=True)
    if problems or unsafe:
        sys.exit(2)
    click.echo(f"{settings.source}: OK ({len(settings.mailboxes)} mailbox(es))")


def _check_rules(settings: Settings, renderer: Any) -> list[str]:
    """Every mailbox's rule file, loaded and its templates rendered; one line per broken file."""
    from gateway.rules.loader import load_rules
    from gateway.services.rulebook import check_templates

    problems = []
    for mailbox in settings.mailboxes:
        if not mailbox.rules:
            continue
        try:
            ruleset = load_rules(mailbox.rules)
            check_templates(ruleset, mailbox, renderer)
        except ConfigError as error:
            problems.append(f"{mailbox.address}: {error}")
            continue
        click.echo(f"{mailbox.address}: {ruleset.source}: {len(ruleset.rules)} rule(s), {ruleset.mode} match")
    return problems


@main.command()
@click.argument("mail_file", type=click.File("rb"))
@click.option("--mailbox", default=None, help="Service address the mail is for (else its To/Cc decide).")
@click.option("--sender", default="", help="Envelope sender, when it matters.")
@click.option("--via", type=click.Choice(["public", "mta"]), default="public", show_default=True,
              help="Judge the mail as arriving from the public Internet, or through the MTA in front "
                   "(whose Authentication-Results then count).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def explain(ctx: click.Context, mail_file: Any, mailbox: str | None, sender: str, via: str, as_json: bool) -> None:
    """Show what the pipeline would do with MAIL_FILE (- for stdin), changing nothing."""
    from gateway.explain import as_text, explain as explain_mail

    settings = _settings(ctx)
    if mailbox and settings.mailbox_for(mailbox) is None:
        click.echo(f"--mailbox {mailbox}: no such mailbox in {settings.source}", err=True)
        sys.exit(2)
    gateway = _gateway(ctx)
    try:
        report = explain_mail(gateway, mail_file.read(), mailbox=mailbox, sender=sender,
                              via="pipe" if via == "mta" else "explain")
    finally:
        gateway.close()
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else as_text(report))


def _print_welcome(settings: Settings) -> None:
    smtp, mailbox = settings.smtp, settings.mailboxes[0]
    where = settings.outbound.path if settings.outbound.mode == "maildir" else f"{settings.outbound.host}:{settings.outbound.port}"
    click.echo(f"""
Ticket gateway listening on {smtp.host}:{smtp.port} ({'LMTP' if smtp.lmtp else 'SMTP'}), storage {settings.storage.url}
Mailbox: {mailbox.display_name} <{mailbox.address}> (protocol prefix {mailbox.protocol_prefix})

Send a first mail:
  swaks --server {smtp.host}:{smtp.port} --from ana@example.org --to {mailbox.address} \\
        --header 'Subject: Erro no cadastro' --body 'Não consigo incluir o profissional.'
or, with Python only:
  python3 -c "import smtplib; smtplib.SMTP('{smtp.host}', {smtp.port}).sendmail('ana@example.org', \\
        ['{mailbox.address}'], 'Subject: Erro no cadastro\\n\\nNao consigo incluir o profissional.')"

The acknowledgement and the team notification appear in {where}{'/new/' if settings.outbound.mode == 'maildir' else ''}.
Then: gateway tickets list   (stop with Ctrl-C)
Pages: {settings.web.base_url}/consulta (look-up; the mails carry the tracking and answer links)
""")
