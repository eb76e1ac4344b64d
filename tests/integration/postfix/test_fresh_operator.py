"""Issue 14's "done when", as a new operator does it on a fresh machine:
install the wheel (not the checkout), wire Postfix with the config the
installed gateway generates, start the installed gateway, and a mail sent
to Postfix comes back to its sender as an acknowledgement through Postfix.

Nothing here runs from the checkout: the gateway is the wheel's venv
(tests/helpers/wheel.py), run from a folder outside the checkout, and
Postfix is configured only from ``mta-config postfix``'s output.
"""

from __future__ import annotations

import re
import smtplib
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.postfix import Postfix
from tests.helpers.process import GatewayProcess
from tests.helpers.servers import CaptureRelay, free_port, wait_until
from tests.helpers.wheel import ROOT, installed_env, installed_gateway
from tests.integration.postfix.support import ATENDIMENTO, CITIZEN, gateway_config

pytestmark = pytest.mark.slow

PROTOCOL = re.compile(r"\[(ATD-\d{4}-\d{6}-\d)\]")


def test_wheel_plus_postfix_answers_a_mail_through_postfix(postfix: Postfix, relay: CaptureRelay,
                                                          tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    gateway_bin = installed_gateway(tmp_path_factory)
    env = installed_env(gateway_bin)
    assert ROOT not in gateway_bin.parents, "the gateway under test must be the installed wheel"
    outside = tmp_path / "cwd"
    outside.mkdir()
    lmtp_port = free_port()
    config = gateway_config(tmp_path, postfix=postfix, lmtp_port=lmtp_port)

    checked = subprocess.run([str(gateway_bin), "--config", str(config), "check-config"], cwd=outside, env=env,
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    files = postfix.configure(config, gateway=[str(gateway_bin)], env=env)
    assert f"{ATENDIMENTO} lmtp:inet:127.0.0.1:{lmtp_port}" in " ".join(files["transport"].split())
    postfix.start()

    gateway = GatewayProcess(config, tmp_path / "gateway.log", gateway=(str(gateway_bin),), env=env,
                             cwd=outside).start()
    try:
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as client:
            assert client.sendmail(CITIZEN, [ATENDIMENTO],
                                   make_mail(sender=f"Ana Souza <{CITIZEN}>", subject="Erro no cadastro")) == {}
        acks = wait_until(lambda: [raw for _, rcpt_tos, raw in relay.messages if CITIZEN in rcpt_tos],
                          timeout=60, what="the acknowledgement to reach the capture server through Postfix")
    finally:
        code = gateway.terminate()
    assert code == 0, (tmp_path / "gateway.log").read_text()[-3000:]

    [ack] = [message_from_bytes(raw, policy=policy.default) for raw in acks]
    assert PROTOCOL.search(str(ack["Subject"])), ack["Subject"]
    assert "Erro no cadastro" in str(ack["Subject"])
    assert "(Postfix)" in str(ack["Received"]), "the acknowledgement must have left through Postfix"
    postfix.wait_log(rf"to=<{ATENDIMENTO}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lmtp_port},.* status=sent")
    postfix.wait_log(rf"to=<{CITIZEN}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{relay.port},.* status=sent")
