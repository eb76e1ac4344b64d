"""The order of the steps, written down once, and the loop that runs them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Final

from gateway.pipeline.act import act
from gateway.pipeline.apply_rules import NO_RULE_FILES, RuleSource, apply_rules
from gateway.pipeline.context import MailContext, Stop, TraceEntry
from gateway.pipeline.dedupe import dedupe
from gateway.pipeline.find_ticket import find_ticket
from gateway.pipeline.identify import identify
from gateway.pipeline.parse import parse
from gateway.pipeline.route import route
from gateway.pipeline.screen import screen
from gateway.services.intake import Intake

Step = Callable[[MailContext], "Stop | None"]

# store_raw is not here: Ingest.accept did it before the peer got its 250.
# apply_rules follows these (see deciding_steps): it needs the rule files.
DECIDING_STEPS: Final[tuple[Step, ...]] = (parse, screen, dedupe, route, find_ticket, identify)


def deciding_steps(rules: RuleSource | None = None) -> tuple[Step, ...]:
    """Every step that only decides (``gateway explain`` runs these), the
    mailbox's rules last."""
    return (*DECIDING_STEPS, _named(partial(apply_rules, rules=rules or NO_RULE_FILES), "apply_rules"))


def steps(intake: Intake, rules: RuleSource | None = None) -> tuple[Step, ...]:
    """The whole pipeline, ending with the step that changes tickets."""
    return (*deciding_steps(rules), _named(partial(act, intake=intake), "act"))


def run(ctx: MailContext, pipeline: Sequence[Step]) -> Stop | None:
    """Run each step until one stops the mail.

    With the whole pipeline the last step always stops it; ``gateway
    explain`` runs only the deciding steps and gets None when they pass.
    """
    for step in pipeline:
        stop = step(ctx)
        ctx.trace.append(TraceEntry(step.__name__, stop.reason if stop else "", ctx.clock.now()))
        if stop is not None:
            return stop
    return None


def current_step(ctx: MailContext, pipeline: Sequence[Step]) -> str:
    """The step that was running when an exception escaped (for quarantine)."""
    return pipeline[len(ctx.trace)].__name__ if len(ctx.trace) < len(pipeline) else "after the pipeline"


def _named(function: Callable[[MailContext], Stop | None], name: str) -> Step:
    def step(ctx: MailContext) -> Stop | None:
        return function(ctx)

    step.__name__ = name
    return step
