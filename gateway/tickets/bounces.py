"""What a delivery report does to a ticket.

A bounce is never answered and never opens a ticket (it would acknowledge
itself for ever: PITFALLS G); on the ticket whose mail bounced it is a
line on the timeline and, when a person must act, a notice to the team:

- a delay (4.x.x, ``Action: delayed``): only recorded; the relay still tries;
- a permanent failure of a working address (a full mailbox, a spam filter):
  recorded, and the team told that the citizen did not get that mail;
- a dead address (no such user or domain, moved): recorded, the team told,
  and the address marked, so reminders and automatic closing notices stop
  going to it (``AUTOMATIC_TO_REQUESTER``).  An address marked already is
  only recorded: the team heard of it the first time;
- a complaint (ARF): recorded.

An address marked dead whose owner writes again, proven (``wrote_again``),
works again: the mark is cleared and the reminders resume.  A full mailbox
emptied or an account restored must not leave a citizen without their
reminders for ever; a From nobody proved cannot clear it.

Notes are in the desk's words (pt_BR), e.g. "entrega falhou: caixa cheia".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.tickets.change import NOTHING, Change, To, event, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.requester import Proof

#: Mails the writer no longer sends to an address marked dead: the ones
#: nobody is waiting for (a reminder, a closing by the clock).  What an
#: analyst writes still goes: the analyst may know better.
AUTOMATIC_TO_REQUESTER: Final = frozenset({
    Template.REMINDER_WAITING.value, Template.REMINDER_SOLVED.value, Template.SURVEY_REMINDER.value,
    Template.CLOSED_NO_RESPONSE.value, Template.CLOSED_AUTO_ACCEPTED.value, Template.SURVEY.value,
})

#: A reason (``gateway.mail.dsn.Reason`` values) in the reader's words: (pt_BR, en).
REASON_WORDS: Final[dict[str, tuple[str, str]]] = {
    "userunknown": ("endereço inexistente", "no such address"),
    "hostunknown": ("domínio inexistente", "no such domain"),
    "hasmoved": ("o endereço mudou", "the address has moved"),
    "notaccept": ("o domínio não recebe e-mails", "the domain accepts no mail"),
    "suspend": ("conta desativada", "account disabled"),
    "mailboxfull": ("caixa cheia", "mailbox full"),
    "mesgtoobig": ("mensagem grande demais", "message too big"),
    "exceedlimit": ("limite do destinatário excedido", "recipient's limit exceeded"),
    "expired": ("prazo de entrega esgotado", "delivery time expired"),
    "filtered": ("recusada por um filtro do destinatário", "refused by the recipient's filter"),
    "rejected": ("o servidor de destino recusou o remetente", "the receiving server refused the sender"),
    "blocked": ("nosso servidor de envio foi bloqueado", "our sending server was blocked"),
    "spamdetected": ("considerada spam", "taken for spam"),
    "policyviolation": ("recusada pela política do servidor de destino", "refused by the receiving server's policy"),
    "authfailure": ("falha de autenticação (SPF/DKIM/DMARC)", "authentication failed (SPF/DKIM/DMARC)"),
    "securityerror": ("erro de segurança", "security error"),
    "networkerror": ("erro de rede ou DNS", "network or DNS error"),
    "systemerror": ("erro no servidor de destino", "error at the receiving server"),
    "systemfull": ("servidor de destino sem espaço", "receiving server out of space"),
    "mailererror": ("erro no servidor de destino", "error at the receiving server"),
    "contenterror": ("conteúdo recusado", "content refused"),
    "virusdetected": ("vírus detectado", "virus detected"),
    "norelaying": ("retransmissão negada", "relaying denied"),
    "feedback": ("o destinatário marcou a mensagem como spam", "the recipient reported it as spam"),
    "undefined": ("motivo não informado", "no reason given"),
}


@dataclass(frozen=True)
class Failure:
    """One recipient a report is about, as the decision needs it."""

    address: str
    status: str = ""  # "5.2.2"
    reason: str = "undefined"  # a REASON_WORDS key
    diagnostic: str = ""  # the remote server's words
    permanent: bool = True  # False: a delay, the relay still tries
    hard: bool = False  # the address is dead
    complaint: bool = False  # an ARF report, not a failure


@dataclass(frozen=True)
class BounceDecision:
    """What to write (events, the team's notice) and which addresses to mark dead."""

    change: Change
    mark: tuple[Failure, ...] = ()


def words(reason: str, language: str = "pt_BR") -> str:
    """``"mailboxfull"`` → ``"caixa cheia"`` (``"mailbox full"`` in en)."""
    pt, en = REASON_WORDS.get(reason, REASON_WORDS["undefined"])
    return en if language == "en" else pt


def note(failure: Failure, *, mail_kind: str = "") -> str:
    """The timeline's line: ``entrega falhou: caixa cheia (ana@example.org, 5.2.2; aviso ack)``."""
    what = ("reclamação de spam" if failure.complaint else "entrega falhou" if failure.permanent
            else "entrega atrasada")
    details = ", ".join(part for part in (failure.address, failure.status) if part)
    about = f"; aviso {mail_kind}" if mail_kind else ""
    said = f": {failure.diagnostic[:300]}" if failure.diagnostic else ""
    return f"{what}: {words(failure.reason)} ({details}{about}){said}"


def on_bounce(failures: Sequence[Failure], *, mail_kind: str, team: Collection[str],
              bouncing: Collection[str], actor: str = "MAILER-DAEMON") -> BounceDecision:
    """What one delivery report does to the ticket of the mail it reports on.

    ``mail_kind``: the template of the mail that bounced ("" unknown);
    ``team``: the mailbox's team (their own failures are recorded, never
    marked: the desk fixes its own addresses); ``bouncing``: the addresses
    marked dead already.
    """
    if not failures:
        return BounceDecision(NOTHING)
    change = NOTHING
    for failure in failures:
        change += event(EventKind.DELIVERY_FAILED, actor, note(failure, mail_kind=mail_kind))
    mark = tuple(f for f in failures if f.hard and not f.complaint and f.address not in team)
    fresh = [f for f in mark if f.address not in bouncing]
    worth_telling = fresh or [f for f in failures if f.permanent and not f.complaint and not f.hard]
    # The team's own notice of a bounce, bounced (a full mailbox in the
    # team): telling the team again sends it to the same full mailbox, whose
    # bounce told the team again, without end.  The timeline has it.
    if worth_telling and mail_kind != Template.TEAM_BOUNCE.value:
        change += notice(Template.TEAM_BOUNCE, To.TEAM, automatic="auto-generated", context={
            "failures": [{"address": f.address, "status": f.status, "reason": f.reason, "diagnostic": f.diagnostic[:500],
                          "hard": f.hard, "why": words(f.reason), "why_en": words(f.reason, "en")}
                         for f in failures if f.permanent and not f.complaint],
            "mail_kind": mail_kind, "marked": [f.address for f in fresh]})
    return BounceDecision(change, mark)


def wrote_again(address: str, proof: Proof) -> Change:
    """A person's mail whose From is ``address``: if the From is proven (our
    MTA's verdict passes, or the site decides without one: ``[auth]``) and
    the MTA did not find it forged, the address works again, and a dead mark
    on it is cleared by the writer, which says so on the timeline.  Only the
    From counts: a mail without one (read by its Sender, Reply-To or
    envelope) proves nothing of those addresses."""
    if not address or not proof.ok or proof.failed:
        return NOTHING
    return Change(revived=(address,))
