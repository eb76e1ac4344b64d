"""``gateway digest``: the daily digest by hand, or printed."""

from __future__ import annotations

import click

from gateway.cli.common import gateway_of, instant, settings_of


@click.command()
@click.option("--mailbox", default=None, metavar="ADDR", help="Only this mailbox (default: all with a digest).")
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="As of this instant (default: the clock), e.g. 2026-12-07T08:00-03:00.")
@click.option("--dry-run", is_flag=True, help="Print the digests as of now; queue nothing, record nothing.")
@click.option("--force", is_flag=True,
              help="Queue now, even on a day off, before the mailbox's digest time or if already sent today.")
@click.pass_context
def digest(ctx: click.Context, mailbox: str | None, now_text: str | None, dry_run: bool, force: bool) -> None:
    """Queue each mailbox's daily digest if it is due (a business day, at or
    after its `digest` time, not yet sent that day), as the scheduler does;
    the sender (`gateway run` or `gateway send`) delivers it."""
    from gateway.services.digest import Digests, mailboxes_of

    settings = settings_of(ctx)
    try:
        chosen = mailboxes_of(settings, mailbox)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--mailbox") from None
    if mailbox is None:
        chosen = [m for m in chosen if m.digest or dry_run or force]
    gateway = gateway_of(ctx, settings)
    now = instant(now_text) if now_text else gateway.clock.now()
    digests = Digests(settings, gateway.renderer)
    try:
        for box in chosen:
            if dry_run:
                with gateway.db.reading() as tx:
                    mails = digests.compose(tx, box, now)
                for mail in mails:
                    click.echo(f"To: {', '.join(mail.to)}\nSubject: {mail.parts.subject}\n\n{mail.parts.text}")
                if not mails:
                    click.echo(f"{box.address}: nothing to list")
                continue
            if not (force or box.digest):
                click.echo(f"{box.address}: no digest set ([[mailbox]] digest); --force sends one anyway")
                continue
            with gateway.db.transaction() as tx:
                mails = digests.send_due(tx, box, now, force=force)
            click.echo(f"{box.address}: {_what(len(mails), force=force, due=digests.due_day(box, now) is not None)}")
    finally:
        gateway.close()


def _what(queued: int, *, force: bool, due: bool) -> str:
    if queued:
        return f"queued {queued} digest(s)"
    if force or due:
        return "nothing to list, or already sent today; nothing queued"
    return "not due (a day off, or before its digest time); nothing queued"
