"""Analysts who log in (SMTP AUTH on the submission listener) are obeyed
without any Authentication-Results; the rest is refused at the door."""

from __future__ import annotations

import shutil
import smtplib
import ssl
import subprocess

import pytest

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.credentials import hash_password
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, free_port
from tests.integration.lifecycle.conftest import ANALYST, CITIZEN, FRIDAY_HOLIDAY, Desk, text_of

PASSWORD = "correta-cavalo-bateria"


@pytest.fixture
def submission_desk(desk_settings, tmp_path):
    started: list[Desk] = []

    def start(**submission: object) -> Desk:
        credentials = tmp_path / "analysts.txt"
        credentials.write_text(f"# analysts\n{ANALYST}:{hash_password(PASSWORD, iterations=1000)}\n")
        settings = desk_settings()
        from gateway.config import load_settings  # rebuild with the submission section

        overrides = {"storage": {"url": settings.storage.url}, "smtp": {"port": settings.smtp.port},
                     "web": {"port": settings.web.port, "base_url": settings.web.base_url},  # not 8080
                     "admin": {"port": 0},  # not 8026
                     "outbound": {"path": settings.outbound.path, "poll_interval": 0.1},
                     "processing": {"poll_interval": 0.1},
                     "submission": {"enabled": True, "port": free_port(), "require_tls": False,
                                    "credentials_file": str(credentials),
                                    # short back-off: smtplib's login() tries PLAIN, then LOGIN
                                    "failure_delay": 0.05, "max_failure_delay": 0.2, **submission},
                     "mailbox": [{"address": "atendimento@example.gov.br", "protocol_prefix": "ATD",
                                  "team": ["equipe@example.gov.br"], "analysts": [ANALYST]}]}
        settings = load_settings(overrides=overrides)
        clock = FixedClock(FRIDAY_HOLIDAY)
        desk = Desk(RunningGateway(settings, Gateway(settings, clock)).start(), clock)
        started.append(desk)
        return desk

    yield start
    for desk in started:
        desk.running.stop()


def _analyst_mail(protocol: str, body: str) -> bytes:
    return make_mail(subject=f"RE: [{protocol}] Novo chamado", sender=f"Maria Lima <{ANALYST}>",
                     to=f"atendimento+{protocol}@example.gov.br", body=body)


def test_a_logged_in_analyst_is_obeyed(submission_desk):
    desk = submission_desk()
    protocol = desk.citizen_writes()
    port = desk.running.settings.submission.port
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.login(ANALYST, PASSWORD)
        client.sendmail(ANALYST, [f"atendimento+{protocol}@example.gov.br"],
                        _analyst_mail(protocol, "#solucao\nAtualize para a versão 3.3."))
    desk.sent += 1
    desk.running.wait_processed(desk.sent)
    assert desk.ticket()["status"] == "solved"
    assert "Atualize para a versão 3.3." in text_of(desk.to_citizen("solution")[0])


def test_no_login_wrong_password_and_someone_elses_login_are_refused(submission_desk):
    desk = submission_desk()
    protocol = desk.citizen_writes()
    port = desk.running.settings.submission.port
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        assert client.mail(ANALYST)[0] == 530, "MAIL before AUTH"
    with smtplib.SMTP("127.0.0.1", port) as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(ANALYST, "senha-errada")
    assert refused.value.smtp_code == 535
    # a valid login for one address does not prove another From
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.login(ANALYST, PASSWORD)
        forged = make_mail(subject=f"RE: [{protocol}] x", sender="Chefe <chefe@example.gov.br>",
                           to=f"atendimento+{protocol}@example.gov.br", body="#fechar")
        client.sendmail(ANALYST, [f"atendimento+{protocol}@example.gov.br"], forged)
    desk.sent += 1
    desk.running.wait_processed(desk.sent)
    assert desk.ticket()["status"] == "new"


def test_repeated_failures_slow_guessing_down_but_never_lock_out_the_right_password(submission_desk):
    """Failures are answered later and later (per client address and
    account, tests/security/test_submission_auth.py); the analyst who
    finally types the right password is let in."""
    desk = submission_desk()
    port = desk.running.settings.submission.port
    for _ in range(5):
        with smtplib.SMTP("127.0.0.1", port) as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(ANALYST, "chute")
        assert refused.value.smtp_code == 535
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.login(ANALYST, PASSWORD)[0] == 235


def test_auth_requires_starttls_when_configured(submission_desk, tmp_path):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of Debian's base system"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    desk = submission_desk(require_tls=True, tls_cert=str(cert), tls_key=str(key))
    port = desk.running.settings.submission.port
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        assert "auth" not in client.esmtp_features, "no AUTH offered in clear"
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        client.starttls(context=context)
        client.ehlo()
        assert "auth" in client.esmtp_features
        client.login(ANALYST, PASSWORD)


def test_enabling_submission_without_credentials_or_tls_is_a_config_error():
    from gateway.config import load_settings
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match="submission.credentials_file"):
        load_settings(overrides={"submission": {"enabled": True}})
    with pytest.raises(ConfigError, match="submission.tls_cert"):
        load_settings(overrides={"submission": {"enabled": True, "credentials_file": "/x"}})
