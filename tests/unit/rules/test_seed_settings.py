"""examples/gateway.toml and rules/ say what each seed desk promises (issue 15,
"Settings that must match the seeds"); the desks' end-to-end walks are in
tests/integration/desks/."""

from __future__ import annotations

from gateway.config import load_settings
from gateway.durations import Duration
from gateway.rules.categories import category_targets
from gateway.rules.loader import load_rules
from tests.helpers.corpus import REPO_ROOT

SETTINGS = load_settings(REPO_ROOT / "examples" / "gateway.toml")
DESKS = {m.protocol_prefix: m for m in SETTINGS.mailboxes}


def test_cnes_three_business_days_then_closed_for_good():
    cnes = DESKS["CNES"]
    assert cnes.solved_limit == Duration.parse("3bd") and cnes.reopen_window is None


def test_siop_ten_days_to_validate_and_still_reopenable():
    siop = DESKS["SIOP"]
    assert siop.solved_limit == Duration.parse("10d") and siop.wait_limit == Duration.parse("10d")
    assert siop.reopen_window == Duration.parse("10d")


def test_causp_five_days_pending_and_five_days_homologating_two_mb_documents():
    causp = DESKS["CAUSP"]
    assert causp.wait_limit == Duration.parse("5d") and causp.solved_limit == Duration.parse("5d")
    policy = load_rules(causp.rules).attachments
    assert policy.max_size == 2 * 1024 * 1024
    assert {"image/*", "application/pdf", "application/msword"} <= set(policy.allowed)


def test_mapa_wall_clock_targets_agree_between_the_config_and_the_rules():
    mapa = DESKS["MAPA"]
    ruleset = load_rules(mapa.rules)
    for category, hours in (("Consulta Técnica", 2), ("Defeito com paralisação", 4),
                            ("Defeito sem paralisação", 24)):
        wanted = Duration.parse(f"{hours}h")
        assert mapa.sla_for(category).resolution == wanted, category
        assert category_targets(ruleset, category).resolution == str(wanted), category


def test_govbr_asks_for_the_forms_data():
    ruleset = load_rules(DESKS["GOV"].rules)
    assert ruleset.required == ("orgao", "servico", "tipo_solicitante", "alcance", "protocolos", "telefone")
