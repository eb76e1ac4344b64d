"""Loading rule files: every error names the file, the rule and the field; includes; reload."""

from __future__ import annotations

import re

import pytest

from gateway.durations import Duration, Unit
from gateway.errors import ConfigError
from gateway.rules import schema
from gateway.rules.loader import RuleStore, load_rules
from tests.unit.rules.rule_helpers import rules_from, write

GOOD = """
mode = "all"
required = ["cpf", "uf", "telefone"]
[attachments]
allowed = ["image/*"]
max_size = "3MB"
max_total = 5000000
[[rule]]
name = "ok"
when.subject.words = ["cnes"]
category = "funcionalidade"
"""


def error_of(tmp_path, text: str, name: str = "box.toml") -> str:
    with pytest.raises(ConfigError) as raised:
        rules_from(tmp_path, text, name)
    return str(raised.value)


def test_a_good_file_loads_into_frozen_values(tmp_path):
    ruleset = rules_from(tmp_path, GOOD)
    assert ruleset.mode == "all" and ruleset.required == ("cpf", "uf", "telefone")
    assert ruleset.attachments == schema.AttachmentPolicy(("image/*",), 3 * 1024 * 1024, 5_000_000)
    (rule,) = ruleset.rules
    assert rule.name == "ok" and rule.actions == (schema.SetCategory("funcionalidade"),)
    assert rule.when == schema.TextMatch("subject", words=("cnes",)) and rule.source.endswith("box.toml")


def test_defaults_first_mode_and_a_rule_without_when_always_matches(tmp_path):
    ruleset = rules_from(tmp_path, '[[rule]]\nnote = "x"\n')
    assert ruleset.mode == "first" and ruleset.rules[0].when is schema.ALWAYS
    assert ruleset.rules[0].name == "rule[0]"


def test_actions_in_written_order(tmp_path):
    ruleset = rules_from(tmp_path, """
[[rule]]
name = "tudo"
note = "nota interna"
priority = "alta"
sla = {first_response = "30min", resolution = "3bd"}
tags = ["a", "b"]
assign = "Equipe@Example.gov.br"
reply = "clarification"
reject = {reason = "procure o canal X"}
category = "c"
stop = true
""")
    rule = ruleset.rules[0]
    assert rule.stop and rule.actions == (
        schema.Note("nota interna"), schema.SetPriority("alta"),
        schema.SetSla(Duration(30, Unit.MINUTES), Duration(3, Unit.BUSINESS_DAYS)),
        schema.AddTags(("a", "b")), schema.Assign("equipe@example.gov.br"), schema.Reply("clarification"),
        schema.Reject("rejected", "procure o canal X"), schema.SetCategory("c"))


@pytest.mark.parametrize(("text", "expected"), [
    ('[[rule]]\nname = "gov.br accounts"\nwhen.subject.regex = "conta (gov"\nnote = "x"\n',
     'box.toml: rule[0] "gov.br accounts": when.subject: \'regex\' is not a valid regular expression: missing )'),
    ('[[rule]]\nname = "r"\nwhen.subject.wrods = ["x"]\nnote = "x"\n',
     'box.toml: rule[0] "r": when.subject.wrods: unknown key; use one of words, phrases, regex'),
    ('[[rule]]\nnote = "x"\n[[rule]]\nwhen.sujbect.words = ["x"]\nnote = "x"\n',
     "box.toml: rule[1]: when.sujbect: unknown condition 'sujbect'; use one of all, any, not, sender"),
    ('[[rule]]\nname = "sla"\nsla.resolution = "2 horas"\n',
     "box.toml: rule[0] \"sla\": sla.resolution: '2 horas' is not a duration; use a number"),
    ('[[rule]]\nname = "r"\ncolor = "red"\nnote = "x"\n', 'box.toml: rule[0] "r": color: unknown key; a rule has'),
    ('colour = 1\n', "box.toml: colour: unknown key; use one of include, mode"),
    ('mode = "some"\n', "box.toml: mode: 'some' is not a mode; use 'first' or 'all'"),
    ('required = ["rg"]\n', "box.toml: required: 'rg' is not a field the gateway reads"),
    ('[attachments]\nallowed = ["png"]\n', "box.toml: attachments.allowed: 'png' is not a content type"),
    ('[attachments]\nmax_size = "3 megas"\n', "box.toml: attachments.max_size: '3 megas' is not a size"),
    ('[[rule]]\nname = "r"\nwhen.kind = "novo"\nnote = "x"\n', "rule[0] \"r\": when.kind: 'novo' is not one of 'new'"),
    ('[[rule]]\nname = "r"\nwhen.arrival = "night"\nnote = "x"\n', "when.arrival: 'night' is not one of"),
    ('[[rule]]\nname = "r"\npriority = "altissima"\n', "priority: 'altissima' is not a priority; use one of baixa"),
    ('[[rule]]\nname = "r"\nassign = "equipe"\n', "assign: 'equipe' is not an address"),
    ('[[rule]]\nname = "r"\nreject = {template = "rejected"}\n', "reject.reason: missing"),
    ('[[rule]]\nname = "r"\nreply = "../etc/passwd"\n', "reply: '../etc/passwd' is not a template name"),
    ('[[rule]]\nname = "r"\nwhen.subject = {}\nnote = "x"\n', "when.subject: give at least one of"),
    ('[[rule]]\nname = "r"\nwhen = {}\nnote = "x"\n', "when: empty condition"),
    ('[[rule]]\nname = "r"\nwhen.any = []\nnote = "x"\n', "when.any: expected a non-empty list"),
    ('[[rule]]\nname = "r"\nwhen.all = [{kind = "new"}, {header = {name = "X"}}]\nnote = "x"\n',
     "when.all[1].header: give exactly one of 'present', 'value'"),
    ('[[rule]]\nname = "r"\nwhen.attachment = {min_count = 3, max_count = 1}\nnote = "x"\n', "max_count 1 is below"),
    ('[[rule]]\nname = "r"\nwhen.kind = "new"\n', 'rule[0] "r": rule: no action; give one of category'),
    ('[[rule]]\nname = "a"\nnote = "x"\n[[rule]]\nname = "a"\nnote = "y"\n', 'rule "a": name: already used'),
    ('categories = ["x"]\n[[rule]]\nname = "r"\ncategory = "y"\n', "rule \"r\": category: 'y' is not among categories: x"),
    ('[[rule]\n', "box.toml: toml: not valid TOML"),
])
def test_errors_name_file_rule_field_and_the_fix(tmp_path, text, expected):
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path)), message
    assert expected in message, message


def test_includes_come_first_and_the_including_file_overrides_settings(tmp_path):
    write(tmp_path, "shared/common.toml", 'mode = "first"\nrequired = ["cpf"]\n[[rule]]\nname = "comum"\nnote = "c"\n')
    write(tmp_path, "shared/other.toml", 'include = ["common.toml"]\n[[rule]]\nname = "outra"\nnote = "o"\n')
    ruleset = rules_from(tmp_path, 'include = ["shared/common.toml", "shared/other.toml"]\nmode = "all"\n'
                                   '[[rule]]\nname = "propria"\nnote = "p"\n')
    assert [rule.name for rule in ruleset.rules] == ["comum", "outra", "propria"]  # common counted once
    assert ruleset.mode == "all" and ruleset.required == ("cpf",)
    assert ruleset.rules[0].source == str(tmp_path / "shared" / "common.toml")


def test_errors_in_an_included_file_name_that_file(tmp_path):
    write(tmp_path, "shared/common.toml", '[[rule]]\nname = "x"\nwhen.body.regex = "("\nnote = "n"\n')
    message = error_of(tmp_path, 'include = ["shared/common.toml"]\n')
    assert message.startswith(str(tmp_path / "shared" / "common.toml") + ': rule[0] "x": when.body:')


def test_include_cycle_is_refused_with_the_chain(tmp_path):
    write(tmp_path, "a.toml", 'include = ["b.toml"]\n')
    write(tmp_path, "b.toml", 'include = ["a.toml"]\n')
    with pytest.raises(ConfigError) as raised:
        load_rules(tmp_path / "a.toml")
    assert str(raised.value) == (f"{tmp_path / 'b.toml'}: include[0]: include cycle: "
                                 "a.toml -> b.toml -> a.toml; remove one of these includes")


def test_missing_include_names_the_including_file_and_where_it_looked(tmp_path):
    message = error_of(tmp_path, 'include = ["shared/nope.toml"]\n')
    assert re.match(rf"{re.escape(str(tmp_path / 'box.toml'))}: include\[0\]: 'shared/nope.toml' not found "
                    rf"\(looked at {re.escape(str(tmp_path / 'shared' / 'nope.toml'))}\)", message)


def test_missing_rule_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: file: not found"):
        load_rules(tmp_path / "nope.toml")


def test_rule_store_reload_keeps_the_old_rules_when_the_new_file_is_broken(tmp_path):
    cnes = write(tmp_path, "cnes.toml", GOOD)
    store = RuleStore({"CNES@example.gov.br": cnes})
    assert store.get("cnes@example.gov.br").rules[0].name == "ok"
    assert store.get("other@example.gov.br") is schema.EMPTY

    cnes.write_text(GOOD.replace('name = "ok"', 'name = "novo"'), encoding="utf-8")
    assert store.reload() == []
    assert store.get("cnes@example.gov.br").rules[0].name == "novo"

    cnes.write_text(GOOD.replace('words = ["cnes"]', 'regex = "(("'), encoding="utf-8")
    (error,) = store.reload()
    assert "when.subject: 'regex' is not a valid regular expression" in str(error)
    assert store.get("cnes@example.gov.br").rules[0].name == "novo"


def test_rule_store_refuses_to_start_on_a_broken_file(tmp_path):
    with pytest.raises(ConfigError):
        RuleStore({"cnes@example.gov.br": write(tmp_path, "cnes.toml", "mode = 3\n")})
