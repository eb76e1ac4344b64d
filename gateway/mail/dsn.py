"""Read a delivery report: which recipients failed, how, and for good or not.

A bounce is only useful if we can say *who* it is about and *whether the
address is dead*.  This module turns the raw bytes of a report into a
:class:`Report` and knows nothing of tickets (``tickets.bounces`` decides
what a report does to one).  It reads, in this order:

1. an RFC 3464 ``multipart/report; report-type=delivery-status`` (also a
   ``message/delivery-status`` part sent with another type, a
   ``text/delivery-status`` one, and the per-recipient fields pasted into
   the text by MTAs that do not build the MIME structure);
2. an RFC 5965 ARF complaint (``report-type=feedback-report``): the
   recipient who complained, ``Feedback-Type`` kept;
3. the free-text forms of MTAs that send no DSN (qmail, Exim, Sendmail's
   older versions, Gmail and Microsoft's own words, ...): the addresses
   named in the report's text before the returned message starts, each
   with the lines that follow it as its diagnostic, or Exim's
   ``X-Failed-Recipients``.

A truncated report (the relay cut the mail at a size limit) still gives
what it has: the fields read up to the cut.  Nothing here raises on a
malformed mail; a mail that is no delivery report gives a report with no
recipients.

Hard or soft is the *address's* fate, not the reply class: a 5.x.x for a
full mailbox or a spam filter is final for that mail but the citizen's
address still works, so only "no such user", "no such domain", "has
moved" and "does not accept mail" (permanently) are hard, as Sisimai
reads them.  Example::

    >>> report = read(raw)
    >>> [(r.address, r.status, r.hard) for r in report.failed]
    [('ana@example.org', '5.1.1', True)]
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Final

from gateway.mail import bounded
from gateway.mail.addresses import DAEMON_LOCAL_PARTS, PLAIN_ADDRESS


class Reason(str, enum.Enum):
    """Why a recipient failed, in words close to Sisimai's (``userunknown`` ...)."""

    USER_UNKNOWN = "userunknown"
    HOST_UNKNOWN = "hostunknown"
    HAS_MOVED = "hasmoved"
    NOT_ACCEPT = "notaccept"
    SUSPEND = "suspend"  # the account exists and is disabled
    MAILBOX_FULL = "mailboxfull"
    MESSAGE_TOO_BIG = "mesgtoobig"
    EXCEED_LIMIT = "exceedlimit"
    EXPIRED = "expired"  # the relay gave up retrying
    FILTERED = "filtered"
    REJECTED = "rejected"  # the sender (us) refused
    BLOCKED = "blocked"  # our relay's IP refused
    SPAM = "spamdetected"
    POLICY = "policyviolation"
    AUTH_FAILURE = "authfailure"  # SPF/DKIM/DMARC
    SECURITY = "securityerror"
    NETWORK = "networkerror"
    SYSTEM = "systemerror"
    SYSTEM_FULL = "systemfull"
    MAILER = "mailererror"
    CONTENT = "contenterror"
    VIRUS = "virusdetected"
    RELAY = "norelaying"
    FEEDBACK = "feedback"  # an ARF complaint, not a failure
    DELIVERED = "delivered"  # a positive DSN
    UNDEFINED = "undefined"


#: DSN actions that are no failure (RFC 3464 2.3.3; "deliverable" from address checks).
_NOT_FAILED: Final = frozenset({"delivered", "relayed", "expanded", "deliverable"})
#: Words a free-text report uses when a delivery failed; without one, a mail
#: that names addresses (an auto-reply, a notice) is no report at all.
_FAILURE_WORDS: Final = re.compile(
    r"\b(?:undeliver\w*|fail\w*|errors?|bounced?|rejected|refused|unable|could ?not|couldn't"
    r"|permanent\w*|temporar\w*|not reach\w*|unknown|invalid|no such|quota|returned mail)\b"
    r"|(?<![\d.])[245]\.\d{1,3}\.\d{1,3}|\b[45]\d\d\b", re.IGNORECASE)

#: Reasons that say the address itself is dead.
_HARD: Final = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED})


@dataclass(frozen=True)
class Recipient:
    """One recipient a report is about."""

    address: str
    status: str = ""  # RFC 3463 "5.1.1", "" when the report gives none
    action: str = ""  # failed, delayed, delivered, relayed, expanded
    diagnostic: str = ""  # the remote server's words ("550 5.2.2 Mailbox full")
    reply_code: str = ""  # the SMTP reply code in the diagnostic ("550")
    reason: Reason = Reason.UNDEFINED

    @property
    def failed(self) -> bool:
        """Whether delivery to this address failed (now or for good), rather than succeeded."""
        return self.action not in _NOT_FAILED and self.reason is not Reason.FEEDBACK

    @property
    def permanent(self) -> bool:
        """A final failure (5.x.x, ``Action: failed``); a delay is not."""
        if self.action == "delayed":
            return False
        if self.status:
            return self.status.startswith("5")
        if self.reply_code:
            return self.reply_code.startswith("5")
        return self.action == "failed"

    @property
    def hard(self) -> bool:
        """The address is dead: reminders to it are pointless (see the module docstring)."""
        if self.reason in _HARD:
            return True
        return self.reason is Reason.NOT_ACCEPT and self.permanent


@dataclass(frozen=True)
class Report:
    """What a delivery report says; ``kind`` is ``dsn``, ``arf``, ``text`` or ``none``."""

    kind: str
    recipients: tuple[Recipient, ...] = ()
    original_message_id: str = ""  # the Message-ID of the mail it reports on, if it says
    original_envelope_id: str = ""
    reporting_mta: str = ""
    feedback_type: str = ""  # ARF: abuse, fraud, opt-out, ...
    truncated: bool = False
    references: tuple[str, ...] = field(default=(), repr=False)  # every Message-ID it quotes

    @property
    def failed(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.failed)


# -- reading ---------------------------------------------------------------------------------

_ADDRESS: Final = re.compile(PLAIN_ADDRESS)
_STATUS: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_REPLY: Final = re.compile(r"(?<![\d.#-])([245][0-5]\d)(?=[ -]|\s|$)(?![.]\d)")
_MESSAGE_ID: Final = re.compile(r"<([^<>\s@]{1,250}@[^<>\s@]{1,250})>")
#: An address as prose writes it: no "/", "=" or "&" in it (those are URLs and paths around one).
_TEXT_ADDRESS: Final = re.compile(r"(?<![\w/=&.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                                  r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_LABELLED_ID: Final = re.compile(r"message-id:\s*<?([^<>\s]+@[^<>\s]+?)>?(?:\s|$)", re.IGNORECASE)
_FIELD: Final = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$")
_RECIPIENT_FIELDS: Final = ("final-recipient", "original-recipient", "x-actual-recipient")
_ORIGINAL_TYPES: Final = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global",
                          "message/global-headers")
#: Lines where the returned original starts, in the free-text forms.
_ORIGINAL_STARTS: Final = re.compile(
    r"^\s*(?:-{2,}.*(?:original message|copy of the message|message follows|returned message|undelivered message"
    r"|below this line|headers? of (?:the )?(?:original|returned)|original headers|message header follows"
    r"|mensagem original)"
    r"|(?:original message|unsent message|returned message|undelivered message) (?:follows|below)"
    r"|-+\s*original message\s*-+|content-type: message/rfc822"
    r"|return-path:\s*<|received: from\b)",
    re.IGNORECASE | re.MULTILINE)
_TEMPORARY_WORDS: Final = re.compile(
    r"temporar|delayed|will (?:be )?retr|still trying|not yet been delivered|deferred|try again later|"
    r"retry timeout not reached|will continue to (?:retry|try)", re.IGNORECASE)
_RETRYING: Final = re.compile(r"will (?:be )?retr(?:y|ied)|will continue to (?:retry|try)|retry for \d+ more",
                              re.IGNORECASE)
_PERMANENT_WORDS: Final = re.compile(r"permanent|fatal|given up|giving up|could not be delivered|undeliverable"
                                     r"|failed permanently|rejected|wasn't able to deliver", re.IGNORECASE)


def read(raw: bytes) -> Report:
    """The delivery report in ``raw`` (see the module docstring); never raises."""
    # Bare CR line ends (old Mac mail clients, some gateways) hide every header.
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    try:
        message, _ = bounded.parse(raw, [])  # a report of a million parts is read as far as any mail is
    except Exception:  # noqa: BLE001 - a mail the parser chokes on is no report we can read
        return Report("none")
    references = tuple(dict.fromkeys(_MESSAGE_ID.findall(raw.decode("latin-1"))))
    truncated = _looks_truncated(message)
    feedback = _part(message, ("message/feedback-report",))
    if feedback is not None:
        return _arf(message, feedback, references, truncated)
    status = _part(message, ("message/delivery-status", "text/delivery-status", "message/global-delivery-status"))
    if status is not None:
        report = _dsn(message, _text_of(status), references, truncated)
        if report.recipients:
            return report
    whole = _decoded(raw, None)
    if re.search(r"^\s*(?:Final|Original)-Recipient\s*:", whole, re.IGNORECASE | re.MULTILINE):
        # The fields outside a part of their own, or in one the parser lost
        # (a boundary that never closes): read them where they are.
        report = _dsn(message, whole, references, truncated)
        if report.recipients:
            return report
    text = _report_text(message) or whole.partition("\n\n")[2]
    return _free_text(message, text, references, truncated)


def _dsn(message: Message, text: str, references: tuple[str, ...], truncated: bool) -> Report:
    """RFC 3464: a per-message block, then one block per recipient."""
    per_message: dict[str, str] = {}
    recipients: list[Recipient] = []
    human = _report_text(message)
    named = [_address_of(value) for value in re.findall(r"^\s*(?:Final|Original)-Recipient\s*:\s*(.+)$", text,
                                                         re.IGNORECASE | re.MULTILINE)]
    for block in _blocks(text):
        if not any(name in block for name in _RECIPIENT_FIELDS):
            if not recipients:
                per_message.update(block)
            continue
        address = _address_of(block.get("final-recipient") or block.get("original-recipient")
                              or block.get("x-actual-recipient", ""))
        original = _address_of(block.get("original-recipient", ""))
        if not address or (original and "@" not in address):
            address = original or address
        if not address:
            continue
        diagnostic = _one_line(block.get("diagnostic-code", "") or block.get("x-diagnostic-code", ""))
        recipients.append(_recipient(address, block.get("status", ""), block.get("action", ""), diagnostic,
                                     context=_around(human, (address, original), named)))
    original_id = _original_message_id(message, per_message)
    return Report("dsn", tuple(_merged(recipients)), original_message_id=original_id,
                  original_envelope_id=per_message.get("original-envelope-id", "").strip(),
                  reporting_mta=_typed_value(per_message.get("reporting-mta", "")), truncated=truncated,
                  references=references)


def _arf(message: Message, part: Message, references: tuple[str, ...], truncated: bool) -> Report:
    """RFC 5965: who complained (``Original-Rcpt-To``, else the original's To)."""
    text = _text_of(part)
    fields: dict[str, str] = {}
    for block in _blocks(text):
        fields.update(block)
    feedback = _one_line(fields.get("feedback-type", ""))
    # One Original-Rcpt-To per complaining recipient (a report may carry several).
    addresses = [a for a in (_address_of(v) for v in re.findall(r"^\s*Original-Rcpt-To\s*:\s*(.+)$", text,
                                                                  re.IGNORECASE | re.MULTILINE)) if a]
    original = _part(message, _ORIGINAL_TYPES)
    headers = _original_headers(original) if original is not None else None
    if not addresses and headers is not None:
        addresses = [a.lower() for a in _TEXT_ADDRESS.findall(str(headers.get("To", "") or ""))][:1]
    recipients = tuple(Recipient(a, reason=Reason.FEEDBACK, diagnostic=feedback) for a in dict.fromkeys(addresses))
    message_id = ""
    if headers is not None:
        found = _MESSAGE_ID.search(headers.get("Message-ID", "") or "")
        message_id = found.group(1) if found else ""
    return Report("arf", recipients, original_message_id=message_id, feedback_type=feedback.lower(), reporting_mta=_typed_value(fields.get("reporting-mta", "")),
                  truncated=truncated, references=references)


def _free_text(message: Message, text: str, references: tuple[str, ...], truncated: bool) -> Report:
    """MTAs that write prose: the addresses the report names, each with what follows it."""
    ours = _own_addresses(message)
    failed_header = message.get_all("X-Failed-Recipients") or []
    listed = [a.lower() for value in failed_header for a in _ADDRESS.findall(str(value))]
    report = _ORIGINAL_STARTS.split(text, maxsplit=1)[0] if text else ""
    message_ids = {m.lower() for m in _LABELLED_ID.findall(text)}
    found: list[tuple[int, str]] = []
    for match in _TEXT_ADDRESS.finditer(report):
        address = match.group().lower().strip(".")
        before = report[max(0, match.start() - 12):match.start()].lower()
        if address in ours or address in message_ids or _is_daemon(address) or "from:" in before \
                or "from <" in before or before[-1:] in ("/", "=", "."):
            continue
        found.append((match.start(), address))
    # Exim names the failed ones in a header: then only those (the text also names the sender and forwards).
    order = list(dict.fromkeys(listed or [a for _, a in found]))
    if not order or not (listed or _FAILURE_WORDS.search(f"{message.get('Subject', '')}\n{report}")):
        return Report("none", references=references, truncated=truncated,
                      original_message_id=_original_message_id(message, {}))
    starts = {a: next((p for p, found_a in found if found_a == a), -1) for a in order}
    positions = sorted(p for p in starts.values() if p >= 0)
    whole = _one_line(report)
    recipients = []
    for address in order:
        start = starts[address]
        if start < 0:  # named only in X-Failed-Recipients: the whole report is its diagnostic
            diagnostic = whole
        else:
            after = [p for p in positions if p > start]
            diagnostic = _one_line(report[start:after[0] if after else start + 1500])
            if not _STATUS.search(diagnostic) and not _REPLY.search(diagnostic[len(address):]):
                diagnostic = _one_line(f"{diagnostic} {report[:start]}")  # the status may come before the list
        recipients.append(_recipient(address, "", "", diagnostic[:1000], fallback=whole, context=diagnostic))
    return Report("text", tuple(recipients), original_message_id=_original_message_id(message, {}),
                  truncated=truncated, references=references)


def _recipient(address: str, status_field: str, action: str, diagnostic: str, *, fallback: str = "",
               context: str = "") -> Recipient:
    """One recipient: the most specific status its fields and words give, its reason.
    ``context``: what the report's text says around the address (the
    command refused, the words when the fields have none)."""
    if not diagnostic and context:
        diagnostic = context[:600]
    status = _status_in(status_field)
    said = _status_in(diagnostic)
    if said and (not status or status.endswith(".0.0") or status == "4.4.7" and said.startswith("5")) \
            and said[0] == (status or said)[0]:
        status = said
    status = status or said
    reply = _reply_in(diagnostic)
    action = action.strip().lower().split()[0] if action.strip() else ""
    if not status and not reply:
        words = diagnostic or fallback
        if _TEMPORARY_WORDS.search(words) and not _PERMANENT_WORDS.search(words):
            action = action or "delayed"
        else:
            action = action or "failed"
    if not action and _RETRYING.search(f"{diagnostic} {fallback}"):
        action = "delayed"  # "550 5.7.1 ... Gmail will retry for 47 more hours": not yet given up
    if not action:
        first = (status or reply)[:1]
        action = {"2": "delivered", "4": "delayed", "5": "failed"}.get(first, "failed")
    reason = classify(status, diagnostic, action=action, command=_command_in(f"{context} {diagnostic}"))
    return Recipient(address=address, status=status, action=action, diagnostic=diagnostic, reply_code=reply,
                     reason=reason)


# -- why -------------------------------------------------------------------------------------

#: The server's words, checked before the status (a "5.0.0 User unknown" is a user unknown).
#: Order matters: the first reason whose pattern matches wins.
_WORDS: Final[tuple[tuple[Reason, re.Pattern[str]], ...]] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in (
        (Reason.REJECTED, r"sender address|domain of sender|sender domain|sender (?:is )?(?:rejected|denied|unknown)"
                          r"|envelope sender|from address (?:is )?(?:rejected|invalid)"),
        (Reason.HAS_MOVED, r"address \S* ?has been replaced by|has moved|new address"),
        (Reason.MAILBOX_FULL, r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |its |storage )?"
                              r"(?:quota|storage)|mailbox size limit|insufficient (?:disk )?space|mailbox (?:is )?over"
                              r"|disk quota|full mailbox|user has exceeded|caixa (?:postal )?(?:est[aá] )?cheia"
                              r"|not enough storage|mailfolder is full|quota violation|storage (?:space )?(?:is )?full"),
        (Reason.SUSPEND, r"account (?:is |has been )?(?:disabled|suspended|inactive|deactivated|closed|blocked|expired)"
                         r"|mailbox (?:is )?(?:disabled|suspended|inactive)|is (?:disabled|inactive|deactivated)"
                         r"|temporar(?:il)?y (?:disabled|deactivated|locked)|recipient suspend|been disabled"
                         r"|user (?:is )?(?:inactive|suspended)|\S+ temporary locked"),
        (Reason.NOT_ACCEPT, r"does not accept mail|doesn't receive e?mail|not accepting mail|null mx|accepts no mail"
                            r"|no smtp service"),
        # A DNS answer that may change (not "no such domain"): Sisimai's network error, and ours.
        (Reason.NETWORK, r"dns error|host not found, try again|malformed or unexpected name server reply"
                         r"|temporary failure in name resolution|host name lookup failure"),
        (Reason.HOST_UNKNOWN, r"host (?:or domain name )?not found|unknown host|host unknown|domain (?:does )?not exist"
                              r"|no such domain|couldn't find any host|name or service not known"
                              r"|unrouteable (?:mail )?domain|domain (?:name )?not found|nxdomain|no mx"
                              r"|unknown domain|domain is not (?:valid|configured|reachable)|mx lookup failed"
                              r"|unresolvable"),
        (Reason.USER_UNKNOWN, r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|account|person)"
                              r"|mailbox (?:not found|unavailable|does not exist|doesn't exist|not present"
                              r"|is unavailable)"
                              r"|does not exist|recipient (?:address )?(?:unknown|not found|invalid)"
                              r"|recipient address rejected(?::? (?:user|address|access denied)|\s*\.?\s*$)"
                              r"|unknown (?:recipient|address|local[- ]part|mailbox)"
                              r"|invalid (?:recipient|mailbox|address|user|final delivery userid)"
                              r"|not a valid (?:mailbox|user|recipient)|user (?:not found|doesn't have|does not have)"
                              r"|no mailbox here|addressee unknown|bad destination mailbox|recipient not found"
                              r"|unknown or illegal alias|not our customer|no account by that name|unrouteable address"
                              r"|user not (?:local|known)|no such local user|account (?:not found|unavailable)"
                              r"|destin(?:at[aá]rio|o) (?:desconhecido|inexistente)"
                              r"|usu[aá]rio (?:desconhecido|inexistente)|endere[cç]o (?:inexistente|inv[aá]lido)"
                              r"|not listed in (?:domino|public name)|is not a known user|mailbox unknown"
                              r"|no valid recipients|check if (?:the )?address is correct|address (?:couldn.t|could not) be found"),
        (Reason.NETWORK, r"connection (?:refused|timed out|reset)|network (?:is )?unreachable|no route to host"
                         r"|too many hops|mail loop|loops? back to myself|hop count exceeded|routing loop"),
        (Reason.MESSAGE_TOO_BIG, r"message (?:size )?(?:is )?too (?:big|large)"
                                 r"|exceeds? (?:the )?(?:maximum )?(?:message )?size|size exceeds|mail too large"),
        (Reason.EXCEED_LIMIT, r"exceeds? (?:the )?(?:limit|fixed)|too many recipients"),
        (Reason.VIRUS, r"virus|malware|infected"),
        (Reason.AUTH_FAILURE, r"\bspf\b|\bdkim\b|\bdmarc\b|sender (?:policy framework|authentication)"),
        (Reason.SPAM, r"\bspam\b|junk mail|unsolicited|bulk mail|spamhaus|looks like spam"
                      r"|content(?:s)? (?:was )?rejected"),
        (Reason.BLOCKED, r"blacklist|blocklist|block ?list|black ?list|\brbl\b|dnsbl|blocked (?:using|by)"
                         r"|listed (?:at|on|in)|poor reputation|reverse dns|ptr record|client host rejected"
                         r"|access denied.*ip|\bip\b.*(?:block|reject)|connection refused by"
                         r"|rejected due to .*(?:ip|reputation)"),
        (Reason.RELAY, r"relay(?:ing)? (?:access )?denied|not permitted to relay|relaying (?:not allowed|denied)"
                       r"|not in my list of allowed rcpthosts|unable to relay|we do not relay"),
        (Reason.EXPIRED, r"retry time(?:out)? (?:not reached|exceeded)|delivery time expired|too long in queue"
                         r"|message expired|could not be delivered for \d+|has been delayed|queue(?:d)? too long"
                         r"|giving up on|timed? ?out|expired"),
        (Reason.FILTERED, r"filtered|refused by (?:recipient|user)'?s? (?:filter|rule)|rejected by recipient"
                          r"|delivery not authorized|not authorized to send|message rejected by|recipient rejected"),
        (Reason.POLICY, r"policy|not permitted|prohibited|restricted"),
        (Reason.MAILER, r"x-unix|procmail|command (?:died|failed)|mailer error"),
        (Reason.SYSTEM, r"system error|internal (?:server )?error|local error|system (?:is )?not (?:available|ready)"
                        r"|service (?:is )?(?:unavailable|not available)|try again later"),
    ))
#: The SMTP command a server refused at: "user unknown" after DATA is a content
#: filter's answer (the address may well exist), after MAIL FROM it is about us.
_COMMAND: Final = re.compile(
    r"(?:in reply to|after|>>>|smtp command:?|-+\s*smtp command)\s*(?:the\s+)?(?:end of\s+)?"
    r"(RCPT|DATA|MAIL|end of data)", re.IGNORECASE)
#: The standard status codes (RFC 3463) that name a reason on their own.
_STATUSES: Final = {
    "1.1": Reason.USER_UNKNOWN, "1.0": Reason.USER_UNKNOWN, "1.2": Reason.HOST_UNKNOWN, "1.6": Reason.HAS_MOVED,
    "1.10": Reason.USER_UNKNOWN, "1.3": Reason.USER_UNKNOWN, "1.7": Reason.REJECTED, "1.8": Reason.REJECTED,
    "2.0": Reason.FILTERED, "2.1": Reason.FILTERED, "2.2": Reason.MAILBOX_FULL, "2.3": Reason.EXCEED_LIMIT,
    "2.4": Reason.MAILER, "3.1": Reason.SYSTEM_FULL, "3.2": Reason.NOT_ACCEPT, "3.4": Reason.MESSAGE_TOO_BIG,
    "3.0": Reason.SYSTEM, "3.5": Reason.SYSTEM, "4.0": Reason.NETWORK, "4.1": Reason.NETWORK, "4.2": Reason.NETWORK,
    "4.3": Reason.HOST_UNKNOWN, "4.4": Reason.HOST_UNKNOWN, "4.5": Reason.NETWORK, "4.6": Reason.NETWORK,
    "4.7": Reason.EXPIRED, "5.0": Reason.SYSTEM, "6.0": Reason.CONTENT, "7.0": Reason.SECURITY,
    "7.1": Reason.REJECTED, "7.26": Reason.AUTH_FAILURE, "7.25": Reason.BLOCKED, "7.27": Reason.AUTH_FAILURE,
}


def classify(status: str, diagnostic: str, *, action: str = "failed", command: str = "") -> Reason:
    """Why a recipient failed, from its status, the server's words and the
    SMTP command it refused at (``RCPT``, ``DATA``, ``MAIL``; "" unknown).

    The words come first where they are specific ("550 5.7.1 Mailbox full"
    is a full mailbox whatever the code), then the standard status codes,
    which only few servers use precisely.  "User unknown" is the answer
    of many content filters too: given after DATA, it is a filter's (the
    address took RCPT); after MAIL FROM it is about our sender.
    """
    if action in _NOT_FAILED or status.startswith("2"):
        return Reason.DELIVERED
    by_status = _STATUSES.get(status.partition(".")[2]) if status else None
    for reason, pattern in _WORDS:
        if pattern.search(diagnostic):
            if reason is Reason.USER_UNKNOWN:
                if command == "MAIL":
                    return Reason.REJECTED
                if command == "DATA" and not status[1:4] == ".1.":  # Sendmail shows a refused RCPT at DATA
                    return Reason.FILTERED
            return reason
    if by_status is not None:
        return by_status
    return Reason.UNDEFINED


def _command_in(text: str) -> str:
    """The first SMTP command named after the address (``text`` starts
    there), "" when none is: a transcript goes on to DATA after a refused RCPT."""
    found = _COMMAND.search(text)
    if not found:
        return ""
    first = found.group(1).upper()
    return "DATA" if first in ("DATA", "END OF DATA") else first


# -- small helpers ---------------------------------------------------------------------------

def _part(message: Message, types: Iterable[str]) -> Message | None:
    wanted = tuple(types)
    for part in message.walk():
        if part.get_content_type() in wanted:
            return part
    return None


def _text_of(part: Message) -> str:
    """A part's text, whatever shape the parser gave it (message/* parts are lists)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(_headers_text(item) for item in payload if isinstance(item, Message))
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return _decoded(data, part.get_content_charset())
    return str(payload or "")


def _headers_text(message: Message) -> str:
    return "\n".join(f"{name}: {value}" for name, value in message.items())


def _decoded(data: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _blocks(text: str) -> Iterator[dict[str, str]]:
    """Field blocks separated by blank lines, names lower-cased, folded lines joined."""
    block: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if block:
                yield block
            block, last = {}, ""
            continue
        if line[:1] in (" ", "\t") and last:
            block[last] += " " + line.strip()
            continue
        match = _FIELD.match(line)
        if match is None:
            last = ""
            continue
        last = match.group(1).lower()
        block.setdefault(last, match.group(2).strip())
    if block:
        yield block


def _report_text(message: Message) -> str:
    """The human-readable text of the report: its text parts outside the returned original."""
    texts: list[str] = []
    for part in _walk_outside_originals(message):
        unparsed = part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), str)
        if unparsed:  # a multipart whose boundary never came: its text as it is
            texts.append(str(part.get_payload()))
        elif part.get_content_maintype() == "text" and part.get_content_type() in ("text/plain", "text/html", ""):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                text = _decoded(data, part.get_content_charset())
                if part.get_content_type() == "text/html":
                    text = re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", text, flags=re.IGNORECASE)
                    text = re.sub(r"<[^>]+>", " ", text).replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ")
                texts.append(text)
            if part.get_content_type() == "text/plain" and texts:
                break
    return "\n".join(texts)


def _walk_outside_originals(message: Message) -> Iterator[Message]:
    if message.get_content_type() in _ORIGINAL_TYPES and message.get_content_maintype() == "message":
        return
    if message.is_multipart():
        for part in message.get_payload():  # type: ignore[union-attr]
            if isinstance(part, Message):
                yield from _walk_outside_originals(part)
        return
    yield message


def _original_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return bounded.parse(data, [])[0]
    return None


def _original_message_id(message: Message, per_message: dict[str, str]) -> str:
    """The Message-ID of the mail reported on: the DSN's ``Original-Message-ID``
    (a common extension), else the returned headers'."""
    for name in ("original-message-id", "x-original-message-id"):
        found = _MESSAGE_ID.search(per_message.get(name, ""))
        if found:
            return found.group(1)
    original = _part(message, _ORIGINAL_TYPES)
    if original is not None:
        headers = _original_headers(original)
        if headers is not None:
            found = _MESSAGE_ID.search(str(headers.get("Message-ID", "") or ""))
            if found:
                return found.group(1)
    return ""


def _own_addresses(message: Message) -> set[str]:
    """The report's own sender and recipient (the mail's sender, us): never the failed recipient."""
    addresses = set()
    for name in ("From", "To", "Return-Path", "Reply-To", "Sender"):
        for value in message.get_all(name) or []:
            addresses.update(a.lower() for a in _ADDRESS.findall(str(value)))
    return addresses


def _is_daemon(address: str) -> bool:
    local = address.split("@", 1)[0]
    return local in DAEMON_LOCAL_PARTS or local.startswith(("mailer-daemon", "postmaster", "bounce"))


def _address_of(value: str) -> str:
    """``rfc822; <Ana@Example.org>`` → ``ana@example.org`` ("" when none)."""
    text = value.split(";", 1)[1] if ";" in value else value
    text = text.strip().strip("<>").strip()
    found = _ADDRESS.search(text)
    if found:
        return found.group().lower()
    return text.lower() if text and " " not in text else ""


def _around(text: str, addresses: Iterable[str], others: Iterable[str] = ()) -> str:
    """The report's words from the first mention of one of ``addresses``
    on, up to 800 characters or the first mention of one of ``others`` (the
    other recipients: what follows is about them), as one line."""
    lowered = text.lower()
    for address in addresses:
        if address and (start := lowered.find(address)) >= 0:
            ends = [at for other in others if other not in addresses
                    and (at := lowered.find(other, start + len(address))) > 0]
            return _one_line(text[start:min([start + 800, *ends])])
    return ""


def _typed_value(value: str) -> str:
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _status_in(text: str) -> str:
    found = _STATUS.search(text or "")
    return ".".join(found.groups()) if found else ""


def _reply_in(text: str) -> str:
    found = _REPLY.search(text or "")
    return found.group(1) if found else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _merged(recipients: list[Recipient]) -> Iterator[Recipient]:
    """One entry per address (some MTAs repeat a recipient block)."""
    seen: set[str] = set()
    for recipient in recipients:
        if recipient.address not in seen:
            seen.add(recipient.address)
            yield recipient


def _looks_truncated(message: Message) -> bool:
    """A multipart whose closing boundary never came: the relay cut the report."""
    return any("close-delimiter" in type(defect).__name__.lower() or "StartBoundaryNotFound" in type(defect).__name__
               or "CloseBoundaryNotFound" in type(defect).__name__ for part in message.walk() for defect in part.defects)
