"""What an analyst's mail does to a ticket: the command table, decided once.

Analysts answer from their own mail client: the
commands at the top of a reply (``commands.parse_commands``) change the
ticket, and a reply without a command that takes the text is relayed to
the requester under the service's name.  Anything wrong is applied not at
all: the analyst gets the line, the problem and the list of commands, and
the requester nothing.  Every applied command is confirmed to the analyst
(PITFALLS item 11).

Whether the sender is an analyst of this ticket's mailbox at all was
decided before (``pipeline.identify``); this module only reads what they
wrote against the ticket's state and the mailbox's policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from gateway.errors import TransitionError
from gateway.tickets import moves
from gateway.tickets.change import NOTHING, Change, Deadline, Link, To, event, fields, move, notice
from gateway.tickets.commands import CommandName, ParsedCommands
from gateway.tickets.kinds import ClosedReason, EventKind, Template
from gateway.tickets.states import TRANSITIONS, UNTOUCHED, Status

#: Commands that move the ticket, and where to; ``#reabrir`` first, so
#: "#reabrir" + "#aguardando" reopens and then asks.
STATE_COMMANDS: Final[dict[CommandName, Status]] = {
    CommandName.REOPEN: Status.OPEN,
    CommandName.ASK: Status.WAITING, CommandName.SOLVE: Status.SOLVED,
    CommandName.REJECT: Status.REJECTED, CommandName.CLOSE: Status.CLOSED,
}
#: Commands whose text goes somewhere else than a plain relay.
TEXT_COMMANDS: Final = frozenset({CommandName.ASK, CommandName.SOLVE, CommandName.REJECT, CommandName.CLOSE,
                                  CommandName.NOTE, CommandName.REOPEN})
#: What ``#reabrir`` takes back to work: a closed ticket, and a returned one,
#: which nothing else reopens (a rule may return a ticket by mistake; only an
#: analyst may undo it, never the requester's reply).
REOPENABLE: Final = frozenset({Status.CLOSED, Status.REJECTED})
#: Commands that route a ticket without acting on it: with ``#atribuir``,
#: they leave a new ticket *assigned* rather than taking it up.
DISPATCH_COMMANDS: Final = frozenset({CommandName.ASSIGN, CommandName.CATEGORY, CommandName.PRIORITY,
                                      CommandName.NOTE})


@dataclass(frozen=True)
class CategoryTargets:
    """A category as the desk spells it, and the SLA its rules promise for it
    (``"24h"``; None: the mailbox's ``[mailbox.sla]`` for the category applies)."""

    name: str
    first_response: str | None = None
    resolution: str | None = None


@dataclass(frozen=True)
class Desk:
    """What commands need to know of the ticket's mailbox at this moment."""

    address: str
    may_assign: Callable[[str], bool]
    ask_until: datetime  # the limit a question set now would give the requester
    wait_limit: Any  # its Duration, named in the mail
    solve_until: datetime  # the limit a solution proposed now would give
    solved_limit: Any
    # ``#categoria X``: X as the rules spell it, with the SLA their rules set for it.
    category: Callable[[str], CategoryTargets] = field(default=lambda name: CategoryTargets(name))


@dataclass(frozen=True)
class Decision:
    """What an analyst's mail does: the change, and how their own mail is kept."""

    change: Change
    internal: bool  # the analyst's mail is an internal message (not the requester's to see)


def analyst_mail(ticket: Any, parsed: ParsedCommands, *, analyst: str, desk: Desk,
                 files: Sequence[Any] = ()) -> Decision:
    """Decide what ``parsed`` (the analyst's reply, quotes removed) does to ``ticket``."""
    if parsed.problems:
        problems = [{"line": p.line, "text": p.text, "problem": p.problem} for p in parsed.problems]
        return Decision(_refused(analyst, "; ".join(f"linha {p['line']}: {p['problem']}" for p in problems),
                                 problems), internal=True)
    problem = _problem(ticket, parsed, desk)
    if problem is not None:
        return Decision(_refused(analyst, problem, [{"line": 1, "text": "", "problem": problem}]), internal=True)
    status = Status(ticket.status)
    change, done = _commands(ticket, status, parsed, analyst, desk)
    names = set(parsed.names())
    body = parsed.body.strip()
    consumed = names & TEXT_COMMANDS
    if body and not consumed:
        change += (moves.take_up(change.status or status, analyst)
                   + event(EventKind.ANALYST_REPLY, analyst, "relayed to requester")
                   + notice(Template.ANALYST_REPLY, To.REQUESTER, context={"text": body}, automatic=None,
                            files=tuple(files)))
        done.append("resposta enviada ao solicitante")
    if parsed.commands:
        change += notice(Template.COMMAND_DONE, To.SENDER, context={"done": done})
    return Decision(change, internal=CommandName.NOTE in consumed or not body)


def _refused(analyst: str, note: str, problems: list[dict[str, Any]]) -> Change:
    """Nothing applied: the timeline says why, and the analyst gets the lines."""
    return (event(EventKind.COMMAND_REJECTED, analyst, note)
            + notice(Template.COMMAND_ERRORS, To.SENDER, context={"problems": problems}))


def _problem(ticket: Any, parsed: ParsedCommands, desk: Desk) -> str | None:
    """Why the commands cannot be applied to this ticket, before anything changes."""
    status = Status(ticket.status)
    start = Status.OPEN if status in UNTOUCHED else status
    if CommandName.REOPEN in parsed.names():
        if status not in REOPENABLE:
            return str(TransitionError(f"o chamado está '{status.label('pt_BR')}' e não aceita "
                                       f"{CommandName.REOPEN.tag}: só um chamado fechado ou devolvido é reaberto"))
        start = Status.OPEN
    for name in parsed.names():
        target = STATE_COMMANDS.get(name)
        if name is not CommandName.REOPEN and target is not None and target not in TRANSITIONS[start]:
            hint = (f"; para voltar a atendê-lo, use {CommandName.REOPEN.tag} antes"
                    if status in REOPENABLE else "")
            return str(TransitionError(f"o chamado está '{status.label('pt_BR')}' e não aceita {name.tag}{hint}"))
    for command in parsed.commands:
        # An assignee gets every team notice, with the citizen's data and
        # files: only the desk's own people.
        if command.name is CommandName.ASSIGN and not desk.may_assign(assignee(command.argument)):
            return (f"{assignee(command.argument)} não pode receber chamados de {desk.address}: atribua a alguém "
                    "da equipe ou dos analistas desta caixa (ou inclua o endereço em assignable na configuração)")
    return None


def _commands(ticket: Any, status: Status, parsed: ParsedCommands, analyst: str,
              desk: Desk) -> tuple[Change, list[str]]:
    """Every command, in the table's order: take up, fields, note, the move."""
    # Handing a ticket over (and filing it) is not working on it: such a mail
    # leaves it assigned, for the assignee's first action to take up.
    dispatching = CommandName.ASSIGN in parsed.names() and set(parsed.names()) <= DISPATCH_COMMANDS
    change = NOTHING if dispatching else moves.take_up(status, analyst)
    done: list[str] = []
    for command in parsed.commands:
        if command.name is CommandName.ASSIGN:
            who = assignee(command.argument)
            change += moves.assign(change.status or status, analyst, assignee=who)
            done.append(f"atribuído a {who}")
        elif command.name is CommandName.CATEGORY:
            targets = desk.category(command.argument)
            change += _category(targets, analyst)
            done.append(f"categoria: {targets.name}")
        elif command.name is CommandName.PRIORITY:
            change += fields(priority=command.argument) + event(EventKind.PRIORITY, analyst, command.argument)
            done.append(f"prioridade: {command.argument}")
    if CommandName.NOTE in parsed.names():
        change += event(EventKind.NOTE, analyst, parsed.text_for(CommandName.NOTE))
        done.append("nota interna registrada")
    for name in STATE_COMMANDS:
        if name in parsed.names():
            text = parsed.text_for(name)
            if name is CommandName.REOPEN and set(parsed.names()) & (TEXT_COMMANDS - {name}):
                text = parsed.find(name).argument  # type: ignore[union-attr]  # the body is the other command's
            moved, said = _state_command(ticket, change.status or status, name, text, analyst, desk)
            change += moved
            done.append(said)
    return change, done


def _category(targets: CategoryTargets, analyst: str) -> Change:
    """``#categoria``: the category and the SLA that goes with it.

    The rule's targets kept on the ticket belonged to the old category, so
    they are replaced by the new one's (None: the mailbox's ``[mailbox.sla]``
    for it, else ``sla_default``); the deadlines are recomputed from the
    ticket's opening, as the seeds count them ("após o registro").
    """
    promised = ", ".join(f"{label} {value}" for label, value in (("primeira resposta", targets.first_response),
                                                                  ("resolução", targets.resolution)) if value)
    return Change(fields={"category": targets.name, "sla_first_response": targets.first_response,
                          "sla_resolution": targets.resolution}, refresh=True,
                  events=event(EventKind.CATEGORY, analyst, targets.name).events
                  + (event(EventKind.SLA, analyst, f"{promised} (categoria {targets.name})").events
                     if promised else ()))


def _reopen(ticket: Any, status: Status, analyst: str, text: str) -> Change:
    """``#reabrir``: a closed or returned ticket is worked again; the requester
    is told, with the analyst's note.  Its resolution is no longer met."""
    if status not in REOPENABLE:
        raise TransitionError(f"a ticket cannot be reopened from {status.value!r}")
    return (fields(resolved_at=None)
            + move(status, Status.OPEN, EventKind.REOPENED, analyst, text or "reopened by an analyst")
            + notice(Template.REOPENED, To.REQUESTER, context={"text": text}, automatic=None))


def _state_command(ticket: Any, status: Status, name: CommandName, text: str, analyst: str,
                   desk: Desk) -> tuple[Change, str]:
    if name is CommandName.REOPEN:
        return _reopen(ticket, status, analyst, text), "chamado reaberto; solicitante avisado"
    if name is CommandName.ASK:
        return (moves.ask(status, analyst, question=text, until=desk.ask_until)
                + notice(Template.QUESTION, To.REQUESTER, context={"text": text}, automatic=None,
                         deadline=Deadline(desk.ask_until, desk.wait_limit)),
                "pergunta enviada ao solicitante; aguardando resposta")
    if name is CommandName.SOLVE:
        return (moves.solve(status, analyst, solution=text, until=desk.solve_until, round_=ticket.solution_round + 1)
                + notice(Template.SOLUTION, To.REQUESTER, context={"text": text}, automatic=None,
                         links=frozenset({Link.SOLUTION}), deadline=Deadline(desk.solve_until, desk.solved_limit)),
                "solução enviada ao solicitante para validação")
    if name is CommandName.REJECT:
        return (moves.reject(status, analyst, reason=text)
                + notice(Template.REJECTED, To.REQUESTER, context={"text": text}, automatic=None),
                "chamado devolvido (fora do escopo); solicitante avisado")
    return (moves.close(status, analyst, reason=ClosedReason.BY_ANALYST, note=text)
            + notice(Template.CLOSED, To.REQUESTER, context={"text": text}, automatic=None),
            "chamado fechado; solicitante avisado")


def colleague_note(ticket: Any, *, sender: str, proof: str, mailbox: str) -> Change:
    """A proven analyst of another mailbox wrote on this ticket: kept as a
    note for the ticket's team, nothing obeyed, and they are told why."""
    problem = (f"você não é analista de {mailbox}, a caixa deste chamado; a mensagem foi registrada como nota "
               "interna e nenhum comando foi executado" if ticket.language != "en" else
               f"you are no analyst of {mailbox}, which this request belongs to; your message was kept as an "
               "internal note and no command was run")
    return (event(EventKind.COLLEAGUE_NOTE, sender,
                  f"{proof}; not an analyst of {mailbox}: kept as a note, no command obeyed")
            + notice(Template.COMMAND_ERRORS, To.SENDER, context={"problems": [{"line": 1, "text": "",
                                                                                 "problem": problem}]}))


def forged(claimed: str, *, warn: bool, excerpt: str, limit: int) -> Change:
    """A mail in an analyst's name without proof: on the timeline, never
    obeyed; the team is warned unless it already was enough this hour."""
    change = event(EventKind.FORGED_ANALYST, claimed or "gateway",
                   "mail in an analyst's name without proof: quarantined, not obeyed")
    if not warn:
        return change
    return change + notice(Template.FORGED_WARNING, To.TEAM, automatic="auto-generated", threaded=False,
                           answerable=False,  # a reply would land on the ticket as the analyst's
                           context={"claimed": claimed, "limit": limit, "excerpt": excerpt})


def assignee(argument: str) -> str:
    """``#atribuir <Maria@Example.gov.br>`` or ``mailto:...`` -> the bare, lower-cased address."""
    return argument.strip().strip("<>").removeprefix("mailto:").lower()


__all__ = ["Decision", "Desk", "NOTHING", "analyst_mail", "assignee", "colleague_note", "forged"]
