"""Everything a mailbox's rule file decides about one mail, in one value.

The pipeline's ``apply_rules`` step computes a :class:`Ruling` and the
services apply it; ``gateway explain`` prints the same value.  Keeping the
whole judgement here (rules, attachment policy, required fields) means the
explanation can never drift from what the gateway does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.rules import schema
from gateway.rules.actions import Outcome
from gateway.rules.conditions import Facts
from gateway.rules.engine import FIELD_LABELS, Evaluation, Refusal, check_attachments, evaluate, field_is_valid
from gateway.tickets.fields import extract_fields, shown_value

NO_RULES: Final = Evaluation((), ())


@dataclass(frozen=True)
class Ruling:
    """The rules' results, the attachments refused and the required fields.

    ``missing`` lists required field names absent or invalid, in the file's
    order; ``invalid`` is the subset that was given but failed its check.
    """

    source: str = ""
    mode: str = "first"
    evaluation: Evaluation = NO_RULES
    refusals: tuple[Refusal, ...] = ()
    policy: schema.AttachmentPolicy = field(default_factory=schema.AttachmentPolicy)
    required: tuple[str, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    @property
    def outcome(self) -> Outcome:
        return self.evaluation.outcome

    def passes_on(self, index: int) -> bool:
        """Whether the mail's attachment at ``index`` may go to the team."""
        return all(refusal.index != index for refusal in self.refusals)

    def problems(self) -> list[dict[str, str]]:
        """What the requester must still send: ``[{"name": "cpf", "label": "CPF", "problem": "invalid"}]``."""
        return [{"name": name, "label": FIELD_LABELS.get(name, name),
                 "problem": "invalid" if name in self.invalid else "missing"} for name in self.missing]

    def shown_fields(self) -> dict[str, str]:
        """The required fields found, with CPFs masked (for explain, logs, pages)."""
        return {name: shown_value(name, value) for name, value in self.fields.items()}


def judge(ruleset: schema.RuleSet, facts: Facts, *, with_required: bool) -> Ruling:
    """Evaluate the rules, the attachment policy and (for a new request,
    ``with_required``) the required fields of one mail."""
    values: dict[str, str] = {}
    missing: list[str] = []
    invalid: list[str] = []
    if with_required and ruleset.required:
        found = extract_fields(facts.body)
        if "email" in ruleset.required:
            found.setdefault("email", facts.sender)  # the sender's address is an e-mail we can answer
        values = {name: found[name] for name in ruleset.required if found.get(name, "").strip()}
        missing, invalid = check_fields(ruleset.required, values)
    return Ruling(source=ruleset.source, mode=ruleset.mode, evaluation=evaluate(ruleset, facts),
                  refusals=tuple(check_attachments(ruleset.attachments, facts.attachments)),
                  policy=ruleset.attachments, required=ruleset.required if with_required else (),
                  fields=values, missing=tuple(missing), invalid=tuple(invalid))


def check_fields(names: Sequence[str], values: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(missing, invalid) among ``names`` for ``values``: missing includes the invalid ones."""
    missing = [name for name in names if not values.get(name, "").strip() or not field_is_valid(name, values[name])]
    invalid = [name for name in missing if values.get(name, "").strip()]
    return missing, invalid
