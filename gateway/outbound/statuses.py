"""What people read for a ticket's state: the desk's own name for it.

Each mailbox may name the states as its citizens know them
(``[mailbox.status_names]``: SIOP's "Validar", CAU/SP's "Pendente
Profissional"); the mails, the tracking page and ``gateway tickets`` all
ask here, so the three never disagree.  A closed ticket that a reply may
still reopen (the mailbox's ``reopen_window`` has not run out) is shown as
*resolved*, which is why the answer depends on the moment it is read; one
closed with its solution accepted, as *accepted* (CAU/SP's "Homologado").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.calendar.mailboxes import deadline
from gateway.config import MailboxConfig
from gateway.tickets.kinds import SURVEYED
from gateway.tickets.states import RESOLVED, Status, shown_label, shown_state


def reopen_until(ticket: Any, mailbox: MailboxConfig | None) -> datetime | None:
    """The last moment a reply reopens ``ticket`` (closed), else None."""
    if mailbox is None or mailbox.reopen_window is None or Status(ticket.status) is not Status.CLOSED:
        return None
    return deadline(mailbox, ticket.closed_at or ticket.updated_at, mailbox.reopen_window)


def shown(ticket: Any, mailbox: MailboxConfig | None, now: datetime | None) -> str:
    """The state people are shown at ``now`` (None: as stored): ``resolved``
    for a closed ticket still within its reopening window, ``accepted`` for
    one closed with its solution accepted."""
    until = reopen_until(ticket, mailbox) if now is not None else None
    return shown_state(Status(ticket.status), reopenable=until is not None and now is not None and now <= until,
                       accepted=ticket.closed_reason in {reason.value for reason in SURVEYED})


def label(ticket: Any, mailbox: MailboxConfig | None, language: str, now: datetime | None) -> str:
    """``ticket``'s state in the desk's words (or ours in ``language``) at ``now``."""
    return shown_label(shown(ticket, mailbox, now), language, mailbox.state_names if mailbox else None)


def move_label(to_status: str, mailbox: MailboxConfig | None, language: str) -> str:
    """A timeline move's state in the desk's words.  A ticket closed on a
    mailbox that lets replies reopen it was *resolved* at that moment."""
    state = RESOLVED if to_status == Status.CLOSED.value and mailbox and mailbox.reopen_window else to_status
    return shown_label(state, language, mailbox.state_names if mailbox else None)
