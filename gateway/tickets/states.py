"""The states a ticket goes through, what users read for each, and which
moves between them are allowed (README, "One ticket's life")."""

from __future__ import annotations

import enum
from typing import Final

from gateway.errors import TransitionError


class Status(str, enum.Enum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    SOLVED = "solved"
    CLOSED = "closed"
    REJECTED = "rejected"

    def label(self, language: str = "pt_BR") -> str:
        return LABELS[language][self]


LABELS: Final[dict[str, dict[Status, str]]] = {
    "pt_BR": {
        Status.NEW: "Novo",
        Status.OPEN: "Em andamento",
        Status.WAITING: "Aguardando solicitante",
        Status.SOLVED: "Solução proposta (validar)",
        Status.CLOSED: "Fechado",
        Status.REJECTED: "Devolvido",
    },
    "en": {
        Status.NEW: "New",
        Status.OPEN: "In progress",
        Status.WAITING: "Waiting for requester",
        Status.SOLVED: "Solution proposed (to confirm)",
        Status.CLOSED: "Closed",
        Status.REJECTED: "Returned",
    },
}

TRANSITIONS: Final[dict[Status, frozenset[Status]]] = {
    Status.NEW: frozenset({Status.OPEN, Status.WAITING, Status.SOLVED, Status.CLOSED, Status.REJECTED}),
    Status.OPEN: frozenset({Status.WAITING, Status.SOLVED, Status.CLOSED, Status.REJECTED}),
    Status.WAITING: frozenset({Status.OPEN, Status.SOLVED, Status.CLOSED, Status.REJECTED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
    Status.REJECTED: frozenset(),
}


def require_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise TransitionError(f"a ticket cannot go from {current.value!r} to {target.value!r}")
