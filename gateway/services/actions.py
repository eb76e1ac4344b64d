"""Apply what analysts command and what requesters answer.

Analyst mail: commands in the first lines (``#aguardando``, ``#solucao``,
...) change the ticket and tell the requester; a reply without commands
is relayed under the service's name.  Anything malformed is applied not
at all: the analyst gets the line, the problem and the list of commands,
and the requester nothing.  Every applied command is confirmed to the
analyst (PITFALLS item 11).

Requester mail: an answer to a question reopens the work; an answer to a
solution is read as acceptance, refusal (which needs a reason) or neither
(one short clarification per proposal); an answer to the survey is
recorded once and may be updated.
"""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gateway import links
from gateway.config import MailboxConfig, Settings
from gateway.durations import Duration
from gateway.outbound import words
from gateway.outbound.notices import Notifier
from gateway.schedule.mailboxes import deadline
from gateway.services import deadlines, required
from gateway.services.types import SENDER_UNCHECKED, Role, SenderCheck
from gateway.store import outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import lifecycle
from gateway.tickets.answers import SURVEY_LEVELS, SURVEY_LEVELS_EN, Answer, read_solution_answer
from gateway.tickets.commands import CommandName, ParsedCommands, help_text
from gateway.tickets.lifecycle import Change
from gateway.tickets.states import TRANSITIONS, Status, TransitionError

_STATE_COMMANDS = (CommandName.ASK, CommandName.SOLVE, CommandName.REJECT, CommandName.CLOSE)
# Automatic answers to a requester that count together against acks_per_sender_per_hour.
AUTO_ANSWERS = ("ack", "rejected", "missing_fields", "attachments_refused")


class Actions:
    def __init__(self, settings: Settings, notifier: Notifier) -> None:
        self.settings, self.notifier = settings, notifier

    # -- the one way a ticket changes state -------------------------------

    def apply(self, tx: Transaction, ticket: TicketRow, change: Change, *, actor: str, at: datetime) -> None:
        tickets.add_event(tx, ticket, at=at, actor=actor, kind=change.event, note=change.note,
                          from_status=ticket.status, to_status=change.status.value)
        ticket.status, ticket.updated_at = change.status.value, at
        if change.status is not Status.WAITING:
            ticket.missing_fields = ""  # only a ticket waiting for its required data lacks it
        ticket.due_at, ticket.due_kind = (change.due.at, change.due.kind) if change.due else (None, None)
        if change.status is Status.CLOSED or change.status is Status.REJECTED:
            ticket.closed_at, ticket.closed_reason = at, change.closed_reason
        else:
            ticket.closed_at = ticket.closed_reason = None
        self.refresh_deadlines(ticket, at, limit=change.due.at if change.due else None)

    def refresh_deadlines(self, ticket: TicketRow, at: datetime, **transition: datetime | None) -> None:
        """Reminders and SLA targets into due_at/due_kind (services/deadlines.py);
        ``limit=`` marks a transition (the requester's new limit, or None)."""
        found = self.settings.mailbox_for(ticket.mailbox)
        deadlines.refresh(ticket, found[0] if found else None, at, **transition)  # type: ignore[arg-type]

    # -- analysts ----------------------------------------------------------

    def analyst_commands(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, parsed: ParsedCommands,
                         *, analyst: str, at: datetime) -> tuple[list[str], str | None]:
        """Apply the commands; returns (what was done, a problem that stopped them)."""
        status = Status(ticket.status)
        names = set(parsed.names())
        state_names = [n for n in _STATE_COMMANDS if n in names]
        try:
            self._check_allowed(status, state_names)
        except (TransitionError, ValueError) as problem:
            return [], str(problem)
        for command in parsed.commands:
            # Before anything changes: an assignee gets every team notice,
            # with the citizen's data and files, so only the desk's own people.
            if command.name is CommandName.ASSIGN and not mailbox.may_assign(_assignee(command.argument)):
                return [], (f"{_assignee(command.argument)} não pode receber chamados de {mailbox.address}: "
                            "atribua a alguém da equipe ou dos analistas desta caixa (ou inclua o endereço "
                            "em assignable na configuração)")
        done: list[str] = []
        if (taken := lifecycle.take_up(status)) is not None:
            self.apply(tx, ticket, taken, actor=analyst, at=at)
        for command in parsed.commands:
            if command.name is CommandName.ASSIGN:
                ticket.assignee = _assignee(command.argument)
                tickets.add_event(tx, ticket, at=at, actor=analyst, kind="assigned", note=ticket.assignee)
                done.append(f"atribuído a {ticket.assignee}")
            elif command.name is CommandName.CATEGORY:
                ticket.category = command.argument
                self.refresh_deadlines(ticket, at)  # the category's SLA targets
                tickets.add_event(tx, ticket, at=at, actor=analyst, kind="category", note=command.argument)
                done.append(f"categoria: {command.argument}")
            elif command.name is CommandName.PRIORITY:
                ticket.priority = command.argument
                tickets.add_event(tx, ticket, at=at, actor=analyst, kind="priority", note=command.argument)
                done.append(f"prioridade: {command.argument}")
        if CommandName.NOTE in names:
            tickets.add_event(tx, ticket, at=at, actor=analyst, kind="note", note=parsed.text_for(CommandName.NOTE))
            done.append("nota interna registrada")
        for name in state_names:
            done.append(self._state_command(tx, ticket, mailbox, name, parsed.text_for(name), analyst=analyst, at=at))
        return done, None

    def _check_allowed(self, status: Status, state_names: list[CommandName]) -> None:
        targets = {CommandName.ASK: Status.WAITING, CommandName.SOLVE: Status.SOLVED,
                   CommandName.REJECT: Status.REJECTED, CommandName.CLOSE: Status.CLOSED}
        start = Status.OPEN if status is Status.NEW else status
        for name in state_names:
            if targets[name] not in TRANSITIONS[start]:
                label = status.label("pt_BR")
                raise TransitionError(f"o chamado está '{label}' e não aceita {name.tag}")

    def _state_command(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, name: CommandName,
                       text: str, *, analyst: str, at: datetime) -> str:
        status = Status(ticket.status)
        if name is CommandName.ASK:
            due = deadline(mailbox, at, mailbox.wait_limit)
            self.apply(tx, ticket, lifecycle.ask(status, question=text, deadline=due), actor=analyst, at=at)
            self.to_requester(tx, ticket, mailbox, "question", at, text=text,
                               **self.deadline_words(mailbox, due, mailbox.wait_limit, ticket))
            return "pergunta enviada ao solicitante; aguardando resposta"
        if name is CommandName.SOLVE:
            ticket.solution_round += 1
            due = deadline(mailbox, at, mailbox.solved_limit)
            self.apply(tx, ticket, lifecycle.solve(status, solution=text, deadline=due), actor=analyst, at=at)
            self.to_requester(tx, ticket, mailbox, "solution", at, text=text, **self.solution_links(ticket),
                               **self.deadline_words(mailbox, due, mailbox.solved_limit, ticket))
            return "solução enviada ao solicitante para validação"
        if name is CommandName.REJECT:
            self.apply(tx, ticket, lifecycle.reject(status, reason=text), actor=analyst, at=at)
            self.to_requester(tx, ticket, mailbox, "rejected", at, text=text)
            return "chamado devolvido (fora do escopo); solicitante avisado"
        self.apply(tx, ticket, lifecycle.close(status, reason="closed_by_analyst", note=text), actor=analyst, at=at)
        self.to_requester(tx, ticket, mailbox, "closed", at, text=text)
        return "chamado fechado; solicitante avisado"

    # -- requesters --------------------------------------------------------

    def requester_reply(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, text: str, *,
                        sender: str, role: Role, at: datetime,
                        check_sender: Callable[[], SenderCheck] = lambda: SENDER_UNCHECKED) -> str | None:
        """State effects of a genuine reply; returns a headline for the team.

        Accepting or refusing a solution is the requester's decision: it is
        applied only when ``check_sender`` finds the From proven ([auth]
        requester_decisions); otherwise the text stays on the ticket and the
        requester is asked to confirm by a signed link, which goes to the
        address on file, out of a forger's reach."""
        status = Status(ticket.status)
        if status is Status.WAITING and ticket.missing_fields and role is Role.REQUESTER:
            return required.answer(self, tx, ticket, mailbox, text, sender=sender, at=at)
        if status is Status.WAITING:
            self.apply(tx, ticket, lifecycle.answered(status), actor=sender, at=at)  # type: ignore[arg-type]
            return "O solicitante respondeu à pergunta; o chamado voltou para Em andamento."
        if status is not Status.SOLVED or role is not Role.REQUESTER:
            return None
        answer = read_solution_answer(text)
        awaiting_reason = self._awaiting_reason(tx, ticket) and bool(text.strip())
        if answer.answer is Answer.ACCEPT or (answer.answer is Answer.REFUSE and answer.reason) or awaiting_reason:
            check = check_sender()
            if not check.ok:
                decision = "accept" if answer.answer is Answer.ACCEPT else "refuse"
                return self.confirm_decision(tx, ticket, mailbox, at=at, sender=sender, decision=decision,
                                             why=check.why)
        if awaiting_reason:
            reason = answer.reason if answer.answer is Answer.REFUSE and answer.reason else text.strip()
            if answer.answer is not Answer.ACCEPT:
                return self._refused(tx, ticket, reason, sender=sender, at=at)
        if answer.answer is Answer.ACCEPT:
            self.apply(tx, ticket, lifecycle.accept(status), actor=sender, at=at)
            self.invite_to_survey(tx, ticket, mailbox, at)
            return "O solicitante ACEITOU a solução; chamado fechado e pesquisa de satisfação enviada."
        if answer.answer is Answer.REFUSE and answer.reason:
            return self._refused(tx, ticket, answer.reason, sender=sender, at=at)
        if answer.answer is Answer.REFUSE:
            tickets.add_event(tx, ticket, at=at, actor=sender, kind="refusal_without_reason",
                              note=f"round {ticket.solution_round}")
            self.to_requester(tx, ticket, mailbox, "refusal_reason_request", at)
            return "O solicitante recusou a solução sem dizer o motivo; pedimos o motivo."
        if not self._clarified(tx, ticket):
            tickets.add_event(tx, ticket, at=at, actor="gateway", kind="clarification_sent",
                              note=f"round {ticket.solution_round}")
            self.to_requester(tx, ticket, mailbox, "clarification", at, **self.solution_links(ticket))
        return "Resposta à solução não reconhecida como aceite ou recusa; o solicitante foi orientado."

    def confirm_decision(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, *, at: datetime,
                         sender: str, decision: str, why: str, score: int | None = None) -> str:
        """A decision by mail whose From is not proven: kept, not applied.
        The requester gets signed links to confirm it, once per solution
        round (or once per survey), so a forger repeating the mail cannot
        flood them; returns the team's headline."""
        words_pt = {"accept": "aceite da solução", "refuse": "recusa da solução", "survey": f"nota {score}"}
        tickets.add_event(tx, ticket, at=at, actor=sender, kind="decision_unconfirmed",
                          note=f"{decision} by mail not applied, sender not authenticated: {why}")
        asked = "confirmation_sent" in (self._round_events(tx, ticket) if decision != "survey"
                                        else [e.kind for e in tickets.events(tx, ticket.id)])
        if not asked:
            tickets.add_event(tx, ticket, at=at, actor="gateway", kind="confirmation_sent",
                              note=f"{decision}: signed links sent to {ticket.requester}")
            links_ = (self.solution_links(ticket) if decision != "survey" else
                      {"survey_url": links.make_url(self.settings.web.base_url, self.settings.web.secret,
                                                    ticket.protocol, "survey")})
            self.to_requester(tx, ticket, mailbox, "confirm_decision", at, decision=decision, score=score, **links_)
        return (f"Chegou uma resposta em nome do solicitante ({words_pt[decision]}), mas o remetente não foi "
                "autenticado pelo servidor de e-mail; nada foi aplicado"
                + (" e pedimos ao solicitante que confirme pelo link." if not asked else "."))

    def _refused(self, tx: Transaction, ticket: TicketRow, reason: str, *, sender: str, at: datetime) -> str:
        self.apply(tx, ticket, lifecycle.refuse(Status(ticket.status), reason=reason), actor=sender, at=at)
        return f"O solicitante RECUSOU a solução. Motivo: {reason}"

    def _round_events(self, tx: Transaction, ticket: TicketRow) -> list[str]:
        """Event kinds since the current solution was proposed."""
        kinds = [e.kind for e in tickets.events(tx, ticket.id)]
        last = max((i for i, k in enumerate(kinds) if k == "solved"), default=-1)
        return kinds[last + 1:]

    def _awaiting_reason(self, tx: Transaction, ticket: TicketRow) -> bool:
        return "refusal_without_reason" in self._round_events(tx, ticket)

    def _clarified(self, tx: Transaction, ticket: TicketRow) -> bool:
        return "clarification_sent" in self._round_events(tx, ticket)

    def invite_to_survey(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, at: datetime) -> None:
        levels = SURVEY_LEVELS_EN if ticket.language == "en" else SURVEY_LEVELS
        web = self.settings.web
        self.to_requester(tx, ticket, mailbox, "survey", at, levels=sorted(levels.items()),
                           survey_url=links.make_url(web.base_url, web.secret, ticket.protocol, "survey"))

    def record_survey(self, tx: Transaction, ticket: TicketRow, score: int, comment: str | None, *,
                      actor: str, at: datetime) -> None:
        """One answer per ticket: a later one replaces it, and the event says so."""
        kind = "survey_updated" if ticket.survey_score is not None else "survey_answered"
        previous = f" (antes: {ticket.survey_score})" if ticket.survey_score is not None else ""
        ticket.survey_score, ticket.survey_comment, ticket.survey_at = score, comment, at
        self.refresh_deadlines(ticket, at)  # no survey reminder any more
        tickets.add_event(tx, ticket, at=at, actor=actor, kind=kind,
                          note=f"nota {score}{previous}" + (f": {comment}" if comment else ""))

    # -- answers given on a page (gateway/web) -------------------------------

    def accept_solution(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, *, actor: str,
                        at: datetime, via: str = "web") -> None:
        """The page's "Aceitar": what an accepting reply does (closed, survey
        sent), and the team hears of it as it would of the reply."""
        change = replace(lifecycle.accept(Status(ticket.status)), note=f"via {via}")
        self.apply(tx, ticket, change, actor=actor, at=at)
        self.invite_to_survey(tx, ticket, mailbox, at)
        self._tell_team_of_answer(tx, ticket, mailbox, at, actor=actor, text="", headline=(
            f"O solicitante ACEITOU a solução (via {via}); chamado fechado e pesquisa de satisfação enviada."))

    def refuse_solution(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, reason: str, *,
                        actor: str, at: datetime, via: str = "web") -> None:
        """The page's "Recusar": back to work with the reason, as by reply;
        ``lifecycle.refuse`` raises ValueError when the reason is blank."""
        self._refused(tx, ticket, reason, sender=actor, at=at)
        self._tell_team_of_answer(tx, ticket, mailbox, at, actor=actor, text=reason.strip(), headline=(
            f"O solicitante RECUSOU a solução (via {via}). Motivo: {reason.strip()}"))

    def _tell_team_of_answer(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, at: datetime, *,
                             actor: str, text: str, headline: str) -> None:
        if not mailbox.team:
            return
        thread = tickets.thread_for(tx, ticket.id, ours_only=True, kinds=("team_new",))
        name = ticket.requester_name or actor
        self.notifier.queue(
            tx, kind="team_followup", ticket=ticket, mailbox=mailbox, to=list(mailbox.team), now=at,
            context={"text": text, "sender": actor, "sender_name": name, "attachments": [], "headline": headline},
            reply_to=mailbox.address_with_token(ticket.protocol), in_reply_to=thread[-1] if thread else None,
            references=thread, auto_submitted="auto-generated", from_name=f"{name} via {mailbox.display_name}")

    # -- mail --------------------------------------------------------------

    def to_requester(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, kind: str, at: datetime,
                      **context: Any) -> None:
        """Queue a templated mail to the requester, threaded in their client,
        sent under the service's name (sweeps and pages use it too)."""
        thread = tickets.thread_for(tx, ticket.id, ours_only=False)
        self.notifier.queue(tx, kind=kind, ticket=ticket, mailbox=mailbox, to=[ticket.requester], now=at,
                            context={"text": "", **context}, in_reply_to=thread[-1] if thread else None,
                            references=thread, auto_submitted=None, role=Role.ANALYST.value)

    def auto_reply(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, kind: str, at: datetime,
                   **context: Any) -> bool:
        """An automatic answer to the requester (``Auto-Submitted: auto-replied``)
        threaded under their mail; the rules' rejection, missing data and
        refused attachments use it.  Skipped (with an event) once the sender
        had ``acks_per_sender_per_hour`` automatic answers in the hour,
        acknowledgements included: a robot answering us stops here."""
        since, limit = at - timedelta(hours=1), self.settings.limits.acks_per_sender_per_hour
        sent = sum(outbox.count_recent(tx, rcpt=ticket.requester, kind=name, since=since) for name in AUTO_ANSWERS)
        if sent >= limit:
            tickets.add_event(tx, ticket, at=at, actor="gateway", kind="answer_skipped",
                              note=f"{kind}: already {limit} automatic answers to {ticket.requester} in one hour")
            return False
        thread = tickets.thread_for(tx, ticket.id, ours_only=False)
        self.notifier.queue(tx, kind=kind, ticket=ticket, mailbox=mailbox, to=[ticket.requester], now=at,
                            context={"text": "", **context}, in_reply_to=thread[-1] if thread else None,
                            references=thread, auto_submitted="auto-replied")
        return True

    def to_analyst(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, kind: str, analyst: str,
                   at: datetime, **context: Any) -> None:
        """Queue a reply to an analyst (command errors or confirmation)."""
        self.notifier.queue(tx, kind=kind, ticket=ticket, mailbox=mailbox, to=[analyst], now=at,
                            context={"help": help_text(ticket.language), **context},
                            reply_to=mailbox.address_with_token(ticket.protocol), auto_submitted="auto-replied")

    def solution_links(self, ticket: TicketRow) -> dict[str, str]:
        """Accept/refuse links for the current proposal only (its round)."""
        web, round_ = self.settings.web, str(ticket.solution_round)
        return {"accept_url": links.make_url(web.base_url, web.secret, ticket.protocol, "accept", round_),
                "refuse_url": links.make_url(web.base_url, web.secret, ticket.protocol, "refuse", round_)}

    def deadline_words(self, mailbox: MailboxConfig, due: datetime, limit: Duration,
                       ticket: TicketRow) -> dict[str, str]:
        """The template variables that put a deadline in the reader's words."""
        return {"deadline": words.deadline(due, mailbox.timezone, ticket.language),
                "deadline_date": words.short_date(due, mailbox.timezone),
                "limit_words": words.duration(limit, ticket.language)}



def _assignee(argument: str) -> str:
    """``#atribuir <Maria@Example.gov.br>`` or ``mailto:...`` -> the bare, lower-cased address."""
    return argument.strip().strip("<>").removeprefix("mailto:").lower()
