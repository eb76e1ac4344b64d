"""Use case: a mailbox's daily digest, to its team and to each assignee.

Analysts work from their mail client, so the morning's "what is on my
plate" comes by mail (issue 18): the tickets overdue, due today, new and
waiting for the citizen.  The team address gets the whole desk; each
assignee gets only their own tickets; nobody gets an empty digest.  Each
ticket is a line ``[ATD-2026-000042-5] subject`` linked to a ``mailto:``
of the mailbox's ``+PROTOCOL`` address with that subject (a reply lands
on the ticket, as a reply to the team's notice does) and its tracking link.

It goes out once per business day of the mailbox's calendar, at or after
``[[mailbox]] digest`` in the mailbox's zone: the day is claimed
(store.digest.claim_day) in the transaction that queues the mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from gateway import links
from gateway.calendar.mailboxes import calendar_for
from gateway.config import MailboxConfig, Settings
from gateway.outbound import words
from gateway.outbound.render import Renderer, Rendered
from gateway.services import team_mail
from gateway.services.incoming import NO_SUBJECT
from gateway.store import digest as store
from gateway.store.db import Transaction
from gateway.store.models import TicketRow

TEMPLATE: Final = "digest"
#: The outbox kind: "team_" puts it in the team's lane, behind the citizens' mails (store.outbox.lane_of).
KIND: Final = "team_digest"
#: Tickets shown per list in one mail; the rest are counted ("e mais 12").
SHOWN: Final = 100
_LISTS: Final = ("overdue", "due_today", "new", "waiting")


@dataclass(frozen=True)
class DigestMail:
    """One digest, rendered: to the team (``for_team``) or to one assignee."""

    to: tuple[str, ...]
    for_team: bool
    count: int
    parts: Rendered


class Digests:
    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings, self.renderer = settings, renderer

    def due_day(self, mailbox: MailboxConfig, now: datetime) -> date | None:
        """The local day whose digest is due at ``now``: a business day of the
        mailbox's calendar once its ``digest`` time has come; None on a day
        off, before that time, or when the mailbox has no digest."""
        if not mailbox.digest:
            return None
        local = now.astimezone(ZoneInfo(mailbox.timezone))
        if local.time() < time.fromisoformat(mailbox.digest):
            return None
        return local.date() if calendar_for(mailbox).is_business_day(local.date()) else None

    def send_due(self, tx: Transaction, mailbox: MailboxConfig, now: datetime, *,
                 force: bool = False) -> list[DigestMail]:
        """Queue the day's digests of ``mailbox`` if due and not yet sent
        (``force``: now, whatever the time and whether it was); the mails queued."""
        day = now.astimezone(ZoneInfo(mailbox.timezone)).date() if force else self.due_day(mailbox, now)
        if day is None or not store.claim_day(tx, mailbox.address, day, at=now, force=force):
            return []
        mails = self.compose(tx, mailbox, now)
        for mail in mails:
            self.queue(tx, mailbox, mail, now)
        return mails

    def compose(self, tx: Transaction, mailbox: MailboxConfig, now: datetime) -> list[DigestMail]:
        """The digests of ``mailbox`` as of ``now``, rendered, not queued:
        the team's (all its tickets), then one per assignee (theirs only);
        empty ones left out."""
        zone = ZoneInfo(mailbox.timezone)
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        day_end = datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(timezone.utc)
        found = store.buckets(tx, mailbox.address, now=now, day_end=day_end)
        team = tuple(mailbox.team)
        readers: list[tuple[tuple[str, ...], store.Buckets]] = [(team, found)] if team else []
        readers += [((who,), found.of(who)) for who in found.assignees() if who not in team]
        mails = []
        for to, lists in readers:
            if lists.total:
                rendered = self.render(mailbox, lists, now, for_team=to == team, reader=to[0])
                mails.append(DigestMail(to, to == team, lists.total, rendered))
        return mails

    def render(self, mailbox: MailboxConfig, lists: store.Buckets, now: datetime, *, for_team: bool,
               reader: str) -> Rendered:
        language = mailbox.language
        digest: dict[str, Any] = {"day": words.short_date(now, mailbox.timezone), "for_team": for_team,
                                  "reader": reader, "total": lists.total}
        for name in _LISTS:
            rows: list[TicketRow] = getattr(lists, name)
            digest[name] = {"count": len(rows), "more": max(0, len(rows) - SHOWN),
                            "tickets": [self.line(mailbox, row, now, language) for row in rows[:SHOWN]]}
        context = {"digest": digest, "mailbox_name": mailbox.display_name, "mailbox_address": mailbox.address}
        return self.renderer.render(TEMPLATE, language=language, mailbox=mailbox.address, context=context)

    def line(self, mailbox: MailboxConfig, ticket: TicketRow, now: datetime, language: str) -> dict[str, str]:
        """One ticket as the digest shows it: ``[PROTOCOL] subject``, a
        ``mailto:`` that replies on it, its deadline in words, its link."""
        reply = mailbox.address_with_token(ticket.protocol)
        line = f"[{ticket.protocol}] {' '.join((ticket.subject or NO_SUBJECT).split())}"
        target = store.next_target(ticket)
        web = self.settings.web
        return {"protocol": ticket.protocol, "line": line, "reply_address": reply,
                "mailto": f"mailto:{reply}?subject={quote(line, safe='')}",
                "deadline": words.day_and_time(target, now, mailbox.timezone, language) if target else "",
                "assignee": ticket.assignee or "",
                "tracking_url": links.make_url(web.base_url, web.secret, ticket.protocol, "track")}

    def queue(self, tx: Transaction, mailbox: MailboxConfig, mail: DigestMail, now: datetime) -> str:
        """Compose and queue one digest; its Message-ID.  Each line has its own reply address."""
        return team_mail.queue(tx, mailbox, kind=KIND, to=mail.to, parts=mail.parts, now=now)


def mailboxes_of(settings: Settings, address: str | None) -> list[MailboxConfig]:
    """All mailboxes, or the one at ``address``; a ValueError names the known ones."""
    if address is None:
        return list(settings.mailboxes)
    wanted = address.strip().lower()
    found = [m for m in settings.mailboxes if m.address == wanted]
    if not found:
        known = ", ".join(m.address for m in settings.mailboxes)
        raise ValueError(f"no mailbox {address!r} in the configuration; known: {known}")
    return found
