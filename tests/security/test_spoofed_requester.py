"""Issue 13.3: a requester's decision by mail (accept, refuse, survey
score) is applied only when our MTA vouches for the From domain.  Else the
text is kept, nothing changes, and the real requester gets signed links to
confirm; a forger cannot click them, since they go to the address on file."""

from __future__ import annotations

import random
import re

import httpx
import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.web import csrf_of, link_in, path_of
from tests.unit.rules.rule_helpers import generate_cpf
from tests.security.conftest import ANA, CNES, MALLORY, MTA_PEER, PUBLIC_PEER, Target, passes, verdict


def _as_ana(target: Target, protocol: str, body: str, *, trace: dict[str, str] | None = None,
            source: str = PUBLIC_PEER, mail_from: str = MALLORY) -> None:
    target.send(make_mail(subject=f"RES: [{protocol}] Erro ao incluir profissional no CNES",
                          sender=f"Ana <{ANA}>", to=CNES, body=body, trace=trace),
                mail_from=mail_from, source=source)


def test_a_spoofed_yes_closes_nothing_and_asks_ana_to_confirm(target):
    protocol = target.citizen_opens()
    target.solved(protocol)

    _as_ana(target, protocol, "Sim, resolvido. Obrigada!")

    assert target.status(protocol) == "solved"
    assert {"decision_unconfirmed", "confirmation_sent"} <= set(target.events(protocol))
    assert "accepted" not in target.events(protocol) and not target.outbox(kind="survey")
    assert [m["text"] for m in target.ticket(protocol)["messages"] if m["direction"] == "in"][-1].startswith("Sim")
    [confirm] = target.outbox(kind="confirm_decision", to=ANA)
    body = confirm.get_body(("plain",)).get_content()
    assert "não pôde confirmar" in body and "/s/" in body

    # Ana herself confirms on the page: the signed link is the proof.
    with httpx.Client(base_url=target.settings.web.base_url, timeout=30) as browser:
        page = browser.get(path_of(link_in(confirm, "s")))
        done = browser.post(path_of(link_in(confirm, "s")), data={"csrf_token": csrf_of(page.text), "answer": "accept"})
    assert done.status_code == 200 and target.status(protocol) == "closed"


def test_a_failing_dmarc_verdict_from_our_mta_stops_the_decision(target):
    protocol = target.citizen_opens()
    target.solved(protocol)
    _as_ana(target, protocol, "Aceito a solução.", source=MTA_PEER,
            trace=verdict("spf=fail smtp.mailfrom=evil.example", "dkim=none", "dmarc=fail header.from=cidada.example"))
    assert target.status(protocol) == "solved" and "decision_unconfirmed" in target.events(protocol)


def test_a_spoofed_refusal_reopens_nothing(target):
    protocol = target.citizen_opens()
    target.solved(protocol)
    _as_ana(target, protocol, "Não. Continua com erro na tela de cadastro.")
    assert target.status(protocol) == "solved" and "refused" not in target.events(protocol)


def test_ana_herself_through_the_mta_is_obeyed(target):
    """The positive control: the MTA's DMARC pass for her domain makes the same words a decision."""
    protocol = target.citizen_opens()
    target.solved(protocol)
    _as_ana(target, protocol, "Sim, resolvido. Obrigada!", source=MTA_PEER, trace=passes(ANA), mail_from=ANA)
    assert target.status(protocol) == "closed" and target.outbox(kind="survey", to=ANA)
    assert not target.outbox(kind="confirm_decision")


def test_many_spoofed_answers_send_one_confirmation(target):
    protocol = target.citizen_opens()
    target.solved(protocol)
    for word in ("Sim", "Aceito", "Pode fechar, resolvido"):
        _as_ana(target, protocol, word)
    assert len(target.outbox(kind="confirm_decision", to=ANA)) == 1
    assert target.events(protocol).count("decision_unconfirmed") == 3


def test_a_spoofed_survey_score_is_not_recorded(target):
    protocol = target.citizen_opens()
    target.solved(protocol)
    _as_ana(target, protocol, "Sim, resolvido.", source=MTA_PEER, trace=passes(ANA), mail_from=ANA)
    assert target.status(protocol) == "closed"

    _as_ana(target, protocol, "Nota 1. Péssimo.")

    assert "survey_answered" not in target.events(protocol) and "survey_updated" not in target.events(protocol)
    [confirm] = target.outbox(kind="confirm_decision", to=ANA)
    assert re.search(r"/p/\S+", confirm.get_body(("plain",)).get_content())


def test_any_applies_decisions_as_written_when_the_desk_chooses_so(attack_desk):
    target = attack_desk(auth={"requester_decisions": "any"})
    protocol = target.citizen_opens()
    target.solved(protocol)
    _as_ana(target, protocol, "Sim, resolvido.")
    assert target.status(protocol) == "closed"


def test_a_spoofed_mail_does_not_reopen_an_accepted_ticket(attack_desk):
    target = attack_desk(cnes={"reopen_window": "7d"})
    protocol = target.citizen_opens()
    target.solved(protocol)
    _as_ana(target, protocol, "Sim, resolvido.", source=MTA_PEER, trace=passes(ANA), mail_from=ANA)
    assert target.status(protocol) == "closed"

    _as_ana(target, protocol, "Na verdade não resolveu, reabram.")

    assert target.status(protocol) == "closed" and "reopened" not in target.events(protocol)
    assert "decision_unconfirmed" in target.events(protocol)
    _as_ana(target, protocol, "Voltou a dar erro.", source=MTA_PEER, trace=passes(ANA), mail_from=ANA)
    assert target.status(protocol) == "open", "Ana herself still reopens within the window"


def test_no_automatic_answer_carries_a_forgers_words_to_someone_else(target):
    """Backscatter: From a victim, the attacker's lure as subject and name;
    our MTA says the From domain failed: no acknowledgement goes out."""
    lure = "CPF BLOQUEADO - regularize em http://gov-br.evil.example/regularizar"
    victims = [f"vitima{i}@outside.example" for i in range(3)]
    for victim in victims:
        target.send(make_mail(subject=lure, sender=f"Receita Federal URGENTE <{victim}>", to=CNES, body="x",
                              trace=verdict("spf=fail smtp.mailfrom=evil.example",
                                            "dmarc=fail header.from=outside.example")), source=MTA_PEER)
    assert len(target.tickets()) == 3, "each is still a ticket the team sees"
    assert not [m for m in target.outbox() if any(v in str(m["To"]) for v in victims)]
    assert all("ack_skipped" in target.events(t["protocol"]) for t in target.tickets())


def test_an_unproven_from_brings_nobody_in_by_cc(target):
    protocol = target.citizen_opens()
    target.send(make_mail(subject=f"RES: [{protocol}] x", sender=f"Ana <{ANA}>", to=CNES, cc=MALLORY,
                          body="Segue."))
    target.send(make_mail(subject=f"RES: [{protocol}] x", sender=f"M <{MALLORY}>", to=CNES,
                          body="ATENÇÃO: confirme seus dados em http://evil.example/gov"))
    roles = [(m["sender"], m["role"]) for m in target.ticket(protocol)["messages"] if m["direction"] == "in"]
    assert (MALLORY, "participant") not in roles
    # Ana's own Cc, through the MTA, still brings her colleague in.
    target.send(make_mail(subject=f"RES: [{protocol}] x", sender=f"Ana <{ANA}>", to=CNES, cc="colega@cidada.example",
                          body="Incluí minha colega.", trace=passes(ANA)), mail_from=ANA, source=MTA_PEER)
    assert "colega@cidada.example" in target.ticket(protocol)["participants"]


def test_a_bcc_readers_reply_to_our_answer_does_not_take_the_ticket(target):
    """freescout#2382: someone Ana copied in Bcc (or forwarded our answer to)
    replies to it; the reply threads to the ticket by In-Reply-To alone (a
    new subject).  They are no one on that ticket: their mail opens a ticket
    of its own, the old one gets a note, and Ana stays its requester, its
    only reader."""
    protocol = target.citizen_opens()
    target.analyst_writes(protocol, "Bom dia, Ana. Atualize o módulo e tente de novo.")
    [answer] = [m for m in target.running.outbox(to=ANA) if "Atualize o módulo" in m.get_body(("plain",)).get_content()]
    chefe = "chefe@cidada.example"
    target.send(make_mail(subject="Sobre o sistema", sender=f"Chefe <{chefe}>", to=CNES,
                          in_reply_to=answer["Message-ID"], references=answer["Message-ID"],
                          body="Quero ser incluído neste chamado e receber as respostas.", trace=passes(chefe)),
                mail_from=chefe, source=MTA_PEER)
    old = target.ticket(protocol)
    assert old["requester"] == ANA and chefe not in old["participants"]
    assert chefe not in [m["sender"] for m in old["messages"]]
    assert any(chefe in (e["note"] or "") for e in old["events"]), "the old ticket says someone else wrote"
    [theirs] = [t for t in target.running.tickets() if t["requester"] == chefe]
    assert theirs["protocol"] != protocol


@pytest.mark.parametrize("decisions", ["aligned", "any"])
def test_a_reply_our_mta_found_forged_fills_in_no_data_and_moves_nothing(attack_desk, tmp_path, decisions):
    """PITFALLS item 3: a plain reply (no decision) in Ana's name, which our
    MTA judged (DMARC fail), was taken as hers: on a ticket waiting for her
    data it stored the attacker's CPF, moved the ticket on and thanked Ana
    for data she never sent.  It is now kept for the team, with a warning,
    and the ticket waits on; Ana's own reply through the MTA is her answer.
    ``requester_decisions = "any"`` speaks of decisions, not of a verdict
    the MTA gave: the reply waits all the same."""
    rules = tmp_path / "required.toml"
    rules.write_text('required = ["nome", "cpf"]\n', encoding="utf-8")
    target = attack_desk(cnes={"rules": str(rules)}, auth={"requester_decisions": decisions})
    protocol = target.citizen_opens(body="Não consigo incluir a enfermeira na unidade.")
    assert target.status(protocol) == "waiting"
    forged_cpf, own_cpf = generate_cpf(random.Random(3)), generate_cpf(random.Random(4))

    _as_ana(target, protocol, f"Nome: Mallory da Silva\nCPF: {forged_cpf}", source=MTA_PEER,
            trace=verdict("spf=fail smtp.mailfrom=evil.example", "dkim=none", "dmarc=fail header.from=cidada.example"))

    ticket = target.ticket(protocol)
    assert ticket["status"] == "waiting" and not ticket.get("fields"), "no data stored, nothing moved"
    assert "fields_completed" not in target.events(protocol) and not target.outbox(kind="fields_received")
    assert [m["text"] for m in ticket["messages"] if m["direction"] == "in"][-1].startswith("Nome: Mallory")
    [warned] = target.outbox(kind="team_followup")
    said = warned.get_body(("plain",)).get_content()
    assert "não confirmou o remetente" in said and "continua aguardando" in said

    # The positive control: Ana's own answer, vouched for by the MTA.
    _as_ana(target, protocol, f"Nome: Ana Souza\nCPF: {own_cpf}", source=MTA_PEER, trace=passes(ANA), mail_from=ANA)
    ticket = target.ticket(protocol)
    assert ticket["status"] == "open" and target.outbox(kind="fields_received", to=ANA)
    assert ticket["fields"]["nome"]["value"] == "Ana Souza", "her data, not the forger's"
