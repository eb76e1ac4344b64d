"""Recognise mail that must never be answered: auto-replies, bounces, lists.

An automatic answer to an automatic answer is how two robots start a loop
(PITFALLS G), and a bounce that opens a ticket acknowledges itself forever
(faveo-helpdesk#150).  RFC 3834 headers come first; out-of-office mails
that carry no header at all (common in pt-BR webmails) are caught by
subject phrases typical of them, never by a word such as "férias" alone.

``X-Auto-Response-Suppress`` is deliberately *not* a signal: it is a
request to *other* systems ("do not auto-reply to me").  Outlook adds it
to ordinary mails sent to distribution lists and to meeting replies, so
treating it as "this mail is automatic" would silence real people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gateway.mail.addresses import is_null_or_daemon, normalise
from gateway.mail.parsed import ParsedMail

_BULK_PRECEDENCE: Final = frozenset({"bulk", "list", "junk", "auto_reply", "auto-reply"})
_PRESENCE_HEADERS: Final = ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond",
                            "X-MS-Exchange-Generated-Message-Source",
                            "X-MS-Exchange-Inbox-Rules-Loop", "X-Autoreply-From",
                            "X-Mail-Autoreply", "X-FC-MachineGenerated")
_OOO_SUBJECT: Final = re.compile(
    r"^\s*(?:(?:re|res|fw|fwd|enc)\s*:\s*)*(?:Resposta autom[áa]tica|Respuesta autom[áa]tica"
    r"|Aus[êe]ncia tempor[áa]ria|Aus[êe]ncia\b|Fora do escrit[óo]rio|Out of (?:the )?Office"
    r"|Automatic reply|Auto[- ]?reply|Auto[- ]?response|Autosvar|Abwesenheitsnotiz"
    r"|R[ée]ponse automatique|Em f[ée]rias|F[ée]rias\s*[:\-–]|Mensagem autom[áa]tica)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT: Final = re.compile(
    r"Undeliver|Undelivered Mail|Delivery Status Notification|Delivery (?:has )?fail"
    r"|Returned mail|Mail delivery failed|failure notice|Delivery Notification"
    r"|N[ãa]o foi poss[íi]vel entregar|Mensagem n[ãa]o entregue|Falha na entrega"
    r"|mail failed|returning to sender|Delayed Mail|Warning: could not send"
    r"|falha na entrega|Notifica[çc][ãa]o de falha|N[ãa]o entregue",
    re.IGNORECASE,
)
_DSN_PART_TYPES: Final = frozenset({"message/delivery-status", "message/global-delivery-status"})
_REPORT_PART_TYPES: Final = frozenset({"message/feedback-report", "message/disposition-notification"})


@dataclass(frozen=True)
class Verdict:
    """Whether a mail is automatic (never answer it) and whether it is a bounce,
    with the reasons, for ``gateway explain``."""

    automatic: bool
    bounce: bool
    reasons: tuple[str, ...]


def classify(
    mail: ParsedMail, *, envelope_sender: str | None, own_addresses: Iterable[str] = ()
) -> Verdict:
    """Decide from headers, envelope sender, MIME structure and subject.

    ``envelope_sender`` is SMTP ``MAIL FROM`` (``""`` for the null sender;
    None when unknown, e.g. a mail read from IMAP, in which case
    ``Return-Path`` is used if present).
    """
    own = frozenset(normalise(a) for a in own_addresses)
    reasons = _header_reasons(mail, own)
    sender = envelope_sender if envelope_sender is not None else _return_path(mail)
    if sender is not None and is_null_or_daemon(sender):
        reasons.append(f"envelope sender {sender or '<>'} is null or a mailer daemon")
    if mail.from_addr and is_null_or_daemon(mail.from_addr):
        reasons.append(f"From is a mailer daemon: {mail.from_addr}")
    if mail.from_addr and mail.from_addr in own:
        reasons.append(f"From is our own address {mail.from_addr}")
    if _OOO_SUBJECT.match(mail.subject):
        reasons.append(f"subject looks like an out-of-office reply: {mail.subject[:60]!r}")
    if mail.header("Content-Type").lower().startswith("multipart/report") or \
            _REPORT_PART_TYPES.intersection(mail.part_types):
        reasons.append("a machine report (multipart/report, feedback or receipt)")
    bounce_reasons = _bounce_reasons(mail, sender)
    reasons.extend(bounce_reasons)
    return Verdict(automatic=bool(reasons), bounce=bool(bounce_reasons), reasons=tuple(reasons))


def _header_reasons(mail: ParsedMail, own: frozenset[str]) -> list[str]:
    reasons: list[str] = []
    auto_submitted = mail.header("Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"Auto-Submitted: {auto_submitted}")
    precedence = mail.header("Precedence").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        reasons.append(f"Precedence: {precedence}")
    for name in _PRESENCE_HEADERS:
        if mail.header(name, default="\0") != "\0":
            reasons.append(f"{name} present")
    for loop in mail.headers_all("X-Loop"):
        if normalise(loop) in own:
            reasons.append(f"X-Loop names our address {normalise(loop)}")
    return reasons


def _bounce_reasons(mail: ParsedMail, sender: str | None) -> list[str]:
    reasons: list[str] = []
    content_type = mail.header("Content-Type").lower()
    if content_type.startswith("multipart/report") and "delivery-status" in content_type:
        reasons.append("multipart/report; report-type=delivery-status")
    elif _DSN_PART_TYPES.intersection(mail.part_types):
        reasons.append("has a message/delivery-status part")
    daemon = is_null_or_daemon(mail.from_addr) or (sender is not None and is_null_or_daemon(sender))
    if not reasons and daemon and _BOUNCE_SUBJECT.search(mail.subject):
        reasons.append(f"bounce subject from a mailer daemon: {mail.subject[:60]!r}")
    return reasons


def _return_path(mail: ParsedMail) -> str | None:
    value = mail.header("Return-Path", default="\0")
    return None if value == "\0" else value
