"""``[mailbox.status_names]``: each desk's own names for the states (issue 15),
read at load, refused with the key and the valid states when wrong, and
set in examples/gateway.toml as the SIOP and CAU/SP seeds name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway.toml"
MAILBOX = "[[mailbox]]\naddress = 'registro.causp@example.gov.br'\nprotocol_prefix = 'CAUSP'\n"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "gateway.toml"
    path.write_text(MAILBOX + text, encoding="utf-8")
    return load_settings(path), path


def test_names_are_read_per_state_and_the_others_keep_ours(tmp_path):
    settings, _ = _load(tmp_path, "[mailbox.status_names]\nwaiting = 'Pendente  Profissional '\n"
                                  "solved = 'Homologando'\n")
    [mailbox] = settings.mailboxes
    assert mailbox.state_names == {"waiting": "Pendente Profissional", "solved": "Homologando"}
    assert hash(mailbox), "a mailbox stays hashable (its calendar is cached by it)"


@pytest.mark.parametrize(("table", "key", "words"), [
    ("[mailbox.status_names]\nhomologado = 'Homologado'\n", "mailbox[0].status_names.homologado",
     "unknown state; name one of new, assigned, open, waiting, solved, resolved, accepted, closed, rejected"),
    ("[mailbox.status_names]\nclosed = ''\n", "mailbox[0].status_names.closed", "1 to 60 characters"),
    ("[mailbox.status_names]\nclosed = 3\n", "mailbox[0].status_names.closed", "got 3"),
    ('[mailbox.status_names]\nclosed = "Fechado\\nBcc: x@example.org"\n', "mailbox[0].status_names.closed",
     "one line"),
    ("status_names = 'Aberto'\n", "mailbox[0].status_names", "expected a [mailbox[0].status_names] table"),
])
def test_a_wrong_name_is_one_line_naming_the_key_and_what_is_valid(tmp_path, table, key, words):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, table)
    message = str(error.value)
    assert f": {key}: " in message and words in message and "\n" not in message


def test_the_example_names_siop_and_causp_states_as_their_seeds_do():
    mailboxes = {m.protocol_prefix: m for m in load_settings(EXAMPLE).mailboxes}
    siop, causp = mailboxes["SIOP"].state_names, mailboxes["CAUSP"].state_names
    assert [siop[s] for s in ("new", "assigned", "waiting", "solved", "resolved", "closed")] == [
        "Novo", "Atribuído", "Aguardando", "Validar", "Resolvido", "Fechado"]
    assert [causp[s] for s in ("new", "waiting", "solved", "accepted", "closed")] == [
        "Aberto", "Pendente Profissional", "Homologando", "Homologado", "Fechado"]
    assert mailboxes["SIOP"].reopen_window is not None, "SIOP's Resolvido needs a reopening window"
    assert mailboxes["CNES"].state_names == {}, "a desk that names nothing reads ours"
