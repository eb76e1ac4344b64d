"""Evaluation order (first vs all, stop), decisions and their summary, for explain."""

from __future__ import annotations

from gateway.durations import Duration, Unit
from gateway.rules import schema
from gateway.rules.actions import Decision, summarise
from gateway.rules.engine import evaluate
from tests.unit.rules.rule_helpers import facts, rules_from

THREE_RULES = """
mode = "{mode}"
[[rule]]
name = "urgente"
when.subject.words = ["urgente"]
priority = "alta"
tags = ["pediu-urgencia"]
{stop}
[[rule]]
name = "cnes"
when.subject.words = ["cnes"]
category = "funcionalidade"
tags = ["cnes", "pediu-urgencia"]
[[rule]]
name = "seguro"
when.kind = "follow_up"
note = "nunca"
"""


def ruleset(tmp_path, mode: str, stop: bool = False) -> schema.RuleSet:
    return rules_from(tmp_path, THREE_RULES.format(mode=mode, stop="stop = true" if stop else ""))


def test_first_mode_stops_at_the_first_match_and_lists_the_rest_as_not_evaluated(tmp_path):
    evaluation = evaluate(ruleset(tmp_path, "first"), facts(subject="URGENTE: CNES fora do ar"))
    assert [r.rule for r in evaluation.matches] == ["urgente"]
    assert [(r.rule, r.evaluated) for r in evaluation.misses] == [("cnes", False), ("seguro", False)]
    assert evaluation.misses[0].reason == "not evaluated: 'urgente' ended the evaluation"
    assert evaluation.decisions == (Decision("urgente", schema.SetPriority("alta")),
                                    Decision("urgente", schema.AddTags(("pediu-urgencia",))))


def test_first_mode_goes_on_past_rules_that_miss(tmp_path):
    evaluation = evaluate(ruleset(tmp_path, "first"), facts(subject="Erro no CNES"))
    assert [r.rule for r in evaluation.matches] == ["cnes"]
    assert evaluation.results[0].reason == "subject: missing word(s) 'urgente'"
    assert evaluation.results[2].evaluated is False


def test_all_mode_runs_every_rule_and_records_why_each_missed(tmp_path):
    evaluation = evaluate(ruleset(tmp_path, "all"), facts(subject="URGENTE: CNES fora do ar"))
    assert [r.rule for r in evaluation.matches] == ["urgente", "cnes"]
    assert [(r.rule, r.reason, r.evaluated) for r in evaluation.misses] == [("seguro", "kind is new", True)]
    outcome = evaluation.outcome
    assert outcome.priority == "alta" and outcome.category == "funcionalidade"
    assert outcome.tags == ("pediu-urgencia", "cnes")  # tags add up, without repeats


def test_stop_ends_an_all_mode_evaluation(tmp_path):
    evaluation = evaluate(ruleset(tmp_path, "all", stop=True), facts(subject="URGENTE: CNES"))
    assert [r.rule for r in evaluation.matches] == ["urgente"]
    assert not evaluation.results[1].evaluated
    # stop only counts when its rule matched
    evaluation = evaluate(ruleset(tmp_path, "all", stop=True), facts(subject="CNES"))
    assert [r.rule for r in evaluation.matches] == ["cnes"]


def test_no_rules_no_decisions():
    evaluation = evaluate(schema.EMPTY, facts(subject="x"))
    assert evaluation.results == () and evaluation.outcome == summarise(())


def test_summary_last_single_value_wins_lists_add_up():
    decisions = [
        Decision("a", schema.SetCategory("outros assuntos")),
        Decision("a", schema.SetSla(first_response=Duration(1, Unit.HOURS))),
        Decision("a", schema.Assign("equipe@example.gov.br")),
        Decision("a", schema.Reply("clarification")),
        Decision("a", schema.Note("primeira")),
        Decision("b", schema.SetCategory("funcionalidade")),
        Decision("b", schema.SetSla(resolution=Duration(2, Unit.HOURS))),
        Decision("b", schema.Assign("ana@example.gov.br")),
        Decision("b", schema.Reject("rejected", "vá ao canal X")),
        Decision("b", schema.Reply("tracking_link")),
        Decision("b", schema.Note("segunda")),
        Decision("b", schema.SetPriority("baixa")),
    ]
    outcome = summarise(decisions)
    assert outcome.category == "funcionalidade" and outcome.priority == "baixa"
    assert outcome.first_response == Duration(1, Unit.HOURS) and outcome.resolution == Duration(2, Unit.HOURS)
    assert outcome.assignee == "ana@example.gov.br"
    assert outcome.reject == schema.Reject("rejected", "vá ao canal X")
    assert outcome.replies == ("clarification", "tracking_link") and outcome.notes == ("primeira", "segunda")


def test_every_action_kind_reaches_the_decisions_from_a_file(tmp_path):
    rules = rules_from(tmp_path, """
[[rule]]
name = "tudo"
when.sender = "*@example.org"
category = "c"
priority = "urgente"
sla = {first_response = "1h", resolution = "4h"}
tags = "t"
assign = "equipe@example.gov.br"
reply = {template = "clarification"}
note = "n"
reject = {template = "rejected", reason = "r"}
""")
    outcome = evaluate(rules, facts(sender="ana@example.org")).outcome
    assert (outcome.category, outcome.priority, outcome.tags, outcome.assignee) == (
        "c", "urgente", ("t",), "equipe@example.gov.br")
    assert (outcome.first_response, outcome.resolution) == (Duration(1, Unit.HOURS), Duration(4, Unit.HOURS))
    assert outcome.replies == ("clarification",) and outcome.notes == ("n",)
    assert outcome.reject == schema.Reject("rejected", "r")
    assert evaluate(rules, facts(sender="ana@example.net")).decisions == ()
