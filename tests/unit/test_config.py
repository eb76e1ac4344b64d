"""Config: embedded defaults, user file merged over them, errors that name
the file, the key and what is expected."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.config.load import DEFAULTS_PATH
from gateway.config.mailbox import ImapConfig, MailboxConfig, SlaConfig
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
    ("[smtp]\nport = 99999\n", "smtp.port", "1 to 65535"),
    ("[smtp]\nport = 0\n", "smtp.port", "1 to 65535"),
    ("[web]\nport = 70000\n", "web.port", "1 to 65535"),
    ("[submission]\nport = 65536\n", "submission.port", "1 to 65535"),
    ("[outbound]\nport = 0\n", "outbound.port", "1 to 65535"),
    ("[admin]\nport = 65536\n", "admin.port", "or 0 for any free port"),
    ("[storage]\nurl = 'postgres://gw@db.example.gov.br/gw'\n", "storage.url",
     'write url = "postgresql+psycopg://gw@db.example.gov.br/gw"'),
    ("[storage]\nurl = 'postgresql://gw@db.example.gov.br:5433/gw'\n", "storage.url",
     'write url = "postgresql+psycopg://gw@db.example.gov.br:5433/gw"'),
    ("[storage]\nurl = 'mysql://gw@db.example.gov.br/gw'\n", "storage.url", "postgresql+psycopg://"),
    ("[storage]\nurl = 'var/gateway.db'\n", "storage.url", "not a URL"),
    ("[web]\nprevious_secrets = ['']\n", "web.previous_secrets", "entry 1 is empty"),
    ("[web]\nsecret = 'a-long-enough-secret'\nprevious_secrets = ['an-older-secret', 'a-long-enough-secret']\n",
     "web.previous_secrets", "entry 2 is [web] secret itself"),
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
    assert settings.web.previous_secrets == () and settings.web.verifying_secrets == ("s3cr3t-from-env",)
    monkeypatch.setenv("GATEWAY_WEB_PREVIOUS_SECRETS", " antigo-um  antigo-dois\n")
    assert load_settings().web.verifying_secrets == ("s3cr3t-from-env", "antigo-um", "antigo-dois")


def test_plus_token_addresses_reach_their_mailbox():
    settings = load_settings()
    mailbox, token = settings.mailbox_for("<Atendimento+atd-2026-000001-3@EXAMPLE.gov.br>")
    assert mailbox.address == "atendimento@example.gov.br" and token == "ATD-2026-000001-3"
    assert settings.mailbox_for("other@example.gov.br") is None


def test_a_wrong_storage_url_is_named_with_its_password_masked(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("[storage]\nurl = 'postgres://gw:s3cr3t-senha@db.example.gov.br/gw'\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert "s3cr3t-senha" not in str(error.value)
    assert 'write url = "postgresql+psycopg://gw:***@db.example.gov.br/gw"' in str(error.value)


def test_the_imap_and_admin_ports_may_be_0_and_the_listeners_take_any_real_port():
    settings = load_settings(overrides={"smtp": {"port": 65535}, "web": {"port": 1}, "admin": {"port": 0}, "mailbox": [
        {"address": "a@example.gov.br", "protocol_prefix": "AA",
         "imap": {"host": "imap.example.gov.br", "user": "a", "password_env": "X", "port": 0}}]})
    assert settings.smtp.port == 65535 and settings.web.port == 1
    assert settings.mailboxes[0].imap is not None and settings.mailboxes[0].imap.port == 993


_KEY: re.Pattern[str] = re.compile(r"^#?\s*([a-z0-9_]+)\s*=")
_TABLE: re.Pattern[str] = re.compile(r"^#?\s*\[mailbox\.([a-z_]+)")


def _mailbox_keys_in_defaults() -> dict[str, set[str]]:
    """Keys written in defaults.toml's [[mailbox]] example, commented or not,
    by table: "" for the mailbox itself, "imap", "sla_default", "sla"."""
    text = DEFAULTS_PATH.read_text(encoding="utf-8")
    keys: dict[str, set[str]] = {"": set()}
    table = ""
    start = re.search(r"^\[\[mailbox\]\]$", text, re.MULTILINE)
    assert start, f"no [[mailbox]] table in {DEFAULTS_PATH}"
    for line in text[start.end():].splitlines():
        if line.startswith("[") and not line.startswith("[mailbox."):
            break  # another section after the example
        if found := _TABLE.match(line):
            table = found.group(1)
            keys[""].add(table)
            keys.setdefault(table, set())
        elif found := _KEY.match(line):
            keys[table].add(found.group(1))
    return keys


def test_defaults_toml_lists_every_mailbox_key_and_no_other():
    keys = _mailbox_keys_in_defaults()
    expected = {
        "": {f.name for f in dataclasses.fields(MailboxConfig)},
        "imap": {f.name for f in dataclasses.fields(ImapConfig)},
        "sla_default": {f.name for f in dataclasses.fields(SlaConfig)},
        "sla": {"first_response", "resolution"},
    }
    for table, fields in expected.items():
        missing, stale = fields - keys.get(table, set()), keys.get(table, set()) - fields
        where = f"[mailbox.{table}]" if table else "[[mailbox]]"
        assert not missing, f"defaults.toml {where} lacks {sorted(missing)}: add each with its default and a comment"
        if table != "sla":
            assert not stale, f"defaults.toml {where} names {sorted(stale)}, which the gateway does not read"


def test_the_values_written_in_the_mailbox_example_are_the_defaults():
    """A user's [[mailbox]] is not merged over the example: a key left out
    takes the dataclass default, so the example must show exactly those."""
    [example] = load_settings().mailboxes
    bare = MailboxConfig(address=example.address, protocol_prefix=example.protocol_prefix, name=example.name,
                         team=example.team)
    differing = [f.name for f in dataclasses.fields(MailboxConfig) if getattr(example, f.name) != getattr(bare, f.name)]
    assert not differing, f"defaults.toml [[mailbox]] shows other values than MailboxConfig's for {differing}"


@pytest.mark.parametrize(("url", "folder", "expected"), [
    ("sqlite:///var/gateway.db", "", "var"),
    ("sqlite:////srv/gateway/data/gateway.db", "", "/srv/gateway/data"),
    ("sqlite:////srv/gateway/data/gateway.db?timeout=5", "", "/srv/gateway/data"),
    ("postgresql+psycopg://gateway@db.example.gov.br/gateway", "", "."),  # the working directory: set it
    ("postgresql+psycopg://gateway@db.example.gov.br/gateway", "/var/spool/gateway", "/var/spool/gateway"),
])
def test_the_pipe_folder_is_set_or_beside_the_sqlite_database(url, folder, expected):
    from gateway.config.settings import StorageConfig

    assert str(StorageConfig(url=url, pipe_folder=folder).pipe_place()) == expected


def test_a_relative_pipe_folder_is_the_config_file_s(tmp_path):
    """The pipe runs in the MTA's working directory: a relative folder
    there would be Postfix's queue, so it is read against the config file."""
    config = tmp_path / "etc" / "gateway.toml"
    config.parent.mkdir()
    config.write_text('[storage]\nurl = "postgresql+psycopg://gateway@db/gateway"\npipe_folder = "../spool"\n'
                      '[[mailbox]]\naddress = "a@example.gov.br"\nprotocol_prefix = "ATD"\n')
    assert load_settings(str(config)).storage.pipe_place() == tmp_path / "spool"
    config.write_text(config.read_text().replace("../spool", "/var/spool/gateway"))
    assert load_settings(str(config)).storage.pipe_place() == Path("/var/spool/gateway")
    config.write_text(config.read_text().replace('"/var/spool/gateway"', '"  "'))  # blank: unset
    assert load_settings(str(config)).storage.pipe_place() == Path()
