"""What a rule file says a category is: its spelling and the SLA that goes with it.

A desk's rules set a category and, in the same rule, the SLA it promises
(MAPA: ``category = "Consulta Técnica"`` with ``sla = {resolution = "2h"}``).
When an analyst moves a ticket to another category (``#categoria``), the
ticket must take the promise of the new one, not keep the old rule's
(issue 15, bug 5); this module reads that promise back from the rules.
"""

from __future__ import annotations

from gateway.rules import schema
from gateway.rules.conditions import fold
from gateway.tickets.analyst import CategoryTargets

__all__ = ["CategoryTargets", "category_targets"]


def category_targets(ruleset: schema.RuleSet, name: str) -> CategoryTargets:
    """The category ``name`` (case and accents ignored) as ``ruleset`` knows it.

    The spelling is the first found among ``categories`` and the rules'
    ``category`` actions (``defeito sem paralisacao`` -> ``Defeito sem
    paralisação``), else ``name`` as written.  The targets come from the last
    rule that sets this category together with an ``sla``, as the last
    matching rule's value wins when the rules run.
    """
    wanted = _key(name)
    spellings = [*ruleset.categories, *(action.category for rule in ruleset.rules for action in rule.actions
                                        if isinstance(action, schema.SetCategory))]
    spelled = next((known for known in spellings if _key(known) == wanted), name.strip())
    targets = CategoryTargets(spelled)
    for rule in ruleset.rules:
        sets_it = any(isinstance(action, schema.SetCategory) and _key(action.category) == wanted
                      for action in rule.actions)
        sla = next((action for action in rule.actions if isinstance(action, schema.SetSla)), None)
        if sets_it and sla is not None:
            targets = CategoryTargets(spelled, str(sla.first_response) if sla.first_response else None,
                                      str(sla.resolution) if sla.resolution else None)
    return targets


def _key(name: str) -> str:
    return " ".join(fold(name).casefold().split())
