"""The states a ticket goes through, what users read for each, and which
moves between them are allowed (README, "One ticket's life").

Three states are the seeds' distinctions (issue 15): *assigned*, a ticket
handed to someone that no analyst has acted on yet (stored: it is entered
and left by moves); *resolved*, a closed ticket that a reply may still
reopen (SIOP's "Resolvido"); and *accepted*, a ticket closed with its
solution accepted, by the requester or for want of an answer (CAU/SP's
"Homologado", where a ticket closed for no answer is only "Fechado").
The last two are only shown, never stored: whether the mailbox's
``reopen_window`` has run out depends on the clock (a stored state would
need a sweep to turn it into *closed* on time), and how a ticket closed is
already its ``closed_reason``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from gateway.errors import TransitionError


class Status(str, enum.Enum):
    NEW = "new"
    ASSIGNED = "assigned"  # has an assignee; no analyst has acted on it yet
    OPEN = "open"
    WAITING = "waiting"
    SOLVED = "solved"
    CLOSED = "closed"
    REJECTED = "rejected"

    def label(self, language: str = "pt_BR") -> str:
        return LABELS[language][self]


#: States no analyst has acted on: their first action takes the ticket up,
#: and leaving them is the first response the SLA counts.
UNTOUCHED: Final = frozenset({Status.NEW, Status.ASSIGNED})

#: The shown state of a closed ticket a reply may still reopen.
RESOLVED: Final = "resolved"
#: The shown state of a ticket closed with its solution accepted (once no reply reopens it).
ACCEPTED: Final = "accepted"
#: What users may be shown (and a desk may name in ``[mailbox.status_names]``):
#: every stored state, ``resolved`` and ``accepted``.
SHOWN_STATES: Final[tuple[str, ...]] = (*(status.value for status in Status), RESOLVED, ACCEPTED)

LABELS: Final[dict[str, dict[Status, str]]] = {
    "pt_BR": {
        Status.NEW: "Novo",
        Status.ASSIGNED: "Atribuído",
        Status.OPEN: "Em andamento",
        Status.WAITING: "Aguardando solicitante",
        Status.SOLVED: "Solução proposta",
        Status.CLOSED: "Fechado",
        Status.REJECTED: "Devolvido",
    },
    "en": {
        Status.NEW: "New",
        Status.ASSIGNED: "Assigned",
        Status.OPEN: "In progress",
        Status.WAITING: "Waiting for requester",
        Status.SOLVED: "Solution proposed",
        Status.CLOSED: "Closed",
        Status.REJECTED: "Returned",
    },
}
#: Ours for the shown-only states; *accepted* reads as closed unless the desk names it.
SHOWN_LABELS: Final[dict[str, dict[str, str]]] = {
    RESOLVED: {"pt_BR": "Resolvido", "en": "Resolved"},
    ACCEPTED: {"pt_BR": "Fechado", "en": "Closed"},
}

TRANSITIONS: Final[dict[Status, frozenset[Status]]] = {
    Status.NEW: frozenset({Status.ASSIGNED, Status.OPEN, Status.WAITING, Status.SOLVED, Status.CLOSED,
                           Status.REJECTED}),
    Status.ASSIGNED: frozenset({Status.OPEN, Status.WAITING, Status.SOLVED, Status.CLOSED, Status.REJECTED}),
    Status.OPEN: frozenset({Status.WAITING, Status.SOLVED, Status.CLOSED, Status.REJECTED}),
    Status.WAITING: frozenset({Status.OPEN, Status.SOLVED, Status.CLOSED, Status.REJECTED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
    Status.REJECTED: frozenset(),
}


def require_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise TransitionError(f"a ticket cannot go from {current.value!r} to {target.value!r}")


def shown_state(status: Status, *, reopenable: bool, accepted: bool = False) -> str:
    """What users are shown for ``status``: for a closed ticket, ``resolved``
    while a reply may still reopen it (``reopenable``), then ``accepted`` if
    its solution was accepted (``accepted``: its ``closed_reason`` says so);
    else the stored state."""
    if status is Status.CLOSED and reopenable:
        return RESOLVED
    return ACCEPTED if status is Status.CLOSED and accepted else status.value


def shown_label(state: str, language: str = "pt_BR", names: Mapping[str, str] | None = None) -> str:
    """The words for a shown state: the desk's own name for it
    (``[mailbox.status_names]``, e.g. ``waiting`` -> "Pendente Profissional"),
    else ours in ``language``."""
    if names and names.get(state):
        return names[state]
    if state in SHOWN_LABELS:
        return SHOWN_LABELS[state].get(language, SHOWN_LABELS[state]["pt_BR"])
    return LABELS.get(language, LABELS["pt_BR"])[Status(state)]
