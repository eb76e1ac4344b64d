"""What a requester's reply (or their answer on a page) does to a ticket.

An answer to a question reopens the work.  An answer to a solution is read
as acceptance, refusal (which needs a reason) or neither (one short
clarification per proposal).  Only a yes, or silence, lets the clock
accept a solution: a refusal without its reason and a reply that is more
than a thanks yet neither yes nor no suspend the auto-acceptance, and the
team is told a person must read it (issue 15, bug 7).  Accepting, refusing,
scoring and reopening are the requester's *decisions*: they are applied
only when the mail is proven theirs (``Proof``); otherwise the text is
kept, nothing changes, and the requester gets signed links to confirm,
once per proposal.  "Already
asked" is read from the events of the current proposal (``round_events``),
here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gateway.tickets import moves, survey
from gateway.tickets.answers import Answer, only_courtesy, read_solution_answer, read_survey_answer
from gateway.tickets.change import NOTHING, Change, Link, To, event, fields, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.states import Status

ROLE_REQUESTER: Final = "requester"  # services.types.Role.REQUESTER's value


@dataclass(frozen=True)
class Proof:
    """What the MTA in front says of a mail's From.  ``ok``: proven enough
    for a decision to be applied as written; ``failed``: the MTA judged the
    mail and the From domain came out unproven (likely forged: nothing
    automatic may answer it); ``why``: the evidence, for the timeline."""

    ok: bool
    why: str = ""
    failed: bool = False


UNCHECKED: Final = Proof(True, "decisions by mail are applied without authentication ([auth])")


@dataclass(frozen=True)
class Reply:
    """What a reply does: the change, and the line the team's notice starts with."""

    change: Change = NOTHING
    headline: str | None = None


def round_events(kinds: Collection[str]) -> frozenset[str]:
    """The event kinds since the current solution was proposed (``kinds``: the timeline's, in order)."""
    ordered = list(kinds)
    last = max((i for i, kind in enumerate(ordered) if kind == EventKind.SOLVED.value), default=-1)
    return frozenset(ordered[last + 1:])


def follow_up(ticket: Any, text: str, *, sender: str, role: str, round_kinds: frozenset[str],
              proof: Callable[[], Proof], at: datetime | None = None) -> Reply:
    """The state effects of a genuine reply to an open ticket (not its
    required data, which ``services.required`` reads).  ``at``: when, for
    a score given with the acceptance (none recorded without it)."""
    status = Status(ticket.status)
    if status is Status.WAITING:
        return Reply(moves.answered(status, sender),
                     "O solicitante respondeu à pergunta; o chamado voltou para Em andamento.")
    if status is not Status.SOLVED or role != ROLE_REQUESTER:
        return Reply()
    answer = read_solution_answer(text, signer=signer(ticket))
    awaiting_reason = EventKind.REFUSAL_WITHOUT_REASON.value in round_kinds and bool(text.strip())
    if answer.answer is Answer.ACCEPT or (answer.answer is Answer.REFUSE and answer.reason) or awaiting_reason:
        checked = proof()
        if not checked.ok:
            decision = "accept" if answer.answer is Answer.ACCEPT else "refuse"
            return confirm(ticket, decision, sender=sender, why=checked.why,
                           asked=EventKind.CONFIRMATION_SENT.value in round_kinds)
    if awaiting_reason and answer.answer is not Answer.ACCEPT:
        return _refused(status, sender, answer.reason if answer.answer is Answer.REFUSE and answer.reason
                        else text.strip())
    if answer.answer is Answer.ACCEPT:
        rated = read_survey_answer(text, signer=signer(ticket))
        if rated is not None and at is not None:
            # "Homologado. Nota 5": the acceptance and the survey in one mail; asking again would be noise.
            return Reply(moves.accept(status, sender) + survey.answered(ticket, rated.score, rated.comment,
                                                                        actor=sender, at=at),
                         f"O solicitante ACEITOU a solução e deu nota {rated.score}; chamado fechado.")
        return Reply(moves.accept(status, sender) + survey.invitation(ticket),
                     "O solicitante ACEITOU a solução; chamado fechado e pesquisa de satisfação enviada.")
    if answer.answer is Answer.REFUSE and answer.reason:
        return _refused(status, sender, answer.reason)
    if answer.answer is Answer.REFUSE:
        # "Não" / "nao resolveu": a no, whose reason is asked.  The clock must not
        # accept what the requester refused, so it stops until someone acts.
        return Reply(event(EventKind.REFUSAL_WITHOUT_REASON, sender, f"round {ticket.solution_round}")
                     + notice(Template.REFUSAL_REASON_REQUEST, To.REQUESTER, automatic=None)
                     + _hold(ticket, "the requester refused without a reason"),
                     "O solicitante recusou a solução sem dizer o motivo; pedimos o motivo. "
                     + _HELD)
    change = NOTHING
    if EventKind.CLARIFICATION_SENT.value not in round_kinds:
        change = (event(EventKind.CLARIFICATION_SENT, "gateway", f"round {ticket.solution_round}")
                  + notice(Template.CLARIFICATION, To.REQUESTER, automatic=None, links=frozenset({Link.SOLUTION})))
    if only_courtesy(text, signer=signer(ticket)):
        # A thanks: the solution mail said silence accepts it, and it still does.
        return Reply(change, "Resposta à solução não reconhecida como aceite ou recusa; o solicitante foi orientado.")
    held = _hold(ticket, "the requester's reply is neither an acceptance nor a refusal")
    return Reply(change if held is NOTHING else change + held,
                 "Resposta à solução não reconhecida como aceite ou recusa: um analista precisa ler a mensagem. "
                 + _HELD)


#: What the team reads when a reply stopped the clock (issue 15, bug 7).
_HELD: Final = ("O aceite automático está suspenso: responda ao solicitante, proponha outra solução (#solucao) "
                "ou feche o chamado (#fechar).")


def _hold(ticket: Any, why: str) -> Change:
    """Stop the auto-acceptance (and its reminder) of the current proposal:
    a reply that is not a yes is never accepted by the clock.  Nothing when
    it is already stopped."""
    if getattr(ticket, "limit_at", None) is None:
        return NOTHING
    return (fields(limit_at=None, remind_at=None) + Change(refresh=True)
            + event(EventKind.NOTE, "gateway", f"auto-acceptance suspended: {why}"))


def signer(ticket: Any) -> tuple[str, ...]:
    """Whose sign-off closes the requester's text: their name and address."""
    return tuple(who for who in (getattr(ticket, "requester_name", None), ticket.requester) if who)


def _refused(status: Status, sender: str, reason: str) -> Reply:
    return Reply(moves.refuse(status, sender, reason=reason), f"O solicitante RECUSOU a solução. Motivo: {reason}")


def confirm(ticket: Any, decision: str, *, sender: str, why: str, asked: bool, score: int | None = None) -> Reply:
    """A decision by mail whose From is not proven: kept, not applied.  The
    requester gets signed links to confirm it, once per proposal (or once
    per survey), so a forger repeating the mail cannot flood them."""
    words = {"accept": "aceite da solução", "refuse": "recusa da solução", "survey": f"nota {score}"}
    change = event(EventKind.DECISION_UNCONFIRMED, sender,
                   f"{decision} by mail not applied, sender not authenticated: {why}")
    if not asked:
        change += (event(EventKind.CONFIRMATION_SENT, "gateway", f"{decision}: signed links sent to {ticket.requester}")
                   + notice(Template.CONFIRM_DECISION, To.REQUESTER, automatic=None,
                            context={"decision": decision, "score": score},
                            links=frozenset({Link.SURVEY if decision == "survey" else Link.SOLUTION})))
    return Reply(change, f"Chegou uma resposta em nome do solicitante ({words[decision]}), mas o remetente não foi "
                         "autenticado pelo servidor de e-mail; nada foi aplicado"
                         + (" e pedimos ao solicitante que confirme pelo link." if not asked else "."))


@dataclass(frozen=True)
class ToClosed:
    """What a reply to a closed ticket does.  ``kind``: "survey" (a score,
    recorded or to confirm: no team notice), "reopen" (the ticket reopens
    and the mail is an ordinary follow-up), "hold" (kept on the closed
    ticket for a person), or "new" (a new ticket linked to this one)."""

    kind: str
    change: Change = NOTHING
    headline: str | None = None


def reply_to_closed(ticket: Any, text: str, *, sender: str, role: str, now: datetime,
                    survey_until: datetime | None, reopen_until: datetime | None,
                    proof: Callable[[], Proof], kinds: Collection[str]) -> ToClosed:
    """A survey answer, a reopening, or a new ticket (``kinds``: the ticket's event kinds)."""
    score = read_survey_answer(text, signer=signer(ticket)) if role == ROLE_REQUESTER else None
    if score is not None and survey.open_at(ticket, now, survey_until):
        checked = proof()
        if checked.ok:
            return ToClosed("survey", survey.answered(ticket, score.score, score.comment, actor=sender, at=now))
        reply = confirm(ticket, "survey", sender=sender, why=checked.why, score=score.score,
                        asked=EventKind.CONFIRMATION_SENT.value in kinds)
        return ToClosed("survey", reply.change, reply.headline)
    if score is not None and survey.surveyed(ticket):
        # A rating after the survey closed is still a rating: reopening the
        # ticket or opening a new one with "⭐⭐⭐⭐" would be a bogus request.
        return ToClosed("survey", event(EventKind.NOTE, sender, f"nota {score.score} after the survey closed: "
                                                                "kept, not recorded"))
    if reopen_until is not None and now <= reopen_until:
        checked = proof()
        if role == ROLE_REQUESTER and checked.ok:
            return ToClosed("reopen", moves.reopen(Status(ticket.status), sender))
        # Reopening is the requester's decision too: a participant's mail, or
        # one whose From the MTA did not confirm, stays for a person to judge.
        return ToClosed("hold", event(EventKind.DECISION_UNCONFIRMED, sender,
                                      f"reopen by mail not applied: {checked.why if not checked.ok else 'not the requester'}"),
                        "Chegou uma mensagem no chamado fechado, mas ele não foi reaberto: o remetente não é o "
                        "solicitante ou não foi confirmado pelo servidor de e-mail. Se for o caso, responda ao "
                        "solicitante.")
    return ToClosed("new")


# -- answers given on a page (the signed link is the proof) ---------------------

def accepted_on_page(ticket: Any, *, actor: str, via: str = "web") -> Change:
    """The page's "Aceitar": what an accepting reply does (closed, survey
    sent), and the team hears of it as it would of the reply."""
    return (moves.accept(Status(ticket.status), actor, note=f"via {via}") + survey.invitation(ticket)
            + _team_hears(ticket, actor, "", f"O solicitante ACEITOU a solução (via {via}); chamado fechado e "
                                              "pesquisa de satisfação enviada.", via=via))


def refused_on_page(ticket: Any, reason: str, *, actor: str, via: str = "web") -> Change:
    """The page's "Recusar": back to work with the reason, as by reply
    (``ValueError`` when the reason is blank)."""
    return (moves.refuse(Status(ticket.status), actor, reason=reason)
            + _team_hears(ticket, actor, reason.strip(),
                          f"O solicitante RECUSOU a solução (via {via}). Motivo: {reason.strip()}", via=via))


def _team_hears(ticket: Any, actor: str, text: str, headline: str, *, via: str) -> Change:
    """The team's notice of an answer given on a page.  ``via`` tells the
    template no mail came: without it an acceptance, which has no text, read
    as an empty "Nova mensagem" (issue 15, bug 9)."""
    name = ticket.requester_name or actor
    return notice(Template.TEAM_FOLLOWUP, To.TEAM, automatic="auto-generated", sender_name=name,
                  context={"text": text, "sender": actor, "sender_name": name, "attachments": [],
                           "headline": headline, "via": via})
