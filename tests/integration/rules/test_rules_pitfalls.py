"""Other helpdesks' failures (PITFALLS, see the README) where the rules act, through
the real SMTP listener: the rules' own automatic mails must not start loops,
must be capped per sender, and must not be triggered by robots or by the
quoted text of our own answers."""

from __future__ import annotations

from email.message import EmailMessage

from tests.helpers.mailfactory import make_mail
from tests.integration.rules.conftest import CITIZEN, RULES, body_of, generate_cpf, send

GOVBR = dict(subject="Não consigo entrar na minha conta gov.br",
             body="Esqueci a senha da conta gov.br e não consigo recuperar o acesso.")


def _quoting(mail: EmailMessage, text: str) -> str:
    """A reply body as mail clients write it: new text, then the original quoted."""
    quoted = "\n".join(f"> {line}" for line in body_of(mail).splitlines())
    return f"{text}\n\nEm 23/11/2026 12:00, Central de Atendimento escreveu:\n{quoted}\n"


def test_a_reply_quoting_the_rejection_is_not_rejected_again(ruled_gateway):
    """PITFALLS G1 (duelling auto-responders, freescout#688) and D3 (one ticket
    per reply to a final ticket): our rejection quotes "conta gov.br"; a reply
    that only quotes it must not be judged on our words and answered again."""
    running = ruled_gateway(RULES / "govbr-automacao.toml")
    send(running, make_mail(**GOVBR))
    [first] = running.tickets()
    [rejection] = running.outbox(kind="rejected", to=CITIZEN)
    assert rejection["Auto-Submitted"] == "auto-replied" and rejection["X-Auto-Response-Suppress"] == "All"

    # A CRM-like responder that sets no Auto-Submitted and quotes our mail (freescout#688).
    send(running, make_mail(subject=f"RES: {rejection['Subject']}", in_reply_to=rejection["Message-ID"],
                            references=rejection["Message-ID"],
                            body=_quoting(rejection, "Recebemos sua mensagem e retornaremos em breve.")))
    assert len(running.outbox(kind="rejected", to=CITIZEN)) == 1, "the quoted rejection was rejected again"
    tickets = running.tickets()
    assert len(tickets) == 2  # a rejected ticket is final: the reply is kept, on a ticket linked to it
    [second] = [t for t in tickets if t["protocol"] != first["protocol"]]
    assert second["status"] != "rejected"


def test_rejections_are_capped_per_sender_and_every_mail_is_still_kept(ruled_gateway):
    """PITFALLS G and 9 (cap auto-responses per address and time window): a
    sender that keeps writing out-of-scope mail gets at most the hourly limit
    of automatic answers; every mail is still a ticket, the skip an event."""
    running = ruled_gateway(RULES / "govbr-automacao.toml")
    limit = running.settings.limits.acks_per_sender_per_hour
    for number in range(limit + 2):
        send(running, make_mail(subject=f"{GOVBR['subject']} ({number})", body=GOVBR["body"]))
    tickets = running.tickets()
    assert len(tickets) == limit + 2 and {t["status"] for t in tickets} == {"rejected"}
    assert len(running.outbox(kind="rejected", to=CITIZEN)) == limit
    skipped = [e for t in tickets for e in running.ticket(t["protocol"])["events"] if e["kind"] == "answer_skipped"]
    assert len(skipped) == 2 and "rejected" in skipped[0]["note"]


def test_an_out_of_office_answer_to_the_missing_data_request_changes_nothing(ruled_gateway, rng):
    """PITFALLS K3 (out-of-office must not reopen, osTicket#2256) and G1: the
    requester's robot answering "faltam dados" neither completes nor re-asks."""
    running = ruled_gateway(RULES / "cnes.toml")
    body = ("Bom dia,\n\nNão consigo vincular o profissional ao estabelecimento.\n\n"
            f"Nome: Ana Souza\nTelefone: (61) 99999-0000\nCPF: {generate_cpf(rng, valid=False)}\nUF: DF\n")
    send(running, make_mail(subject="Erro no vínculo do profissional", body=body))
    [summary] = running.tickets()
    [ask] = running.outbox(kind="missing_fields", to=CITIZEN)
    send(running, make_mail(subject=f"Resposta automática: {ask['Subject']}", in_reply_to=ask["Message-ID"],
                            references=ask["Message-ID"], headers={"Auto-Submitted": "auto-replied"},
                            body=f"Estou de férias até 30/11. CPF: {generate_cpf(rng)}\n"))
    ticket = running.ticket(summary["protocol"])
    assert [t["protocol"] for t in running.tickets()] == [summary["protocol"]]
    assert ticket["status"] == "waiting" and ticket["missing_fields"] == ["cpf"]
    assert ticket["fields"]["cpf"]["valid"] is False  # the robot's text filled nothing in
    assert len(running.outbox(kind="missing_fields", to=CITIZEN)) == 1
    assert "automatic_mail" in [e["kind"] for e in ticket["events"]]


def test_a_refused_attachment_name_is_text_in_every_html_mail(ruled_gateway, tmp_path):
    """PITFALLS L (XSS through names parsed from mail: osTicket#1108,
    django-helpdesk#980): the notice lists the refused file by the name the
    sender chose; in the HTML parts it must be text, not markup."""
    from tests.integration.rules.conftest import EXE

    rules = tmp_path / "policy.toml"
    rules.write_text('[attachments]\nallowed = ["image/png"]\n', encoding="utf-8")
    running = ruled_gateway(rules)
    name = '<img src=x onerror=alert(1)>.png'
    send(running, make_mail(subject="Comprovante", body="Segue.", attachments=[(name, "image/png", EXE)]))
    [notice] = running.outbox(kind="ack", to=CITIZEN)  # the acknowledgement carries the refused files
    [team] = running.outbox(kind="team_new")
    for sent in (notice, team):
        html = sent.get_body(("html",)).get_content()
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html
    assert name in body_of(notice)  # the plain part names it as written
