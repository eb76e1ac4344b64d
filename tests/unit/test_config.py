"""Config: embedded defaults, user file merged over them, errors that name
the file, the key and what is expected."""

from __future__ import annotations

import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError


def test_embedded_defaults_give_a_working_example_mailbox():
    settings = load_settings()
    assert settings.smtp.port == 2525 and settings.outbound.mode == "maildir"
    [mailbox] = settings.mailboxes
    assert (mailbox.address, mailbox.protocol_prefix) == ("atendimento@example.gov.br", "ATD")


def test_a_user_file_overrides_only_what_it_says(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[smtp]\nport = 2600\n\n[[mailbox]]\naddress = "CNES@Example.gov.br"\nprotocol_prefix = "CNES"\n')
    settings = load_settings(path)
    assert settings.smtp.port == 2600 and settings.smtp.host == "127.0.0.1"
    assert [m.address for m in settings.mailboxes] == ["cnes@example.gov.br"]


@pytest.mark.parametrize(("text", "key", "words"), [
    ("[smtp]\nport = 'x'\n", "smtp.port", "whole number"),
    ("[smtp]\nprot = 25\n", "smtp.prot", "unknown key"),
    ("[smpt]\nport = 25\n", "smpt", "unknown section"),
    ("[outbound]\nmode = 'carrier-pigeon'\n", "outbound.mode", "maildir, smtp"),
    ("[[mailbox]]\naddress = 'cnes'\nprotocol_prefix = 'CNES'\n", "mailbox[0].address", "plain address"),
    ("[[mailbox]]\naddress = 'a@example.gov.br'\n", "mailbox[0].protocol_prefix", "missing"),
    ("[[mailbox]]\naddress = 'a@example.gov.br'\nprotocol_prefix = 'cn'\n", "mailbox[0].protocol_prefix", "capital"),
    ("[[mailbox]]\naddress = 'a@example.gov.br'\nprotocol_prefix = 'AA'\nteam = ['x']\n", "mailbox[0].team", "not an e-mail"),
    ("[[mailbox]]\naddress = 'a@example.gov.br'\nprotocol_prefix = 'AA'\n[[mailbox]]\naddress = 'b@example.gov.br'\n"
     "protocol_prefix = 'AA'\n", "mailbox[1].protocol_prefix", "already used"),
    ("[smtp\n", "-", "not valid TOML"),
])
def test_a_wrong_key_or_value_names_file_key_and_expectation(tmp_path, text, key, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(path) in str(error.value) and f": {key}: " in str(error.value) and words in str(error.value)


def test_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEWAY_WEB_SECRET", "s3cr3t-from-env")
    monkeypatch.setenv("GATEWAY_RELAY_PASSWORD", "relay-pass")
    settings = load_settings()
    assert settings.web.secret == "s3cr3t-from-env" and settings.outbound.password == "relay-pass"


def test_plus_token_addresses_reach_their_mailbox():
    settings = load_settings()
    mailbox, token = settings.mailbox_for("<Atendimento+atd-2026-000001-3@EXAMPLE.gov.br>")
    assert mailbox.address == "atendimento@example.gov.br" and token == "ATD-2026-000001-3"
    assert settings.mailbox_for("other@example.gov.br") is None
