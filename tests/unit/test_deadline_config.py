"""Deadline keys in the config: reminders, SLA tables per category, [schedule];
a bad value stops start-up naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Share, SlaConfig, load_settings
from gateway.durations import Duration, Unit
from gateway.errors import ConfigError

MAPA = '''
[schedule]
interval = 30

[[mailbox]]
address = "suporte@example.gov.br"
protocol_prefix = "MAPA"
wait_reminder = "2bd"
survey_reminder = ""

[mailbox.sla_default]
resolution = "24h"

[mailbox.sla."Consulta Técnica"]
resolution = "2h"

[mailbox.sla."Defeito com paralisação"]
first_response = "1h"
resolution = "4h"
warning = "30min"

[mailbox.sla."Defeito sem paralisação"]
resolution = "24h"
'''


def test_mapa_seeds_load_from_toml(tmp_path: Path):
    path = tmp_path / "mapa.toml"
    path.write_text(MAPA)
    settings = load_settings(path)
    mailbox = settings.mailboxes[0]
    assert settings.schedule.interval == 30.0
    assert (mailbox.wait_reminder, mailbox.solved_reminder, mailbox.survey_reminder) == (
        Duration.parse("2bd"), Duration.parse("1bd"), None)
    assert mailbox.sla_for("Consulta Técnica") == SlaConfig(resolution=Duration.parse("2h"))
    assert mailbox.sla_for("DEFEITO COM PARALISACAO") == SlaConfig(
        first_response=Duration.parse("1h"), resolution=Duration.parse("4h"), warning=Duration.parse("30min"))
    assert mailbox.sla_for("Outra") == mailbox.sla_for(None) == SlaConfig(resolution=Duration.parse("24h"))
    hash(mailbox)  # calendars are cached per mailbox


def test_durations_are_read_once_at_load_and_empty_means_none():
    mailbox = load_settings(overrides={"mailbox": [{
        "address": "a@example.gov.br", "protocol_prefix": "ATD", "reopen_window": "", "survey_reminder": "",
        "sla_default": {"resolution": "4 BH", "warning": "10%"}, "sla": {"Consulta": {"first_response": "2h"}}}]},
    ).mailboxes[0]
    assert (mailbox.wait_limit, mailbox.solved_limit) == (Duration(5, Unit.DAYS), Duration(3, Unit.BUSINESS_DAYS))
    assert mailbox.reopen_window is None and mailbox.survey_reminder is None
    assert mailbox.sla_default == SlaConfig(resolution=Duration(4, Unit.BUSINESS_HOURS), warning=Share(10))
    assert mailbox.sla_for("consulta") == SlaConfig(first_response=Duration(2, Unit.HOURS), warning=Share(25))
    no_warning = load_settings(overrides={"mailbox": [{
        "address": "a@example.gov.br", "protocol_prefix": "ATD", "sla_default": {"resolution": "2h", "warning": ""}}]})
    assert no_warning.mailboxes[0].sla_default == SlaConfig(resolution=Duration(2, Unit.HOURS), warning=None)


@pytest.mark.parametrize(("entry", "key"), [
    ({"wait_reminder": "1 dia"}, "mailbox[0].wait_reminder"),
    ({"solved_reminder": "2"}, "mailbox[0].solved_reminder"),
    ({"sla_default": {"resolution": "24 horas"}}, "mailbox[0].sla_default.resolution"),
    ({"sla": {"Consulta Técnica": {"first_response": "2x"}}}, "mailbox[0].sla.Consulta Técnica.first_response"),
    ({"sla": {"Consulta Técnica": {"warning": "100%"}}}, "mailbox[0].sla.Consulta Técnica.warning"),
    ({"sla": {"Consulta Técnica": {"resolucao": "2h"}}}, "mailbox[0].sla.Consulta Técnica.resolucao"),
    ({"sla": {"Consulta Técnica": "2h"}}, "mailbox[0].sla.Consulta Técnica"),
])
def test_bad_deadline_values_name_the_key(entry, key):
    with pytest.raises(ConfigError) as error:
        load_settings(overrides={"mailbox": [{"address": "a@example.gov.br", "protocol_prefix": "ATD", **entry}]})
    assert error.value.key == key


def test_schedule_interval_must_be_a_number():
    with pytest.raises(ConfigError) as error:
        load_settings(overrides={"schedule": {"interval": "1min"}})
    assert error.value.key == "schedule.interval"
