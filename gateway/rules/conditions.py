"""One small evaluator per condition kind, over the ``Facts`` of one mail.

Every evaluator answers with a :class:`Verdict` that says *why*, not just
yes or no: ``gateway explain`` shows administrators which leaf failed, and
a rule that silently never matches is the usual rule-file bug.

Text is compared without accents (NFKD, combining marks dropped) on both
sides, because citizens write "inclusao" as often as "inclusão"; case is
ignored unless the leaf says ``case_sensitive``.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from gateway.calendar.business import BusinessCalendar
from gateway.mail.attachments import Attachment
from gateway.mail.charsets import decode_header_value
from gateway.mail.parsed import ParsedMail
from gateway.rules import schema


@dataclass(frozen=True)
class Facts:
    """What the rules may look at: the mail and where and when it arrived."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    language: str | None
    attachments: tuple[Attachment, ...]
    raw_headers: tuple[tuple[str, str], ...]
    is_new: bool
    arrived_at: datetime | None = None
    calendar: BusinessCalendar | None = None

    @classmethod
    def from_mail(cls, mail: ParsedMail, *, mailbox: str, is_new: bool,
                  arrived_at: datetime | None = None,
                  calendar: BusinessCalendar | None = None) -> Facts:
        """Facts of a parsed mail delivered to ``mailbox`` (listed first among the recipients)."""
        recipients = tuple(dict.fromkeys((mailbox.lower(), *mail.to, *mail.cc)))
        return cls(sender=mail.from_addr, recipients=recipients, subject=mail.subject,
                   body=mail.text, language=mail.language_hint, attachments=mail.attachments,
                   raw_headers=mail.raw_headers, is_new=is_new, arrived_at=arrived_at,
                   calendar=calendar)

    def header_values(self, name: str) -> list[str]:
        """Every ``name`` header, decoded only now (most mails carry dozens nobody asks about)."""
        wanted = name.lower()
        return [decode_header_value(value) for key, value in self.raw_headers if key.lower() == wanted]


@dataclass(frozen=True)
class Verdict:
    """Whether a condition matched, and a sentence saying why."""

    matched: bool
    reason: str


def fold(text: str) -> str:
    """Drop accents (``"Inclusão"`` -> ``"Inclusao"``); case is left to the matcher."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=4096)
def literal_pattern(literal: str, case_sensitive: bool) -> re.Pattern[str]:
    """A whole-word pattern for a word or phrase: ``gov.br`` does not match
    inside ``xgov.brx``, and any run of spaces in a phrase matches any other."""
    parts = [re.escape(part) for part in fold(literal).split()]
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)", flags)


def _text(leaf: schema.TextMatch, facts: Facts) -> Verdict:
    text = fold(facts.subject if leaf.field == "subject" else facts.body)
    missing = [word for word in leaf.words if not literal_pattern(word, leaf.case_sensitive).search(text)]
    if missing:
        return Verdict(False, f"{leaf.field}: missing word(s) {_quoted(missing)}")
    found = [phrase for phrase in leaf.phrases if literal_pattern(phrase, leaf.case_sensitive).search(text)]
    if leaf.phrases and not found:
        return Verdict(False, f"{leaf.field}: none of the phrases {_quoted(leaf.phrases)}")
    if leaf.regex is not None:
        match = leaf.regex.search(text)
        if match is None:
            return Verdict(False, f"{leaf.field}: regex /{leaf.regex.pattern}/ not found")
        found.append(match.group())
    present = [word for word in leaf.without if literal_pattern(word, leaf.case_sensitive).search(text)]
    if present:
        return Verdict(False, f"{leaf.field} has {_quoted(present)}, listed in 'without'")
    shown = _quoted([*leaf.words, *found])
    if not leaf.without:
        return Verdict(True, f"{leaf.field} has {shown}")
    absent = "none of its 'without' words"
    return Verdict(True, f"{leaf.field} has {shown} and {absent}" if shown else f"{leaf.field} has {absent}")


def _address(leaf: schema.AddressMatch, facts: Facts) -> Verdict:
    candidates = (facts.sender,) if leaf.field == "sender" else facts.recipients
    for address in candidates:
        address = address.lower()
        domain = address.rpartition("@")[2]
        for glob in leaf.addresses:
            if fnmatch.fnmatchcase(address, glob.lower()):
                return Verdict(True, f"{leaf.field} {address} matches {glob!r}")
        for glob in leaf.domains:
            if fnmatch.fnmatchcase(domain, glob.lower()):
                return Verdict(True, f"{leaf.field} domain {domain} matches {glob!r}")
    wanted = _quoted([*leaf.addresses, *(f"@{glob}" for glob in leaf.domains)])
    shown = ", ".join(candidates) or "(none)"
    return Verdict(False, f"{leaf.field} {shown} matches none of {wanted}")


def _language(leaf: schema.LanguageMatch, facts: Facts) -> Verdict:
    if not facts.language:
        return Verdict(False, "language: the mail has no Content-Language")
    spoken = facts.language.lower().replace("_", "-")
    for language in leaf.languages:
        wanted = language.lower().replace("_", "-")
        if spoken == wanted or spoken.startswith(wanted + "-"):
            return Verdict(True, f"language {facts.language} is {language}")
    return Verdict(False, f"language {facts.language} is none of {_quoted(leaf.languages)}")


def _attachment(leaf: schema.AttachmentMatch, facts: Facts) -> Verdict:
    def fits(attachment: Attachment) -> bool:
        real = attachment.sniffed_type or "application/octet-stream"
        if leaf.types and not any(fnmatch.fnmatchcase(real, glob) for glob in leaf.types):
            return False
        if leaf.size_over is not None and attachment.size <= leaf.size_over:
            return False
        return leaf.size_under is None or attachment.size < leaf.size_under

    count = sum(1 for attachment in facts.attachments if fits(attachment))
    too_many = leaf.max_count is not None and count > leaf.max_count
    described = f"{count} of {len(facts.attachments)} attachment(s) fit"
    if count < leaf.min_count or too_many:
        bounds = f"{leaf.min_count}..{'' if leaf.max_count is None else leaf.max_count}"
        return Verdict(False, f"attachment: {described}, wanted {bounds}")
    return Verdict(True, f"attachment: {described}")


def _header(leaf: schema.HeaderMatch, facts: Facts) -> Verdict:
    values = facts.header_values(leaf.name)
    if leaf.present is not None:
        matched = bool(values) is leaf.present
        state = "present" if values else "absent"
        return Verdict(matched, f"header {leaf.name} is {state}")
    for value in values:
        if leaf.value is not None and fnmatch.fnmatchcase(value.strip().lower(), leaf.value.lower()):
            return Verdict(True, f"header {leaf.name}: {value!r} matches {leaf.value!r}")
        if leaf.regex is not None and leaf.regex.search(fold(value)):
            return Verdict(True, f"header {leaf.name}: {value!r} matches /{leaf.regex.pattern}/")
    if not values:
        return Verdict(False, f"header {leaf.name} is absent")
    return Verdict(False, f"header {leaf.name}: {values[0]!r} does not match")


def _kind(leaf: schema.KindMatch, facts: Facts) -> Verdict:
    actual = "new" if facts.is_new else "follow_up"
    return Verdict(actual == leaf.kind, f"kind is {actual}")


def _arrival(leaf: schema.ArrivalMatch, facts: Facts) -> Verdict:
    if facts.calendar is None or facts.arrived_at is None:
        # No calendar means no business hours to compare with: say so
        # rather than guess, so explain shows why the rule never fires.
        return Verdict(False, "arrival: no business calendar or arrival time for this mailbox")
    is_open = facts.calendar.is_open(facts.arrived_at)
    actual = "business_hours" if is_open else "outside_business_hours"
    return Verdict(actual == leaf.when, f"arrived {facts.arrived_at.isoformat()}: {actual}")


_EVALUATORS: dict[type, Callable[..., Verdict]] = {
    schema.TextMatch: _text,
    schema.AddressMatch: _address,
    schema.LanguageMatch: _language,
    schema.AttachmentMatch: _attachment,
    schema.HeaderMatch: _header,
    schema.KindMatch: _kind,
    schema.ArrivalMatch: _arrival,
}


def check(condition: schema.Condition, facts: Facts) -> Verdict:
    """Evaluate a condition tree; the reason names the leaf that decided."""
    if isinstance(condition, schema.All):
        reasons = []
        for child in condition.children:
            verdict = check(child, facts)
            if not verdict.matched:
                return verdict
            reasons.append(verdict.reason)
        return Verdict(True, "; ".join(reasons) or "always")
    if isinstance(condition, schema.Any):
        reasons = []
        for child in condition.children:
            verdict = check(child, facts)
            if verdict.matched:
                return verdict
            reasons.append(verdict.reason)
        return Verdict(False, "none of: " + " | ".join(reasons))
    if isinstance(condition, schema.Not):
        verdict = check(condition.child, facts)
        return Verdict(not verdict.matched, f"not ({verdict.reason})")
    return _EVALUATORS[type(condition)](condition, facts)


def _quoted(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(repr(item) for item in items)
