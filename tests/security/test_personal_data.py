"""Personal data is masked everywhere a person or a log can see it (issue 13, item 6).

A citizen writes their CPF in every common form, and two phone numbers,
from an address that is their CPF.  Through the real doors (SMTP in, the
tracking page over HTTP, ``gateway`` as a separate process, ``gateway -v
run``'s log) none of those numbers shows in clear; ``--reveal`` shows them,
and the team's notification still carries them (the analysts need them).

The CPF comes from ``generate_cpf`` (a random base, never a real person's).
"""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import smtplib
import unicodedata
from pathlib import Path

import httpx

from gateway.outbound.render import SHIPPED
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, query, run, smtp_port, write_config
from tests.helpers.servers import wait_until
from tests.helpers.web import link_in, text_of
from tests.security.conftest import CNES, Target
from tests.unit.rules.rule_helpers import generate_cpf

_rng = random.Random(20261306)
CPF = generate_cpf(_rng, formatted=False)
A, B, C, D = CPF[:3], CPF[3:6], CPF[6:9], CPF[9:]
MOBILE = "9" + "".join(str(_rng.randrange(10)) for _ in range(8))  # 9XXXX-XXXX
LANDLINE = str(_rng.randrange(2, 6)) + "".join(str(_rng.randrange(10)) for _ in range(7))  # 3XXX-XXXX
CITIZEN = f"{CPF}@cidada.example"

CPF_FORMS = (f"{A}.{B}.{C}-{D}", f"{A} {B} {C} {D}", f"{A}{B}{C}-{D}", CPF, f"{A}.{B}.{C}/{D}")
PHONE_FORMS = (f"(61) {MOBILE[:5]}-{MOBILE[5:]}", f"61 {MOBILE[:5]} {MOBILE[5:]}", f"+55 61 {MOBILE}",
               f"61{MOBILE}", f"{LANDLINE[:4]}-{LANDLINE[4:]}")
SUBJECT = f"Cadastro bloqueado, CPF {CPF_FORMS[0]}, tel. {PHONE_FORMS[0]}"
BODY = ("Bom dia,\n\nNão consigo acessar o cadastro.\n"
        + "".join(f"CPF: {form}\n" for form in CPF_FORMS)
        + "".join(f"Telefone: {form}\n" for form in PHONE_FORMS)
        + f"E-mail: pii-{CPF}@cidada.example\n\nAtenciosamente,\nCidadã\n")
# What a masked text still shows of them: proof that the text is there, masked.
MASKED_CPF = f"***.{B}.{C}-**"
MASKED_ADDRESS = f"***{B}{C}**@cidada.example"
# What Word/Outlook autocorrect, phone keyboards and hurried typists write.
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TYPED_CPFS = (f"{A}.{B}.{C} - {D}", f"{A}.{B}.{C}\u2013{D}", f"{A}.{B}.{C}\u2011{D}", f"{A},{B},{C}-{D}",
              f"{A}.{B}.{C}-{D}".translate(FULL_WIDTH))
TYPED_PHONE = f"61-{MOBILE[0]}-{MOBILE[1:5]}-{MOBILE[5:]}"


def clear_numbers(text: str) -> list[str]:
    """The CPF, the mobile and the landline wherever they show in clear,
    whatever punctuation (up to three characters) sits between their digits."""
    return [secret for secret in (CPF, MOBILE, LANDLINE)
            if re.search("[^0-9\n]{0,3}".join(secret), text)]


def citizen_mail() -> bytes:
    return make_mail(subject=SUBJECT, body=BODY, sender=f"Cidadã <{CITIZEN}>", to=CNES)


def test_the_tracking_page_shows_no_cpf_or_phone_in_clear(target: Target):
    target.send(citizen_mail(), mail_from=CITIZEN, to=CNES)
    [ack] = target.outbox(kind="ack", to=CITIZEN)
    with httpx.Client(timeout=30) as client:
        page = client.get(link_in(ack, "t"))
    assert page.status_code == 200
    html = page.text
    assert clear_numbers(html) == [], html
    assert MASKED_CPF in html and f"(61) *****-{MOBILE[5:]}" in html  # the subject and the mail, masked
    # The mails themselves are not masked: the team needs the numbers to work.
    [team] = target.outbox(kind="team_new")
    assert clear_numbers(text_of(team)) == [CPF, MOBILE, LANDLINE]


def test_the_tracking_page_masks_the_forms_keyboards_and_autocorrect_write(target: Target):
    """En dash, non-breaking hyphen, spaces around the dash, commas and
    full-width digits: read in NFKC, masked, and otherwise shown as written."""
    body = "Bom dia,\n\n" + "".join(f"CPF: {form}\n" for form in TYPED_CPFS) + f"Tel: {TYPED_PHONE}\n"
    target.send(make_mail(subject=f"Cadastro CPF {TYPED_CPFS[1]}", body=body, sender=f"Cidadã <{CITIZEN}>", to=CNES),
                mail_from=CITIZEN, to=CNES)
    [ack] = target.outbox(kind="ack", to=CITIZEN)
    with httpx.Client(timeout=30) as client:
        page = client.get(link_in(ack, "t"))
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert clear_numbers(unicodedata.normalize("NFKC", shown)) == [], shown
    assert f"***.{B}.{C}\u2013**" in shown and f"***.{B}.{C}-**".translate(FULL_WIDTH) in shown
    assert f"61-*-****-{MOBILE[5:]}" in shown
    [ticket] = target.tickets()
    assert clear_numbers(unicodedata.normalize("NFKC", json.dumps(target.ticket(ticket["protocol"]),
                                                                  ensure_ascii=False, default=str))) == []


def test_tickets_show_and_list_mask_unless_revealed(target: Target, tmp_path: Path):
    target.send(citizen_mail(), mail_from=CITIZEN, to=CNES)
    [ticket] = target.tickets()
    protocol = ticket["protocol"]
    config = _cli_config(tmp_path, target)

    shown = run(config, "tickets", "show", protocol)
    shown_json = run(config, "tickets", "show", protocol, "--json")
    listed = run(config, "tickets", "list")
    listed_json = run(config, "tickets", "list", "--json")
    for result in (shown, shown_json, listed, listed_json):
        output = result.stdout.decode()
        assert result.returncode == 0, result.stderr
        assert clear_numbers(output) == [], output
        assert MASKED_ADDRESS in output and MASKED_CPF in output
    data = json.loads(shown_json.stdout)
    assert data["requester"] == MASKED_ADDRESS and data["protocol"] == protocol
    team_notice = next(m for m in data["messages"] if m["internal"])
    assert clear_numbers(team_notice["text"]) == [] and MASKED_CPF in team_notice["text"]

    revealed = json.loads(run(config, "tickets", "show", protocol, "--json", "--reveal").stdout)
    assert revealed["requester"] == CITIZEN and revealed["subject"] == SUBJECT
    [incoming] = [m for m in revealed["messages"] if m["direction"] == "in"]
    assert all(form in incoming["text"] for form in CPF_FORMS + PHONE_FORMS)
    assert clear_numbers(run(config, "tickets", "show", protocol, "--reveal").stdout.decode()) == [CPF, MOBILE]
    [revealed_row] = json.loads(run(config, "tickets", "list", "--json", "--reveal").stdout)
    assert revealed_row["requester"] == CITIZEN


def test_gateway_v_never_logs_a_cpf_or_phone_not_even_in_a_traceback(tmp_path: Path):
    """``gateway -v run`` traces SMTP and DATA at debug level.  A second
    mailbox has a broken template that looks the subject up in a table, so
    the pipeline fails with the subject (and its CPF) in the error: the
    traceback is logged, and the mail quarantined with that reason."""
    broken = "suporte@example.gov.br"
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED, templates)
    own = templates / "email" / broken / "pt_BR"
    own.mkdir(parents=True)
    (own / "ack.txt.j2").write_text('{% set greetings = {"Erro no cadastro": "Prezada"} %}{{ greetings[subject] }}\n')
    config = write_config(tmp_path, extra=f"""
[[mailbox]]
address = "{broken}"
name = "Suporte"
protocol_prefix = "SUP"
team = ["equipe-suporte@example.gov.br"]

[templates]
path = "{templates}"
""")
    log = tmp_path / "gateway.log"
    process = GatewayProcess(config, log, options=("-v",)).start()
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
            for to in ("atendimento@example.gov.br", broken):
                client.sendmail(CITIZEN, [to], make_mail(subject=SUBJECT, body=BODY, sender=CITIZEN, to=to))
        database = tmp_path / "gateway.db"
        wait_until(lambda: query(database, "select count(*) from inbox where status = 'accepted'") == [(0,)]
                   and query(database, "select count(*) from quarantine") == [(1,)]
                   and query(database, "select count(*) from outbox where status = 'queued'") == [(0,)],
                   timeout=60, what="both mails processed and the acknowledgement sent")
    finally:
        process.terminate()
    written = log.read_text(encoding="utf-8", errors="replace")
    assert clear_numbers(written) == [], written
    # What was logged, masked: the SMTP trace, the DATA phase by its length only, the traceback.
    assert f"sender: {MASKED_ADDRESS}" in written, written
    assert re.search(r"mail\.log: \('127\.0\.0\.1', \d+\) DATA: \d+ bytes\n", written), written
    assert "Traceback (most recent call last)" in written and "UndefinedError" in written
    assert MASKED_CPF in written

    for command in (("quarantine", "list"), ("quarantine", "list", "--json")):
        result = run(config, *command)
        assert result.returncode == 0 and clear_numbers(result.stdout.decode()) == [], result.stdout
        assert MASKED_CPF in result.stdout.decode() and "UndefinedError" in result.stdout.decode()

    mail_file = tmp_path / "citizen.eml"
    mail_file.write_bytes(make_mail(subject=SUBJECT, body=BODY, sender=CITIZEN))
    for options in ((), ("--json",)):
        explained = run(config, "explain", str(mail_file), *options)
        assert explained.returncode == 0, explained.stderr
        assert clear_numbers(explained.stdout.decode()) == [] and MASKED_CPF in explained.stdout.decode()


def _cli_config(tmp_path: Path, target: Target) -> Path:
    """A config file for the running gateway's database, for ``gateway`` as a separate process."""
    config = tmp_path / "cli.toml"
    config.write_text(f"""
[storage]
url = "{target.settings.storage.url}"

[[mailbox]]
address = "{CNES}"
name = "Central CNES"
protocol_prefix = "CNES"
team = ["equipe-cnes@example.gov.br"]
""", encoding="utf-8")
    return config
