"""Apply a routed mail: open a ticket, add a follow-up, relay an analyst.

Each function runs inside the caller's transaction and writes the ticket
rows, the timeline and the outbox together, so either all of a mail's
effects exist or none do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.config import MailboxConfig, Settings
from gateway.mail.headers import clean
from gateway.mail.parsed import Attachment, ParsedMail
from gateway.mail.quotes import reply_text
from gateway.mail.ids import new_message_id
from gateway.outbound import compose
from gateway.outbound.compose import FileToSend
from gateway.outbound.notices import Notifier
from gateway.rules.ruling import Ruling
from gateway.schedule.mailboxes import deadline
from gateway.services.actions import Actions
from gateway.services.rulings import Rulings, listed
from gateway.services.types import SENDER_UNCHECKED, Role, SenderCheck
from gateway.store import counters, outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import lifecycle
from gateway.tickets.answers import read_survey_answer
from gateway.tickets.commands import CommandName, parse_commands
from gateway.tickets.protocol import Protocol
from gateway.tickets.states import Status

_ZONE = ZoneInfo("America/Sao_Paulo")
NO_SUBJECT = "(sem assunto)"
_EXCERPT = 300  # characters of a forger's text shown to the team
_POSTMASTER_PER_HOUR = 60
# Commands whose text goes somewhere else than a plain relay.
_TEXT_COMMANDS = frozenset({CommandName.ASK, CommandName.SOLVE, CommandName.REJECT, CommandName.CLOSE,
                            CommandName.NOTE})


@dataclass(frozen=True)
class Incoming:
    """One processed mail as the services need it."""

    mail: ParsedMail
    inbox_id: int
    mailbox: MailboxConfig
    sender: str
    at: datetime
    automatic: bool = False
    bounce: bool = False
    ruling: Ruling | None = None  # what the mailbox's rules decided (apply_rules)
    # Whether the From is proven enough for a requester's decision ([auth]
    # requester_decisions); a callable, asked only when the mail holds one.
    check_sender: Callable[[], SenderCheck] = field(default=lambda: SENDER_UNCHECKED, repr=False)

    def passes_on(self, index: int) -> bool:
        """Whether attachment ``index`` may go to the team (the rules' attachment policy)."""
        return self.ruling is None or self.ruling.passes_on(index)

    def passed_on(self) -> list[Attachment]:
        return [a for index, a in enumerate(self.mail.attachments) if self.passes_on(index)]


class Intake:
    def __init__(self, settings: Settings, notifier: Notifier) -> None:
        self.settings = settings
        self.notifier = notifier
        self.actions = Actions(settings, notifier)
        self.rulings = Rulings(settings, self.actions)

    def open_ticket(self, tx: Transaction, incoming: Incoming, *, previous: TicketRow | None = None,
                    previous_reason: str = "") -> TicketRow:
        mail, mailbox, now = incoming.mail, incoming.mailbox, incoming.at
        # Queries before the inserts: each query would flush what is pending.
        ack = not incoming.automatic and self._ack_allowed(tx, incoming.sender, now)
        forged = not incoming.automatic and incoming.check_sender().failed
        year = now.astimezone(_ZONE).year
        protocol = Protocol(mailbox.protocol_prefix, year, tickets.next_sequence(tx, mailbox.protocol_prefix, year))
        ticket = tickets.add_ticket(
            tx, protocol=str(protocol), mailbox=mailbox.address, status=Status.NEW.value,
            requester=incoming.sender, requester_name=clean(mail.from_name, limit=200),
            subject=clean(mail.subject) or NO_SUBJECT,
            language=mailbox.language, created_at=now, updated_at=now,
            linked_ticket_id=previous.id if previous else None,
            before_insert=lambda new: self.actions.refresh_deadlines(new, now))  # the SLA targets of a new ticket
        self._store_message(tx, ticket, incoming, role=Role.REQUESTER, text=mail.text)
        tickets.add_participants(tx, ticket.id, self._others(mail, incoming.sender, mailbox), new=True)
        tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="created", to_status=Status.NEW.value,
                          note=f"linked to {previous.protocol}" if previous else "")
        if previous is not None:
            tickets.add_event(tx, previous, at=now, actor="gateway", kind="note",
                              note=f"{previous_reason}; opened {ticket.protocol}")
        plan = self.rulings.decide_new(tx, ticket, incoming)
        if incoming.automatic:
            tickets.add_event(tx, ticket, at=now, actor="gateway", kind="ack_skipped",
                              note="automatic mail: no acknowledgement (RFC 3834)")
        elif forged:
            # Answering would mail the sender's words, under our name, to
            # whoever they wrote in From: the backscatter spammers use desks for.
            tickets.add_event(tx, ticket, at=now, actor="gateway", kind="ack_skipped",
                              note=f"the MTA did not confirm the sender ({incoming.check_sender().why}): "
                                   "no automatic answer to a From that is likely forged")
        elif ack and plan.acknowledge:
            self.notifier.queue(tx, kind="ack", ticket=ticket, mailbox=mailbox, to=[incoming.sender], now=now,
                                in_reply_to=mail.message_id, references=_thread(mail))
        elif not ack:
            tickets.add_event(tx, ticket, at=now, actor="gateway", kind="ack_skipped",
                              note=f"more than {self.settings.limits.acks_per_sender_per_hour} acknowledgements "
                                   f"to {incoming.sender} in one hour")
        if not forged:
            self.rulings.answer(tx, ticket, incoming)
        headline = plan.headline
        if forged:
            headline = "\n".join(line for line in (
                "ATENÇÃO: o servidor de e-mail não confirmou o remetente; nenhuma resposta automática foi enviada.",
                headline) if line)
        self._tell_team(tx, "team_new", ticket, incoming, text=mail.text, thread=[], headline=headline)
        return ticket

    def add_follow_up(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, role: Role,
                      match_reason: str) -> tuple[TicketRow, bool]:
        """Add a requester's or participant's mail; returns (the ticket it
        landed in, whether that ticket is new).

        A closed ticket takes a survey answer, or reopens within the
        mailbox's window; otherwise the mail opens a new ticket linked to it.
        """
        mail, now = incoming.mail, incoming.at
        text = reply_text(mail.text) if mail.text else ""
        if ticket.status == Status.CLOSED.value and not incoming.automatic:
            landed = self._reply_to_closed(tx, ticket, incoming, text=text, role=role)
            if landed is not None:
                return landed, landed is not ticket
        self._store_message(tx, ticket, incoming, role=role, text=text)
        ticket.updated_at = now
        if incoming.automatic:
            kind = "bounce" if incoming.bounce else "automatic_mail"
            tickets.add_event(tx, ticket, at=now, actor=incoming.sender or "MAILER-DAEMON", kind=kind,
                              note=f"stored, no state change ({match_reason})")
            return ticket, False
        if incoming.check_sender().ok:  # an unproven From must not bring strangers into the ticket by Cc
            tickets.add_participants(tx, ticket.id, self._others(mail, ticket.requester, incoming.mailbox))
        tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="follow_up", note=f"matched by {match_reason}")
        ruled = self.rulings.on_follow_up(tx, ticket, incoming)
        headline = self.actions.requester_reply(tx, ticket, incoming.mailbox, text, sender=incoming.sender,
                                                role=role, at=now, check_sender=incoming.check_sender)
        self._tell_team(tx, "team_followup", ticket, incoming, text=text,
                        headline="\n".join(line for line in (headline, ruled) if line))
        return ticket, False

    def _reply_to_closed(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, text: str,
                         role: Role) -> TicketRow | None:
        """Survey answer, reopening, or a new linked ticket; None: none of
        them applies and the mail is an ordinary follow-up (reopened)."""
        mailbox, now = incoming.mailbox, incoming.at
        closed_at = ticket.closed_at or ticket.updated_at
        survey = read_survey_answer(text) if role is Role.REQUESTER else None
        if (survey is not None and ticket.closed_reason in ("accepted", "auto_accepted")
                and now <= deadline(mailbox, closed_at, mailbox.survey_window)):
            self._store_message(tx, ticket, incoming, role=role, text=text)
            check = incoming.check_sender()
            if check.ok:
                self.actions.record_survey(tx, ticket, survey.score, survey.comment, actor=incoming.sender, at=now)
            else:
                self.actions.confirm_decision(tx, ticket, mailbox, at=now, sender=incoming.sender,
                                              decision="survey", why=check.why, score=survey.score)
            return ticket
        if mailbox.reopen_window is not None and now <= deadline(mailbox, closed_at, mailbox.reopen_window):
            check = incoming.check_sender()
            if role is Role.REQUESTER and check.ok:
                self.actions.apply(tx, ticket, lifecycle.reopen(Status.CLOSED), actor=incoming.sender, at=now)
                return None
            # Reopening is the requester's decision too: a participant's
            # mail, or one whose From the MTA did not confirm, stays on the
            # closed ticket for a person to judge.
            self._store_message(tx, ticket, incoming, role=role, text=text)
            tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="decision_unconfirmed",
                              note=f"reopen by mail not applied: {check.why if not check.ok else 'not the requester'}")
            self._tell_team(tx, "team_followup", ticket, incoming, text=text, headline=(
                "Chegou uma mensagem no chamado fechado, mas ele não foi reaberto: o remetente não é o solicitante "
                "ou não foi confirmado pelo servidor de e-mail. Se for o caso, responda ao solicitante."))
            return ticket
        return self.open_ticket(tx, incoming, previous=ticket,
                                previous_reason="the requester wrote again after the ticket was closed")

    def analyst_mail(self, tx: Transaction, ticket: TicketRow, incoming: Incoming) -> None:
        """An analyst answered from their own client.  Commands change the
        ticket; plain text is relayed to the requester under the service's
        name, never with the analyst's address."""
        mail, now, mailbox, analyst = incoming.mail, incoming.at, incoming.mailbox, incoming.sender
        parsed = parse_commands(reply_text(mail.text) if mail.text else "")
        if parsed.problems:
            self._store_message(tx, ticket, incoming, role=Role.ANALYST, text=parsed.body, internal=True)
            problems = [{"line": p.line, "text": p.text, "problem": p.problem} for p in parsed.problems]
            tickets.add_event(tx, ticket, at=now, actor=analyst, kind="command_rejected",
                              note="; ".join(f"linha {p['line']}: {p['problem']}" for p in problems))
            self.actions.to_analyst(tx, ticket, mailbox, "command_errors", analyst, now, problems=problems)
            return
        done, problem = self.actions.analyst_commands(tx, ticket, mailbox, parsed, analyst=analyst, at=now)
        if problem is not None:
            self._store_message(tx, ticket, incoming, role=Role.ANALYST, text=parsed.body, internal=True)
            tickets.add_event(tx, ticket, at=now, actor=analyst, kind="command_rejected", note=problem)
            self.actions.to_analyst(tx, ticket, mailbox, "command_errors", analyst, now,
                                    problems=[{"line": 1, "text": "", "problem": problem}])
            return
        consumed = set(parsed.names()) & _TEXT_COMMANDS
        self._store_message(tx, ticket, incoming, role=Role.ANALYST, text=parsed.body,
                            internal=CommandName.NOTE in consumed or not parsed.body.strip())
        if parsed.body.strip() and not consumed:
            if (taken := lifecycle.take_up(Status(ticket.status))) is not None:
                self.actions.apply(tx, ticket, taken, actor=analyst, at=now)
            tickets.add_event(tx, ticket, at=now, actor=analyst, kind="analyst_reply", note="relayed to requester")
            thread = tickets.thread_for(tx, ticket.id, ours_only=False)
            self.notifier.queue(tx, kind="analyst_reply", ticket=ticket, mailbox=mailbox, to=[ticket.requester],
                                now=now, context={"text": parsed.body.strip()},
                                in_reply_to=thread[-1] if thread else None, references=thread,
                                attachments=_files(mail.attachments), auto_submitted=None, role=Role.ANALYST.value)
            done.append("resposta enviada ao solicitante")
        if parsed.commands:
            self.actions.to_analyst(tx, ticket, mailbox, "command_done", analyst, now, done=done)

    def warn_forged(self, tx: Transaction, ticket: TicketRow | None, incoming: Incoming) -> bool:
        """A mail claims an analyst address without proof: never obeyed or
        relayed.  The ticket it names gets an event, and its team a short
        warning, at most ``forged_warnings_per_sender_per_hour`` per claimed
        address (one forger must not flood the team, nor carry their text
        to it at length).  Returns whether the team was told."""
        if ticket is None:
            return False
        mailbox, claimed = incoming.mailbox, incoming.sender
        tickets.add_event(tx, ticket, at=incoming.at, actor=claimed or "gateway", kind="forged_analyst",
                          note="mail in an analyst's name without proof: quarantined, not obeyed")
        limit = self.settings.limits.forged_warnings_per_sender_per_hour
        if not mailbox.team or counters.bump(tx, f"forged:{claimed}", at=incoming.at) > limit:
            return False
        excerpt = " ".join(incoming.mail.text.split())
        self.notifier.queue(tx, kind="forged_warning", ticket=ticket, mailbox=mailbox, to=list(mailbox.team),
                            now=incoming.at, auto_submitted="auto-generated",
                            context={"claimed": claimed, "limit": limit,
                                     "excerpt": excerpt[:_EXCERPT] + ("…" if len(excerpt) > _EXCERPT else "")})
        return True

    def colleague_note(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, proof: str) -> None:
        """A proven analyst of another mailbox wrote on this ticket: their
        text is kept as an internal note for the ticket's team, nothing in
        it is obeyed or relayed, and they are told why."""
        mail, now = incoming.mail, incoming.at
        text = reply_text(mail.text) if mail.text else ""
        self._store_message(tx, ticket, incoming, role=Role.COLLEAGUE, text=text, internal=True)
        tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="colleague_note",
                          note=f"{proof}; not an analyst of {incoming.mailbox.address}: kept as a note, "
                               "no command obeyed")
        problem = (f"você não é analista de {incoming.mailbox.address}, a caixa deste chamado; a mensagem foi "
                   "registrada como nota interna e nenhum comando foi executado" if ticket.language != "en" else
                   f"you are no analyst of {incoming.mailbox.address}, which this request belongs to; your "
                   "message was kept as an internal note and no command was run")
        self.actions.to_analyst(tx, ticket, incoming.mailbox, "command_errors", incoming.sender, now,
                                problems=[{"line": 1, "text": "", "problem": problem}])

    def forward_postmaster(self, tx: Transaction, mail: ParsedMail, raw: bytes, *, to: str,
                           rcpt_tos: Iterable[str], at: datetime) -> tuple[bool, str]:
        """Hand mail for postmaster@/abuse@ to the person who reads it (RFC
        5321 4.5.1), the original attached; no ticket, no answer.  Returns
        (forwarded, what happened).  Capped per hour: the address is public
        and spam to it must not become a flood to a person."""
        written = ", ".join(sorted(set(rcpt_tos)))
        if counters.bump(tx, "postmaster", at=at) > _POSTMASTER_PER_HOUR:
            return False, f"mail to {written}: more than {_POSTMASTER_PER_HOUR} this hour; kept, not forwarded"
        mailbox = self.settings.mailboxes[0]
        sender = f"postmaster@{mailbox.domain}"
        parts = self.notifier.renderer.render("postmaster_forward", language=mailbox.language, mailbox=mailbox.address,
                                              context={"written": written, "sender": mail.from_addr,
                                                       "subject": clean(mail.subject) or NO_SUBJECT})
        message_id = new_message_id("postmaster", mailbox.domain)
        envelope = compose.Envelope(from_name=f"postmaster {mailbox.domain}", from_address=sender, to=[to],
                                    message_id=message_id, date=at, auto_submitted="auto-generated",
                                    language=mailbox.language)
        original = FileToSend("mensagem-original.eml", "message/rfc822", raw)
        outbox.add(tx, ticket_id=None, kind="postmaster", message_id=message_id, mail_from=sender, rcpt_tos=[to],
                   raw=compose.message(parts, envelope, [original]), at=at)
        return True, f"mail to {written}: forwarded to {to}, no ticket"

    def _store_message(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, role: Role,
                       text: str, internal: bool = False) -> None:
        mail = incoming.mail
        tickets.add_message(
            tx, ticket, inbox_id=incoming.inbox_id, direction="in", role=role.value, sender=incoming.sender,
            sent_at=mail.date or incoming.at, subject=clean(mail.subject), text=text, message_id=mail.message_id,
            automatic=incoming.automatic, internal=internal,
            attachments=[{"filename": a.filename, "declared_type": a.declared_type, "sniffed_type": a.sniffed_type,
                          "size": a.size, "sha256": hashlib.sha256(a.data).hexdigest(),
                          "passed_on": incoming.passes_on(index)} for index, a in enumerate(mail.attachments)])
        tickets.add_thread_ref(tx, mail.message_id, ticket.id, ours=False)

    def _tell_team(self, tx: Transaction, kind: str, ticket: TicketRow, incoming: Incoming, *, text: str,
                   headline: str = "", thread: list[str] | None = None) -> None:
        mailbox = incoming.mailbox
        team = [*mailbox.team, *([ticket.assignee] if ticket.assignee and ticket.assignee not in mailbox.team else [])]
        if not team:
            return
        team_thread = thread if thread is not None else tickets.thread_for(tx, ticket.id, ours_only=True,
                                                                           kinds=("team_new",))
        names, more = listed([a.filename for a in incoming.passed_on()])
        self.notifier.queue(
            tx, kind=kind, ticket=ticket, mailbox=mailbox, to=team, now=incoming.at,
            context={"text": text, "sender": incoming.sender, "sender_name": clean(incoming.mail.from_name, limit=200),
                     "attachments": names, "attachments_more": more, "headline": headline},
            reply_to=mailbox.address_with_token(ticket.protocol),
            in_reply_to=team_thread[-1] if team_thread else None, references=team_thread,
            attachments=_files(incoming.passed_on()), auto_submitted="auto-generated",
            from_name=f"{incoming.mail.from_name or incoming.sender} via {mailbox.display_name}")

    def _ack_allowed(self, tx: Transaction, sender: str, now: datetime) -> bool:
        sent = outbox.count_recent(tx, rcpt=sender, kind="ack", since=now - timedelta(hours=1))
        return sent < self.settings.limits.acks_per_sender_per_hour

    def _others(self, mail: ParsedMail, requester: str, mailbox: MailboxConfig) -> set[str]:
        excluded = {requester, *self.settings.own_addresses, *mailbox.team, *mailbox.analysts}
        return {a for a in (*mail.to, *mail.cc) if a and a not in excluded and "+" not in a.split("@")[0]}


def _thread(mail: ParsedMail) -> list[str]:
    return [*mail.references, *([mail.message_id] if mail.message_id else [])]


def _files(attachments: Iterable[Attachment]) -> list[FileToSend]:
    return [FileToSend(a.filename or "anexo", a.sniffed_type or a.declared_type or "application/octet-stream", a.data)
            for a in attachments]
