"""The command line as users and acceptance tests call it."""

from __future__ import annotations

import json

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import run, write_config


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
