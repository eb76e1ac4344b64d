"""Evaluate a mailbox's rules over one mail, and apply its intake policy.

``evaluate`` records every rule, matched or not and why (Mailman's
rule hits and misses), so ``gateway explain`` is a reader of the
``Evaluation`` and never re-implements matching.  ``check_attachments``
and ``missing_fields`` are the two policy checks every mailbox may set in
its rule file; they return data, and the pipeline decides what to send.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from gateway.mail.attachments import Attachment
from gateway.rules import schema
from gateway.rules.actions import Decision, Outcome, summarise
from gateway.rules.conditions import Facts, check
from gateway.tickets.fields import CHOICES, LIST_FIELDS, choice_of, cpf_is_valid, list_items, uf_is_valid

FIELD_LABELS: Final[dict[str, str]] = {
    "nome": "Nome", "cpf": "CPF", "telefone": "Telefone", "email": "E-mail", "uf": "UF",
    "municipio": "Município", "orgao": "Órgão", "servico": "Serviço",
    # The hint in parentheses is read by the requester and skipped when the
    # label comes back filled in ("Tipo de solicitante (...): cidadão").
    "tipo_solicitante": "Tipo de solicitante (analista do serviço ou cidadão)",
    "alcance": "Alcance do defeito", "protocolos": "Protocolos afetados",
}
_FEMININE: Final = frozenset({"uf"})  # "UF inválida": unidade federativa


@dataclass(frozen=True)
class RuleResult:
    """One rule's fate for one mail: ``evaluated`` is False when an earlier
    rule ended the evaluation (first-match mode or ``stop``)."""

    rule: str
    source: str
    matched: bool
    reason: str
    evaluated: bool = True


@dataclass(frozen=True)
class Evaluation:
    """Every rule's result in file order, and the decisions of the matched ones."""

    results: tuple[RuleResult, ...]
    decisions: tuple[Decision, ...]

    @property
    def matches(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.results if result.matched)

    @property
    def misses(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.results if not result.matched)

    @property
    def outcome(self) -> Outcome:
        return summarise(self.decisions)


def evaluate(ruleset: schema.RuleSet, facts: Facts) -> Evaluation:
    """Run the rules in file order.

    In ``first`` mode the first matching rule ends the evaluation; in
    ``all`` mode every rule runs unless a matching rule has ``stop``.
    Rules after the end are listed as not evaluated, with the rule that
    ended it, so ``explain`` never leaves a rule out.
    """
    results: list[RuleResult] = []
    decisions: list[Decision] = []
    ended_by: str | None = None
    for rule in ruleset.rules:
        if ended_by is not None:
            results.append(RuleResult(rule.name, rule.source, False,
                                      f"not evaluated: {ended_by!r} ended the evaluation", evaluated=False))
            continue
        verdict = check(rule.when, facts)
        results.append(RuleResult(rule.name, rule.source, verdict.matched, verdict.reason))
        if verdict.matched:
            decisions.extend(Decision(rule.name, action) for action in rule.actions)
            if rule.stop or ruleset.mode == "first":
                ended_by = rule.name
    return Evaluation(tuple(results), tuple(decisions))


@dataclass(frozen=True)
class Refusal:
    """An attachment that is kept with the raw mail but not passed on.

    ``kind`` is ``"type"`` (``allowed`` lists what is accepted), ``"size"``
    (over ``limit`` bytes) or ``"total"`` (the mail's attachments together
    would pass ``limit``); ``reason`` says it in Portuguese for the notice.
    """

    filename: str
    real_type: str
    size: int
    kind: Literal["type", "size", "total"]
    reason: str
    limit: int | None = None
    allowed: tuple[str, ...] = ()
    index: int = -1  # the attachment's place among the mail's, so a caller can leave it out


def check_attachments(policy: schema.AttachmentPolicy, attachments: Iterable[Attachment]) -> list[Refusal]:
    """The attachments the policy refuses, judged by their bytes (the sniffed
    type), never by their name or declared type: a ``comprovante.png`` that
    is a PDF is a PDF.  Accepted files count towards ``max_total`` in order."""
    refusals: list[Refusal] = []
    total = 0
    for index, attachment in enumerate(attachments):
        real = attachment.sniffed_type or "application/octet-stream"
        name, size = attachment.filename or "(sem nome)", attachment.size
        if policy.allowed and not any(fnmatch.fnmatchcase(real, glob) for glob in policy.allowed):
            shown = ", ".join(type_label(glob) for glob in policy.allowed)
            refusals.append(Refusal(name, real, size, "type", f"tipo {type_label(real)} ({real}) não aceito; "
                                    f"aceitos: {shown}", allowed=policy.allowed, index=index))
        elif policy.max_size is not None and size > policy.max_size:
            refusals.append(Refusal(name, real, size, "size", f"{human_size(size)} acima do limite de "
                                    f"{human_size(policy.max_size)} por arquivo", limit=policy.max_size, index=index))
        elif policy.max_total is not None and total + size > policy.max_total:
            refusals.append(Refusal(name, real, size, "total", f"os anexos juntos passariam do limite de "
                                    f"{human_size(policy.max_total)} por mensagem", limit=policy.max_total,
                                    index=index))
        else:
            total += size
    return refusals


def missing_fields(required: Iterable[str], extracted: Mapping[str, str]) -> list[str]:
    """What is missing or invalid among the required fields, in their order:
    ``["CPF inválido", "UF ausente"]``.  ``extracted`` comes from
    :func:`gateway.tickets.fields.extract_fields`; a caller that knows the
    sender's address may fill ``email`` before asking."""
    problems: list[str] = []
    for name in required:
        label = FIELD_LABELS.get(name, name)
        value = (extracted.get(name) or "").strip()
        if not value:
            problems.append(f"{label} ausente")
        elif not field_is_valid(name, value):
            problems.append(f"{label} {'inválida' if name in _FEMININE else 'inválido'}")
    return problems


def field_is_valid(name: str, value: str) -> bool:
    """Whether a field's value passes its check (CPF digits, one of the 27 UFs, a phone's length,
    exactly one of a choice field's choices, digits in every item of a list of protocols)."""
    if name == "cpf":
        return cpf_is_valid(value)
    if name == "uf":
        return uf_is_valid(value)
    if name == "telefone":
        return 8 <= len(re.sub(r"\D", "", value)) <= 13  # 8-digit local up to +55 DDD 9 digits
    if name == "email":
        return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) is not None
    if name in CHOICES:
        return choice_of(name, value) is not None
    if name in LIST_FIELDS:  # protocol numbers: every item carries digits
        items = list_items(value)
        return bool(items) and all(re.search(r"\d", item) for item in items)
    return True


def type_label(content_type: str) -> str:
    """``image/jpeg`` -> ``JPEG``; ``image/*`` -> ``image/*``."""
    subtype = content_type.partition("/")[2]
    return content_type if "*" in content_type or not subtype else subtype.upper().removeprefix("X-")


def human_size(size: int) -> str:
    """``3145728`` -> ``"3 MB"``, ``3565158`` -> ``"3,4 MB"`` (binary units, Portuguese comma)."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            text = f"{size / factor:.1f}".removesuffix(".0").replace(".", ",")
            return f"{text} {unit}"
    return f"{size} bytes"
