"""What a rule file means, as frozen values: conditions, actions, rules, rule sets.

Rule files are written by administrators, not programmers, so the loader
(:mod:`gateway.rules.loader`) turns TOML into these values once and checks
everything then; evaluation (:mod:`gateway.rules.engine`) can then trust
them and never fails on a typo in the middle of a mail.  Everything here is
immutable so a ``RuleSet`` can be swapped whole on reload while another
thread is still evaluating the old one.

Conditions form a tree: ``All``, ``Any`` and ``Not`` combine leaves; each
leaf kind has one evaluator in :mod:`gateway.rules.conditions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal, Union

from gateway.durations import Duration

Mode = Literal["first", "all"]
MODES: Final[tuple[str, ...]] = ("first", "all")
KINDS: Final[tuple[str, ...]] = ("new", "follow_up")
ARRIVALS: Final[tuple[str, ...]] = ("business_hours", "outside_business_hours")


# --- conditions -------------------------------------------------------------

@dataclass(frozen=True)
class All:
    """Every child matches (an empty ``All`` always matches: a rule without ``when``)."""

    children: tuple[Condition, ...]


@dataclass(frozen=True)
class Any:
    """At least one child matches."""

    children: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The child does not match."""

    child: Condition


@dataclass(frozen=True)
class AddressMatch:
    """``sender`` or ``recipient``: the address matches one ``addresses`` glob
    or its domain one ``domains`` glob (``*.gov.br``), case-insensitively."""

    field: Literal["sender", "recipient"]
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextMatch:
    """``subject`` or ``body``: every given test must pass.

    ``words``: all present as whole words; ``phrases``: at least one present;
    ``regex``: found anywhere; ``without``: none of these words or phrases
    present (an out-of-scope rule that must not fire on an error report:
    ``body.without = ["erro 500", "integração", "token"]``).  Accents never
    count (``inclusão`` equals ``inclusao``); case counts only with
    ``case_sensitive``.
    """

    field: Literal["subject", "body"]
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    case_sensitive: bool = False
    without: tuple[str, ...] = ()


@dataclass(frozen=True)
class LanguageMatch:
    """The mail's ``Content-Language`` starts with one of ``languages`` (``pt`` matches ``pt-BR``)."""

    languages: tuple[str, ...]


@dataclass(frozen=True)
class AttachmentMatch:
    """Between ``min_count`` and ``max_count`` attachments whose *sniffed*
    type matches ``types`` (globs, empty = any) and whose size is over
    ``size_over`` / under ``size_under`` bytes.  ``max_count = 0`` with
    ``min_count = 0`` means "no such attachment"."""

    types: tuple[str, ...] = ()
    min_count: int = 1
    max_count: int | None = None
    size_over: int | None = None
    size_under: int | None = None


@dataclass(frozen=True)
class HeaderMatch:
    """Header ``name`` is present (``present = true``) or absent (``false``),
    or one of its values matches the glob ``value`` or the ``regex``."""

    name: str
    present: bool | None = None
    value: str | None = None
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class KindMatch:
    """A new ticket (``"new"``) or a mail on an existing one (``"follow_up"``)."""

    kind: Literal["new", "follow_up"]


@dataclass(frozen=True)
class ArrivalMatch:
    """Arrival time against the mailbox's business calendar."""

    when: Literal["business_hours", "outside_business_hours"]


Leaf = Union[AddressMatch, TextMatch, LanguageMatch, AttachmentMatch, HeaderMatch, KindMatch, ArrivalMatch]
Condition = Union[All, Any, Not, Leaf]
ALWAYS: Final = All(())


# --- actions -----------------------------------------------------------------

@dataclass(frozen=True)
class SetCategory:
    category: str


@dataclass(frozen=True)
class SetPriority:
    priority: str


@dataclass(frozen=True)
class SetSla:
    """SLA targets; either may be None (not set by this rule)."""

    first_response: Duration | None = None
    resolution: Duration | None = None


@dataclass(frozen=True)
class AddTags:
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Assign:
    """Assign to a person or a team address."""

    address: str


@dataclass(frozen=True)
class Reject:
    """Out of scope: the ticket becomes ``rejected`` and the requester gets
    ``template`` with ``reason`` (where to go instead)."""

    template: str
    reason: str


@dataclass(frozen=True)
class Reply:
    """An extra automatic reply rendered from ``template``."""

    template: str


@dataclass(frozen=True)
class Note:
    """An internal note for the analysts; the requester never sees it."""

    text: str


Action = Union[SetCategory, SetPriority, SetSla, AddTags, Assign, Reject, Reply, Note]


# --- rules and rule sets -------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One rule: when ``when`` matches, ``actions`` apply in order; ``stop``
    ends the evaluation after this rule.  ``source`` is the file it came
    from, so ``explain`` can say where to edit it."""

    name: str
    when: Condition
    actions: tuple[Action, ...]
    stop: bool = False
    source: str = ""


@dataclass(frozen=True)
class AttachmentPolicy:
    """Which attachments are passed on: ``allowed`` sniffed-type globs (empty:
    any type), ``max_size`` bytes each and ``max_total`` bytes per mail."""

    allowed: tuple[str, ...] = ()
    max_size: int | None = None
    max_total: int | None = None


@dataclass(frozen=True)
class RuleSet:
    """A mailbox's rules, policy and required fields, as loaded from one file and its includes."""

    mode: Mode = "first"
    rules: tuple[Rule, ...] = ()
    attachments: AttachmentPolicy = field(default_factory=AttachmentPolicy)
    required: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    source: str = ""


EMPTY: Final = RuleSet()
