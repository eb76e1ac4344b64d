"""Commands that look at tickets."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any, Final

import click

from gateway.cli.common import REVEAL_HELP, instant, iso, reading, settings_of, ticket_reads

# Words people use for a status besides the labels the mails and pages show
# (``Status.label``, and each mailbox's ``[mailbox.status_names]``): the
# value an operator types may be any of them.
_STATUS_WORDS: Final = {
    "new": ("novo", "nova"),
    "assigned": ("atribuido", "atribuida"),
    "open": ("em atendimento", "aberto", "aberta", "em andamento"),
    "waiting": ("aguardando", "pendente"),
    "solved": ("solucao proposta", "solucionado", "validar"),
    "resolved": ("resolvido", "resolvida"),
    "accepted": ("aceito", "aceita", "homologado", "homologada"),
    "closed": ("fechado", "fechada", "encerrado", "encerrada"),
    "rejected": ("devolvido", "devolvida", "fora do escopo"),
}
_TEXT_LINES: Final = 3  # lines of each message's text in `tickets show`


def _plain(text: str) -> str:
    """"Solução proposta" and "solucao  PROPOSTA" alike."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.casefold().split())


def _names(state: str, mailbox: Any = None) -> set[str]:
    """What a person may type for a shown state (``resolved``, ``waiting``...),
    folded: the value, our labels, the words above, and ``mailbox``'s own name."""
    from gateway.tickets.states import LABELS, SHOWN_LABELS, Status, shown_label

    ours = SHOWN_LABELS[state].values() if state in SHOWN_LABELS else [labels[Status(state)]
                                                                         for labels in LABELS.values()]
    desk = [shown_label(state, mailbox.language, mailbox.state_names)] if mailbox is not None else []
    return {_plain(name) for name in (state, *ours, *_STATUS_WORDS[state], *desk)}


class StatusFilter:
    """``--status``: the stored value (``open``, ``closed``: every closed
    ticket) or what a person reads for a state, in any language the gateway
    speaks or in a mailbox's own words (``"Em andamento"``, ``novo``,
    ``"Pendente Profissional"``), case and accents ignored.  A shown state
    may be derived: ``resolvido`` is a closed ticket a reply may still reopen."""

    def __init__(self, text: str, settings: Any) -> None:
        from gateway.tickets.states import SHOWN_STATES

        self.text, self.settings, self.wanted = text, settings, _plain(text)
        states = {state for state in SHOWN_STATES if self.wanted in _names(state)}
        states |= {state for state in SHOWN_STATES for mailbox in settings.mailboxes
                   if self.wanted in _names(state, mailbox)}
        if not states:
            choices = "; ".join(f"{state} ({', '.join(self._desk_words(state))})" for state in SHOWN_STATES)
            raise click.BadParameter(f"{text!r} is not a ticket status; choose one of: {choices}",
                                     param_hint="'--status'")
        self.stored = sorted({"closed" if state in ("resolved", "accepted") else state for state in states})

    def _desk_words(self, state: str) -> list[str]:
        from gateway.tickets.states import shown_label

        words = [shown_label(state, "pt_BR")]
        words += [name for mailbox in self.settings.mailboxes
                  if (name := mailbox.state_names.get(state)) and name not in words]
        return words

    def keeps(self, ticket: Any, now: Any) -> bool:
        """Whether ``ticket`` is in the asked state as its own desk shows it at ``now``."""
        from gateway.outbound import statuses

        if self.wanted == _plain(ticket.status):
            return True
        found = self.settings.mailbox_for(ticket.mailbox)
        mailbox = found[0] if found else None
        return self.wanted in _names(statuses.shown(ticket, mailbox, now), mailbox)


@click.group()
def tickets() -> None:
    """Look at tickets."""


@tickets.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", default=None,
              help="Only tickets in this status: new, assigned, open, waiting, solved, resolved, accepted, closed, "
                   "rejected, "
                   "or its label, ours or the mailbox's [mailbox.status_names] (novo, \"em andamento\", "
                   "\"Pendente Profissional\"...).")
@click.option("--mailbox", default=None)
@click.option("--limit", default=100, show_default=True)
@click.option("--overdue", is_flag=True, help="Only open tickets past an SLA target, most overdue first.")
@click.option("--now", "now_text", default=None, metavar="ISO8601", help="With --overdue: as of this instant.")
@click.option("--reveal", is_flag=True, help=REVEAL_HELP)
@click.pass_context
def tickets_list(ctx: click.Context, as_json: bool, status: str | None, mailbox: str | None, limit: int,
                 overdue: bool, now_text: str | None, reveal: bool) -> None:
    """List tickets, newest first (or the overdue ones); personal data masked unless --reveal."""
    from gateway.clock import SystemClock
    from gateway.services import views

    settings = settings_of(ctx)
    wanted = StatusFilter(status, settings) if status else None
    now = instant(now_text) if now_text else SystemClock().now()
    if overdue:
        rows = _overdue(ctx, settings, now, mailbox=mailbox, limit=limit, reveal=reveal)
    else:
        with ticket_reads(ctx, settings) as reads:
            found = [t for stored in (wanted.stored if wanted else [None])
                     for t in reads.listing(mailbox=mailbox, status=stored, limit=limit)]
        found = sorted((t for t in found if wanted is None or wanted.keeps(t, now)), key=lambda t: -t.id)
        rows = [views.summary(t, reveal=reveal, settings=settings, now=now) for t in found[:limit]]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no tickets" + (f" with status {status}" if status else "")
                   + (f" in {mailbox}" if mailbox else ""), err=True)
        return
    click.echo(f"{'PROTOCOL':<20} {'STATUS':<28} {'REQUESTER':<32} SUBJECT")
    for row in rows:
        late = f" ATRASADO: {', '.join(row['overdue'])}" if row.get("overdue") else ""
        click.echo(f"{row['protocol']:<20} {row['status_label']:<28} {row['requester']:<32} "
                   f"{row['subject'][:60]}{late}")


def _overdue(ctx: click.Context, settings: Any, now: Any, *, mailbox: str | None, limit: int,
             reveal: bool) -> list[dict[str, Any]]:
    """``--overdue``: open tickets past an SLA target, most overdue first."""
    from gateway.services import deadlines, views
    from gateway.store import due

    with reading(ctx, settings) as tx:
        return [{**views.summary(t, reveal=reveal, settings=settings, now=now),
                 "overdue": deadlines.late_targets(t, now),
                 "first_response_due_at": iso(t.first_response_due_at),
                 "resolution_due_at": iso(t.resolution_due_at)}
                for t in due.overdue(tx, now, mailbox=mailbox, limit=limit)]


@tickets.command(name="show")
@click.argument("protocol")
@click.option("--json", "as_json", is_flag=True)
@click.option("--reveal", is_flag=True, help=REVEAL_HELP)
@click.pass_context
def tickets_show(ctx: click.Context, protocol: str, as_json: bool, reveal: bool) -> None:
    """Show one ticket: messages and events; personal data masked unless --reveal."""
    from gateway.clock import SystemClock
    from gateway.services import views

    settings = settings_of(ctx)
    with ticket_reads(ctx, settings) as reads:
        data = views.detail(reads, protocol.strip().upper(), reveal=reveal, settings=settings,
                            now=SystemClock().now())
    if data is None:
        click.echo(f"no ticket {protocol}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['protocol']}  {data['status_label']}  {data['mailbox']}\n{data['subject']}\n"
               f"requester: {data['requester']}")
    survey = data.get("survey")
    if survey:
        comment = f"  \"{survey['comment']}\"" if survey.get("comment") else ""
        click.echo(f"survey: {survey['score']}/5 at {survey['answered_at']}{comment}")
    click.echo(f"\nmessages ({len(data['messages'])}):")
    for message in data["messages"]:
        click.echo(_message_lines(message))
    click.echo(f"\nevents ({len(data['events'])}):")
    for event in data["events"]:
        click.echo(f"  {event['at']}  {event['kind']:<14} {event['actor']}  {event['note']}")


def _message_lines(message: dict[str, Any]) -> str:
    """``2026-03-02T10:15:00+00:00  in   requester  a***@example.org`` and the
    text's first lines, indented; the sender is already masked unless --reveal."""
    arrow = {"in": "in ", "out": "out"}.get(message["direction"], message["direction"])
    flags = "".join(f" [{flag}]" for flag in ("internal", "automatic") if message.get(flag))
    lines = [line for line in (message.get("text") or "").splitlines() if line.strip()]
    shown = [f"      {line[:100]}" for line in lines[:_TEXT_LINES]]
    if len(lines) > _TEXT_LINES:
        shown.append(f"      ... ({len(lines) - _TEXT_LINES} more line(s); --json for all)")
    attachments = message.get("attachments") or []
    if attachments:
        shown.append(f"      attachments: {', '.join(a['filename'] or '(unnamed)' for a in attachments)}")
    head = f"  {message['date']}  {arrow} {message['role']:<11} {message['sender']}{flags}"
    return "\n".join([head, *shown])


@click.command()
@click.argument("protocol")
@click.argument("action", type=click.Choice(["track", "accept", "refuse", "survey"]))
@click.pass_context
def link(ctx: click.Context, protocol: str, action: str) -> None:
    """Print the signed link a mail would carry for PROTOCOL and ACTION."""
    from gateway import links

    settings = settings_of(ctx)
    with ticket_reads(ctx, settings) as reads:
        ticket = reads.by_protocol(protocol.strip().upper())
        round_ = str(ticket.solution_round) if ticket is not None else ""
    if ticket is None:
        click.echo(f"no ticket {protocol}", err=True)
        sys.exit(1)
    web = settings.web
    extra = round_ if action in ("accept", "refuse") else ""
    click.echo(links.make_url(web.base_url, web.secret, ticket.protocol, action, extra))
