"""The command line as users and acceptance tests call it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import query, run, write_config
from tests.helpers.servers import free_port


def test_tickets_list_and_show_json_hold_what_design_promises(tmp_path):
    config = write_config(tmp_path)
    first = make_mail(subject="Erro no cadastro", message_id="<first@client.example.org>",
                      attachments=[("tela.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)])
    assert run(config, "ingest", stdin=first).returncode == 0
    [listed] = json.loads(run(config, "tickets", "list", "--json").stdout)
    protocol = listed["protocol"]
    assert {"protocol", "mailbox", "status", "requester", "subject", "category"} <= set(listed)
    reply = make_mail(subject=f"RES: [{protocol}] Erro no cadastro", body="Segue o print.\n\n> antigo",
                      in_reply_to="<first@client.example.org>")
    assert run(config, "ingest", stdin=reply).returncode == 0

    shown = json.loads(run(config, "tickets", "show", protocol.lower(), "--json").stdout)
    assert shown["protocol"] == protocol and shown["mailbox"] == "atendimento@example.gov.br"
    assert shown["status"] == "new" and shown["requester"] == "ana.souza@example.org"
    incoming = [m for m in shown["messages"] if m["direction"] == "in"]
    assert [m["role"] for m in incoming] == ["requester", "requester"]
    assert incoming[1]["text"].strip() == "Segue o print."
    assert incoming[0]["attachments"][0] | {"size": 0} == {"filename": "tela.png", "declared_type": "image/png",
                                                          "type": "image/png", "size": 0, "passed_on": True}
    outgoing = [m for m in shown["messages"] if m["direction"] == "out"]
    assert [m["internal"] for m in outgoing] == [False, True, True]  # ack, team_new, team_followup
    assert all({"direction", "role", "sender", "date", "text", "attachments"} <= set(m) for m in shown["messages"])
    assert [e["kind"] for e in shown["events"]] == ["created", "follow_up"]


def test_show_of_an_unknown_protocol_exits_1(tmp_path):
    result = run(write_config(tmp_path), "tickets", "show", "ATD-2026-999999-9", "--json")
    assert result.returncode == 1 and b"no ticket" in result.stderr


def test_check_config_passes_a_good_file_and_names_the_key_of_a_bad_one(tmp_path):
    config = write_config(tmp_path)
    good = run(config, "check-config")
    assert good.returncode == 0 and b"OK" in good.stdout
    config.write_text(config.read_text().replace('protocol_prefix = "ATD"', 'protocol_prefix = "atd1"'))
    bad = run(config, "check-config")
    assert bad.returncode == 2
    assert b"mailbox[0].protocol_prefix" in bad.stderr and str(config).encode() in bad.stderr


def test_check_config_reports_a_broken_template(tmp_path):
    import shutil

    from gateway.outbound.render import SHIPPED

    shutil.copytree(SHIPPED, tmp_path / "templates")
    (tmp_path / "templates" / "email" / "pt_BR" / "ack.txt.j2").write_text("{{ protocolo_inexistente }}")
    config = write_config(tmp_path)
    config.write_text(config.read_text() + f'\n[templates]\npath = "{tmp_path / "templates"}"\n')
    result = run(config, "check-config")
    assert result.returncode == 2 and b"protocolo_inexistente" in result.stderr


def _no_traceback(result) -> None:
    assert b"Traceback" not in result.stderr and b"Traceback" not in result.stdout, result.stderr.decode()


def test_tickets_list_takes_a_status_by_value_or_by_label_and_prints_a_header(tmp_path):
    config = write_config(tmp_path)
    assert run(config, "ingest", stdin=make_mail(subject="Erro no cadastro")).returncode == 0
    for asked in ("novo", "NEW"):
        listed = run(config, "tickets", "list", "--status", asked)
        assert listed.returncode == 0, listed.stderr
        header, row = listed.stdout.decode().splitlines()
        assert header.split() == ["PROTOCOL", "STATUS", "REQUESTER", "SUBJECT"]
        assert row.startswith("ATD-") and "Novo" in row and "Erro no cadastro" in row
    for asked in ("Em Atendimento", "solucao PROPOSTA"):
        empty = run(config, "tickets", "list", "--status", asked)
        assert empty.returncode == 0 and empty.stdout == b"", (asked, empty.stdout)
        assert b"no tickets with status" in empty.stderr


def test_tickets_list_refuses_an_unknown_status_listing_the_choices(tmp_path):
    config = write_config(tmp_path)
    result = run(config, "tickets", "list", "--status", "nada")
    assert result.returncode == 2 and result.stdout == b""
    words = result.stderr.decode()
    assert "'nada' is not a ticket status" in words
    assert all(choice in words for choice in ("new (Novo)", "open (Em andamento)", "closed (Fechado)"))


def test_tickets_show_prints_the_messages_with_personal_data_masked_unless_revealed(tmp_path):
    config = write_config(tmp_path)
    first = make_mail(subject="Erro no cadastro", sender="Ana <ana.39053344705@example.org>",
                      body="Meu CPF é 390.533.447-05.\nSegunda linha.\nTerceira.\nQuarta linha, cortada.\n")
    assert run(config, "ingest", stdin=first).returncode == 0
    [listed] = json.loads(run(config, "tickets", "list", "--json").stdout)
    shown = run(config, "tickets", "show", listed["protocol"])
    assert shown.returncode == 0
    text = shown.stdout.decode()
    assert "messages (3):" in text and "events (1):" in text  # the mail, the ack, the team's notice
    assert " in  requester " in text and "Meu CPF é ***.533.447-**." in text and "Terceira." in text
    assert "Quarta linha" not in text and "1 more line(s)" in text
    assert "39053344705" not in text and "390.533.447-05" not in text
    revealed = run(config, "tickets", "show", listed["protocol"], "--reveal").stdout.decode()
    assert "ana.39053344705@example.org" in revealed and "390.533.447-05" in revealed


def _quarantined_mail(config) -> tuple[bytes, int]:
    """A mail with neither From nor envelope sender (nobody to answer): quarantined."""
    lines = make_mail(subject="CPF 390.533.447-05 no cadastro").split(b"\r\n")
    raw = b"\r\n".join(line for line in lines if not line.startswith(b"From:"))
    assert run(config, "ingest", stdin=raw).returncode == 0
    [entry] = json.loads(run(config, "quarantine", "list", "--json").stdout)
    return raw, entry["id"]


def test_quarantine_show_gives_reason_headers_size_and_the_raw_mail(tmp_path):
    config = write_config(tmp_path)
    raw, entry = _quarantined_mail(config)
    shown = run(config, "quarantine", "show", str(entry))
    assert shown.returncode == 0
    text = shown.stdout.decode()
    assert f"quarantine #{entry} (waiting)" in text and "reason: no sender address" in text
    assert f"size: {len(raw)} bytes" in text and "raw mail: table inbox_raw, inbox_id 1, in sqlite:///" in text
    assert "Subject: CPF ***.533.447-** no cadastro" in text and "390.533.447-05" not in text
    assert run(config, "quarantine", "show", str(entry), "--raw").stdout == raw
    missing = run(config, "quarantine", "show", "999")
    assert missing.returncode == 1 and b"no quarantined mail #999" in missing.stderr


def test_a_release_that_fails_again_exits_1_and_names_the_new_entry(tmp_path):
    config = write_config(tmp_path)
    _raw, entry = _quarantined_mail(config)
    released = run(config, "quarantine", "release", str(entry))
    assert released.returncode == 1
    [again] = json.loads(run(config, "quarantine", "list", "--json").stdout)
    assert again["id"] != entry and f"quarantined again as #{again['id']}".encode() in released.stderr


def test_a_release_after_the_fix_processes_and_acknowledges_once_and_a_second_release_is_refused(tmp_path):
    """PITFALLS item 1 (exactly-once intake with an admin "replay" action):
    a mail quarantined for a fault the operator can fix (here a site template
    the acknowledgement needs, broken by an edit) is released once the fix is
    in.  It must then become exactly one ticket with exactly one
    acknowledgement, though its first attempt had already got as far as
    opening the ticket; and releasing the same entry again, as a second
    operator or a shell history would, is refused and changes nothing (one
    more ticket and one more ack to the citizen per release is osTicket#1976's
    duplicate-ticket failure, done by hand)."""
    import shutil

    from gateway.outbound.render import SHIPPED

    shutil.copytree(SHIPPED, tmp_path / "templates")
    ack = tmp_path / "templates" / "email" / "pt_BR" / "ack.txt.j2"
    wording = ack.read_text(encoding="utf-8")
    ack.write_text("{{ protocolo_inexistente }}", encoding="utf-8")
    config = write_config(tmp_path)
    config.write_text(config.read_text() + f'\n[templates]\npath = "{tmp_path / "templates"}"\n')
    database = tmp_path / "gateway.db"

    assert run(config, "ingest", stdin=make_mail(subject="Erro no cadastro")).returncode == 0
    [entry] = json.loads(run(config, "quarantine", "list", "--json").stdout)
    assert entry["step"] == "act" and "protocolo_inexistente" in entry["reason"]
    assert query(database, "select count(*) from ticket") == [(0,)], "the failed attempt left a ticket behind"
    assert query(database, "select count(*) from outbox") == [(0,)]

    ack.write_text(wording, encoding="utf-8")  # the operator's fix
    released = run(config, "quarantine", "release", str(entry["id"]))
    assert released.returncode == 0, released.stderr.decode()
    [(protocol,)] = query(database, "select protocol from ticket")
    assert f"new_ticket: opened {protocol}".encode() in released.stdout

    def effects() -> tuple[list[tuple[object, ...]], ...]:
        return (query(database, "select id, status, outcome from inbox"),
                query(database, "select id, protocol, status from ticket"),
                query(database, "select id, kind, first_rcpt from outbox order by id"),
                query(database, "select id, kind from event order by id"),
                query(database, "select id, direction from message order by id"))

    inbox, tickets, outbox, events, messages = done = effects()
    assert inbox == [(entry["inbox_id"], "processed", "new_ticket")] and len(tickets) == 1
    assert [(kind, to) for _, kind, to in outbox] == [("ack", "ana.souza@example.org"),
                                                      ("team_new", "equipe@example.gov.br")]
    assert [kind for _, kind in events] == ["created"]
    assert [direction for _, direction in messages] == ["in", "out", "out"]  # the mail, the ack, the team's notice
    assert json.loads(run(config, "quarantine", "list", "--json").stdout) == []
    shown = json.loads(run(config, "quarantine", "show", str(entry["id"]), "--json").stdout)
    assert shown["state"] == "released" and shown["released_at"]

    twice = run(config, "quarantine", "release", str(entry["id"]))
    assert twice.returncode == 1 and twice.stdout == b""
    assert f"#{entry['id']} was already released at".encode() in twice.stderr
    _no_traceback(twice)
    assert effects() == done, "a second release of the same entry changed something"


def test_quarantine_discard_asks_first_then_deletes_the_bytes_and_keeps_an_audit_line(tmp_path):
    config = write_config(tmp_path)
    _raw, entry = _quarantined_mail(config)
    declined = run(config, "quarantine", "discard", str(entry), stdin=b"n\n")
    assert declined.returncode == 1 and b"not discarded" in declined.stderr
    assert len(json.loads(run(config, "quarantine", "list", "--json").stdout)) == 1

    discarded = run(config, "quarantine", "discard", str(entry), "--yes")
    assert discarded.returncode == 0 and b"discarded by " in discarded.stdout
    assert json.loads(run(config, "quarantine", "list", "--json").stdout) == []
    shown = json.loads(run(config, "quarantine", "show", str(entry), "--json").stdout)
    assert shown["state"] == "discarded" and shown["raw"] == "deleted (discarded)"
    assert shown["note"].startswith("discarded by ") and "no sender address" in shown["note"]
    assert run(config, "quarantine", "show", str(entry), "--raw").returncode == 1
    twice = run(config, "quarantine", "discard", str(entry), "--yes")
    assert twice.returncode == 1


@pytest.mark.parametrize(("replace", "words"), [
    (("[smtp]\nport = ", "[smtp]\nport = 99999\n#"), b"smtp.port: 99999 is not a TCP port"),
    (('url = "sqlite:///', 'url = "postgres://gw:senha@127.0.0.1/gw"\n#'),
     b'write url = "postgresql+psycopg://gw:***@127.0.0.1/gw"'),
])
def test_check_config_and_run_refuse_a_bad_port_or_url_in_one_line(tmp_path, replace, words):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(*replace, 1))
    for command in ("check-config", "run"):
        result = run(config, command)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.decode().strip().splitlines()) == 1 and b"senha" not in result.stderr
        _no_traceback(result)


def test_check_config_connects_to_the_database_and_reports_a_failure_in_one_line(tmp_path):
    closed = free_port()  # nothing listens there
    config = write_config(tmp_path, storage_url=f"postgresql+psycopg://gw:senha@127.0.0.1:{closed}/gw")
    result = run(config, "check-config")
    assert result.returncode == 2
    [line] = result.stderr.decode().strip().splitlines()
    assert line.startswith("database error: ") and "storage.url" in line and f"127.0.0.1:{closed}" in line
    assert "senha" not in line
    _no_traceback(result)
    good = run(write_config(tmp_path), "check-config")
    assert good.returncode == 0 and b"storage: sqlite:///" in good.stdout


@pytest.mark.parametrize("section", ["smtp", "web"])
def test_run_names_a_port_in_use_and_exits_2(tmp_path, section):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, port=port if section == "smtp" else None)
        if section == "web":
            config.write_text(re.sub(r"(\[web\]\nport = )\d+", rf"\g<1>{port}", config.read_text()))
        result = run(config, "run", timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.decode().strip().splitlines()
    assert line == (f"gateway run: [{section}] port {port} on 127.0.0.1 is in use (Address already in use); "
                    f"change [{section}] port or stop the other process")
    _no_traceback(result)


_BANNER_SCRIPT = """
from gateway.cli.serve import print_welcome
from gateway.config import load_settings
path = {path!r}
print_welcome(load_settings(path, overrides=None if path else
                            {{"storage": {{"url": "postgresql+psycopg://gw:senha@127.0.0.1/gw"}}}}))
print("END")
"""


def _banner(path: str | None, *, terminal: bool) -> str:
    """What print_welcome writes to a terminal (a pseudo-terminal) or a pipe."""
    import os
    import pty
    import subprocess
    import sys

    command = [sys.executable, "-c", _BANNER_SCRIPT.format(path=path)]
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    if not terminal:
        return subprocess.run(command, capture_output=True, timeout=60, env=env, check=True).stdout.decode()
    controller, terminal_end = pty.openpty()
    with subprocess.Popen(command, stdout=terminal_end, stderr=subprocess.DEVNULL, env=env) as child:
        os.close(terminal_end)
        output = b""
        while b"END" not in output:  # bounded: the child ends, and then read fails
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        child.wait(timeout=60)
    os.close(controller)
    return output.decode()


def test_the_banner_shows_only_on_a_terminal_with_the_embedded_defaults_and_masks_passwords(tmp_path):
    shown = _banner(None, terminal=True)
    assert "Send a first mail" in shown and "gw:***@127.0.0.1/gw" in shown and "senha" not in shown
    assert "Send a first mail" not in _banner(None, terminal=False)
    assert "Send a first mail" not in _banner(str(write_config(tmp_path)), terminal=True)


def test_send_with_the_relay_down_exits_75_naming_it_and_charges_no_mail(tmp_path):
    """Cron's `gateway send` against a relay that is down: one line, no
    traceback, and the mails wait uncharged for the next run."""
    closed = free_port()  # nothing listens there
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[outbound]\n", f'[outbound]\nmode = "smtp"\nhost = "127.0.0.1"\n'
                                                                  f"port = {closed}\ntimeout = 5\n"))
    assert run(config, "ingest", stdin=make_mail()).returncode == 0  # an acknowledgement and a team notice queued
    result = run(config, "send")
    assert result.returncode == 75, result.stderr
    assert f"relay 127.0.0.1:{closed} unavailable".encode() in result.stderr and b"uncharged" in result.stderr
    _no_traceback(result)
    assert query(tmp_path / "gateway.db", "select status, attempts from outbox") == [("queued", 0), ("queued", 0)]


def test_a_pipe_whose_command_module_cannot_be_imported_exits_75(tmp_path):
    """A broken install (an upgrade half done): the import of the command's
    own module fails before the command's catch-all; it still must not bounce."""
    config = write_config(tmp_path)

    def broken(command: str, *args: str) -> str:
        return (f"import sys, runpy, gateway.cli as c; c.COMMANDS[{command!r}] = ('no_such_module', 'x'); "
                f"sys.argv = ['gateway', '--config', sys.argv[1], {command!r}, *{list(args)!r}]; "
                "runpy.run_module('gateway', run_name='__main__')")

    result = subprocess.run([sys.executable, "-c", broken("ingest"), str(config)], input=make_mail(),
                            capture_output=True, timeout=120)
    assert result.returncode == 75, result.stderr.decode()
    assert b"ModuleNotFoundError" in result.stderr and b"the MTA keeps the mail" in result.stderr
    other = subprocess.run([sys.executable, "-c", broken("tickets", "list"), str(config)], capture_output=True,
                           timeout=120)
    assert other.returncode == 1 and b"Traceback" in other.stderr  # a person at a terminal sees the error itself
