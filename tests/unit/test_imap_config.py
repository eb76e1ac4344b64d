"""``[mailbox.imap]``: a TOML sub-table of a [[mailbox]], validated with
errors that name ``mailbox[N].imap.KEY`` and what would be accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError

BASE = """
[[mailbox]]
address = "atendimento@example.gov.br"
protocol_prefix = "ATD"

[[mailbox]]
address = "cnes@example.gov.br"
protocol_prefix = "CNES"

[mailbox.imap]
host = "imap.example.gov.br"
user = "cnes"
password_env = "CNES_IMAP_PASSWORD"
"""


def _load(tmp_path: Path, extra: str = "") -> object:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + extra)
    return load_settings(path)


def test_the_imap_table_belongs_to_the_mailbox_above_it_with_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    first, second = settings.mailboxes  # type: ignore[attr-defined]
    assert first.imap is None
    imap = second.imap
    assert (imap.host, imap.port, imap.tls, imap.folder, imap.after) == ("imap.example.gov.br", 993, "implicit", "INBOX", "move")
    assert (imap.processed_folder, imap.quarantine_folder, imap.keyword) == ("Processed", "Quarantine", "$GatewayProcessed")
    assert (imap.idle, imap.idle_timeout, imap.poll_interval, imap.batch_size) == (True, 29 * 60, 60.0, 50)
    assert imap.junk_folder == ""  # junk is not watched unless named


def test_starttls_and_plain_default_to_port_143(tmp_path: Path) -> None:
    assert _load(tmp_path, 'tls = "starttls"\n').mailboxes[1].imap.port == 143  # type: ignore[attr-defined]


@pytest.mark.parametrize(("extra", "key", "words"), [
    ('tls = "ssl"\n', "mailbox[1].imap.tls", "not one of implicit, starttls, plain"),
    ('after = "delete"\n', "mailbox[1].imap.after", "not one of move, flag"),
    ('password_file = "/run/secrets/cnes"\n', "mailbox[1].imap.password_env", "exactly one of"),
    ("batch_size = 0\n", "mailbox[1].imap.batch_size", "greater than 0"),
    ("port = 70000\n", "mailbox[1].imap.port", "not a TCP port"),
    ('keyword = "Gateway Processed"\n', "mailbox[1].imap.keyword", "not an IMAP keyword"),
    ('processed_folder = "INBOX"\n', "mailbox[1].imap.processed_folder", "must differ from folder"),
    ('junk_folder = "Quarantine"\n', "mailbox[1].imap.junk_folder", "must differ from folder, processed_folder"),
    ("idle = \"yes\"\n", "mailbox[1].imap.idle", "true or false"),
    ("passwd = \"x\"\n", "mailbox[1].imap.passwd", "unknown key"),
    ("max_age_days = -1\n", "mailbox[1].imap.max_age_days", "whole number >= 0"),
    ("max_age_days = 1000000\n", "mailbox[1].imap.max_age_days", "more than a century"),
])
def test_a_wrong_imap_key_names_mailbox_imap_key_and_expectation(tmp_path: Path, extra: str, key: str,
                                                                 words: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, extra)
    assert error.value.key == key and words in error.value.problem


def test_host_and_user_are_required(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE.replace('host = "imap.example.gov.br"\n', ""))
    with pytest.raises(ConfigError, match=r"mailbox\[1\]\.imap\.host: missing"):
        load_settings(path)


def test_two_mailboxes_may_not_read_one_accounts_folder(tmp_path: Path) -> None:
    """Each would hold a session on it and take the same mails (an audit's finding)."""
    same = ('\n[[mailbox]]\naddress = "cnes2@example.gov.br"\nprotocol_prefix = "CNS"\n\n[mailbox.imap]\n'
            'host = "IMAP.example.gov.br"\nuser = "CNES"\npassword_env = "X"\nfolder = "inbox"\n')
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, same)
    assert "mailbox[2].imap.folder" in str(error.value) and "already read by mailbox[1]" in str(error.value)
    other_folder = same.replace('folder = "inbox"', 'folder = "CNES-2"')
    assert _load(tmp_path, other_folder).mailboxes[2].imap.folder == "CNES-2"  # type: ignore[attr-defined]

