"""SIGHUP reloads the rule files of a running ``gateway run`` (a real
process, a real signal); a broken file is logged and the old rules stay."""

from __future__ import annotations

import signal
import smtplib

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, query, smtp_port, write_config
from tests.helpers.servers import wait_until

RULE = '[[rule]]\nname = "classificar"\nwhen.kind = "new"\ncategory = "{category}"\n'


def _send_and_category(gateway: GatewayProcess, tmp_path, count: int) -> str:
    with smtplib.SMTP("127.0.0.1", smtp_port(gateway.config), timeout=30) as client:
        client.sendmail("ana.souza@example.org", ["atendimento@example.gov.br"],
                        make_mail(subject=f"Pedido {count}", body="Não consigo entrar."))
    db = tmp_path / "gateway.db"
    wait_until(lambda: query(db, "select count(*) from inbox where status = 'processed'")[0][0] == count,
               timeout=30, what=f"mail {count} processed")
    return query(db, "select category from ticket order by id desc limit 1")[0][0]


def _hup_and_wait(gateway: GatewayProcess, text: str, times: int) -> str:
    assert gateway.process is not None
    gateway.process.send_signal(signal.SIGHUP)
    return wait_until(lambda: gateway.log.read_text().count(text) == times and gateway.log.read_text(),
                      timeout=20, what=f"{text!r} in the log")


def test_sighup_reloads_rules_and_a_broken_file_keeps_the_old_ones(tmp_path):
    rules = tmp_path / "desk.toml"
    rules.write_text(RULE.format(category="primeira"), encoding="utf-8")
    config = write_config(tmp_path, extra=f'rules = "{rules}"')
    gateway = GatewayProcess(config, tmp_path / "gateway.log").start()
    try:
        assert _send_and_category(gateway, tmp_path, 1) == "primeira"

        rules.write_text(RULE.format(category="segunda"), encoding="utf-8")
        _hup_and_wait(gateway, "rule files reloaded: 1 ok, 0 kept old rules", 1)
        assert _send_and_category(gateway, tmp_path, 2) == "segunda"

        rules.write_text(RULE.format(category="terceira") + 'priority = "altissima"\n', encoding="utf-8")
        log = _hup_and_wait(gateway, "rule files reloaded: 0 ok, 1 kept old rules", 1)
        assert f'rules not reloaded, keeping the previous ones: {rules}: rule[0] "classificar": priority' in log
        assert _send_and_category(gateway, tmp_path, 3) == "segunda"
        assert gateway.process is not None and gateway.process.poll() is None  # still running
    finally:
        assert gateway.terminate() == 0
