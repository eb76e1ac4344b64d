"""Rule actions: read from a rule's keys, and folded into what should happen.

In a rule file the actions are the rule's own keys (``category = ...``,
``sla = {...}``, ``reject = {...}``), applied in the order written.  The
engine lists every action of every matched rule as a :class:`Decision`
(for ``explain`` and the ticket's timeline); :func:`summarise` folds them
into one :class:`Outcome` the pipeline acts on: for single values the
last rule wins (a later, more specific rule overrides a shared one),
tags, replies and notes add up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any as AnyValue, Final

from gateway.durations import Duration
from gateway.errors import DurationError
from gateway.rules import schema
from gateway.rules.parsing import Where, strings
from gateway.tickets.commands import PRIORITIES

ACTION_KEYS: Final = ("category", "priority", "sla", "tags", "assign", "reject", "reply", "note")
_TEMPLATE_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_ADDRESS: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Decision:
    """One action of one matched rule."""

    rule: str
    action: schema.Action


@dataclass(frozen=True)
class Outcome:
    """Everything the matched rules decided, folded; None/empty when no rule said."""

    category: str | None = None
    priority: str | None = None
    first_response: Duration | None = None
    resolution: Duration | None = None
    tags: tuple[str, ...] = ()
    assignee: str | None = None
    reject: schema.Reject | None = None
    replies: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def summarise(decisions: list[Decision] | tuple[Decision, ...]) -> Outcome:
    """Fold decisions in order: the last category/priority/SLA/assignee/reject wins."""
    values: dict[str, AnyValue] = {}
    tags: list[str] = []
    replies: list[str] = []
    notes: list[str] = []
    for decision in decisions:
        action = decision.action
        if isinstance(action, schema.SetCategory):
            values["category"] = action.category
        elif isinstance(action, schema.SetPriority):
            values["priority"] = action.priority
        elif isinstance(action, schema.SetSla):
            if action.first_response is not None:
                values["first_response"] = action.first_response
            if action.resolution is not None:
                values["resolution"] = action.resolution
        elif isinstance(action, schema.AddTags):
            tags.extend(tag for tag in action.tags if tag not in tags)
        elif isinstance(action, schema.Assign):
            values["assignee"] = action.address
        elif isinstance(action, schema.Reject):
            values["reject"] = action
        elif isinstance(action, schema.Reply):
            replies.append(action.template)
        elif isinstance(action, schema.Note):
            notes.append(action.text)
    return Outcome(**values, tags=tuple(tags), replies=tuple(replies), notes=tuple(notes))


def parse_actions(rule: dict[str, AnyValue], where: Where) -> tuple[schema.Action, ...]:
    """The actions among a rule's keys, in the order they are written."""
    return tuple(_PARSERS[key](value, where, key) for key, value in rule.items() if key in _PARSERS)


def _text(value: AnyValue, where: Where, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        where.error(key, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _template(value: AnyValue, where: Where, key: str) -> str:
    if not isinstance(value, str) or not _TEMPLATE_NAME.fullmatch(value):
        where.error(key, f"{value!r} is not a template name; use the file name without "
                         "language and suffix, e.g. 'rejected' for templates/email/pt_BR/rejected.txt.j2")
    return value


def _category(value: AnyValue, where: Where, key: str) -> schema.Action:
    return schema.SetCategory(_text(value, where, key))


def _priority(value: AnyValue, where: Where, key: str) -> schema.Action:
    if value not in PRIORITIES:
        where.error(key, f"{value!r} is not a priority; use one of {', '.join(PRIORITIES)}")
    return schema.SetPriority(value)


def _sla(value: AnyValue, where: Where, key: str) -> schema.Action:
    if not isinstance(value, dict) or not value:
        where.error(key, f"expected a table such as {{first_response = '1h', resolution = '2h'}}, got {value!r}")
    durations: dict[str, Duration] = {}
    for name, text in value.items():
        if name not in ("first_response", "resolution"):
            where.error(f"{key}.{name}", "unknown key; use first_response and/or resolution")
        try:
            durations[name] = Duration.parse(text)
        except DurationError as exc:
            where.error(f"{key}.{name}", str(exc))
    return schema.SetSla(**durations)


def _tags(value: AnyValue, where: Where, key: str) -> schema.Action:
    return schema.AddTags(strings(value, where, key))


def _assign(value: AnyValue, where: Where, key: str) -> schema.Action:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
        where.error(key, f"{value!r} is not an address; assign to a person or team, e.g. 'equipe@example.gov.br'")
    return schema.Assign(value.strip().lower())


def _reject(value: AnyValue, where: Where, key: str) -> schema.Action:
    if not isinstance(value, dict):
        where.error(key, f"expected a table such as {{reason = 'Use ... instead'}}, got {value!r}")
    for unknown in set(value) - {"template", "reason"}:
        where.error(f"{key}.{unknown}", "unknown key; use template and reason")
    if "reason" not in value:
        where.error(f"{key}.reason", "missing; say where the requester should go instead")
    return schema.Reject(template=_template(value.get("template", "rejected"), where, f"{key}.template"),
                         reason=_text(value["reason"], where, f"{key}.reason"))


def _reply(value: AnyValue, where: Where, key: str) -> schema.Action:
    if isinstance(value, dict):
        for unknown in set(value) - {"template"}:
            where.error(f"{key}.{unknown}", "unknown key; use template")
        return schema.Reply(_template(value.get("template"), where, f"{key}.template"))
    return schema.Reply(_template(value, where, key))


def _note(value: AnyValue, where: Where, key: str) -> schema.Action:
    return schema.Note(_text(value, where, key))


_PARSERS: Final = {
    "category": _category, "priority": _priority, "sla": _sla, "tags": _tags,
    "assign": _assign, "reject": _reject, "reply": _reply, "note": _note,
}
