"""Headers we write, messages we compose, links we sign, templates we render."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from gateway import links
from gateway.mail.headers import address, clean
from gateway.outbound.compose import Envelope, FileToSend, message
from gateway.outbound.render import Rendered, Renderer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_clean_removes_line_breaks_and_control_characters():
    assert clean("Oi\r\nBcc: victim@example.net\x00") == "Oi Bcc: victim@example.net"
    assert len(clean("x" * 1000, limit=50)) == 50


def test_non_ascii_display_names_are_encoded_and_round_trip():
    from email.message import EmailMessage

    written = EmailMessage(policy=policy.SMTP)
    written["From"] = address("Central de Atendimento — Saúde\r\nBcc: x@example.net", "cnes@example.gov.br")
    raw = written.as_bytes()
    assert raw.isascii() and b"=?utf-8?" in raw
    mail = message_from_bytes(raw, policy=policy.default)
    name = mail["From"].addresses[0].display_name
    # the stdlib may fold a quoted name mid-word; what matters is one line, same text
    assert "\n" not in name and name.replace(" ", "") == "CentraldeAtendimento—SaúdeBcc:x@example.net"
    assert mail["From"].addresses[0].addr_spec == "cnes@example.gov.br" and mail["Bcc"] is None
    realistic = "José Antônio da Silva Magalhães Albuquerque via Central de Atendimento do Ministério da Saúde"
    written = EmailMessage(policy=policy.SMTP)
    written["From"] = address(realistic, "cnes@example.gov.br")
    parsed = message_from_bytes(written.as_bytes(), policy=policy.default)
    assert parsed["From"].addresses[0].display_name == realistic


def test_composed_mail_threads_and_declares_itself_automatic():
    parts = Rendered(subject="[ATD-2026-000001-3] Solicitação recebida: Ação", text="Olá\n", html="<p>Olá</p>")
    envelope = Envelope(from_name="Central", from_address="atendimento@example.gov.br", to=["ana@example.org"],
                        message_id="ack.1@example.gov.br", date=NOW, in_reply_to="c1@example.org",
                        references=["c0@example.org", "c1@example.org"])
    raw = message(parts, envelope, [FileToSend("relatório.pdf", "application/pdf", b"%PDF-1.4")]).as_bytes()
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "[ATD-2026-000001-3] Solicitação recebida: Ação"
    assert mail["Message-ID"] == "<ack.1@example.gov.br>" and mail["In-Reply-To"] == "<c1@example.org>"
    assert mail["References"] == "<c0@example.org> <c1@example.org>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Olá\n"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "relatório.pdf" and attachment.get_content() == b"%PDF-1.4"


def test_links_are_signed_scoped_and_expiring():
    token = links.make_token("secret", "ATD-2026-000001-3", "track")
    assert links.verify("secret", token, action="track", max_age_seconds=60).protocol == "ATD-2026-000001-3"
    with pytest.raises(links.LinkError, match="not valid"):
        links.verify("other-secret", token, action="track", max_age_seconds=60)
    with pytest.raises(links.LinkError, match="not valid"):
        links.verify("secret", token[:-2] + "xx", action="track", max_age_seconds=60)
    with pytest.raises(links.LinkError, match="for 'track'"):
        links.verify("secret", token, action="accept", max_age_seconds=60)
    with pytest.raises(links.LinkError, match="expired"):
        links.verify("secret", token, action="track", max_age_seconds=-1)


CONTEXT = {"protocol": "ATD-2026-000042-5", "subject": "Erro <b>no</b> cadastro & CBO", "requester_name": "Ana Souza",
           "requester": "ana.souza@example.org", "status_label": "Novo", "mailbox_name": "Central de Atendimento",
           "mailbox_address": "atendimento@example.gov.br", "reply_address": "atendimento+ATD-2026-000042-5@example.gov.br",
           "tracking_url": "http://127.0.0.1:8080/t/abc", "text": "Não consigo <script>x</script> incluir.",
           "sender": "ana.souza@example.org", "sender_name": "Ana Souza", "attachments": ["tela.png"]}


@pytest.mark.parametrize("language", ["pt_BR", "en"])
@pytest.mark.parametrize("name", ["ack", "team_new", "team_followup", "analyst_reply"])
def test_every_template_renders_what_the_reader_needs(name, language):
    rendered = Renderer().render(name, language=language, mailbox="atendimento@example.gov.br", context=CONTEXT)
    assert "ATD-2026-000042-5" in rendered.subject and "\n" not in rendered.subject
    assert "ATD-2026-000042-5" in rendered.text or name == "analyst_reply"
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html or name == "ack"
    assert "<b>no</b>" not in rendered.html


def test_the_acknowledgement_speaks_portuguese_by_default_and_english_when_asked():
    renderer = Renderer()
    pt = renderer.render("ack", language="pt_BR", mailbox="atendimento@example.gov.br", context=CONTEXT)
    en = renderer.render("ack", language="en", mailbox="atendimento@example.gov.br", context=CONTEXT)
    assert pt.subject.startswith("[ATD-2026-000042-5] Solicitação recebida:")
    assert "Recebemos sua mensagem" in pt.text and "http://127.0.0.1:8080/t/abc" in pt.text
    assert en.subject.startswith("[ATD-2026-000042-5] Request received:") and "We received" in en.text


def test_a_mailbox_may_override_a_template(tmp_path):
    import shutil

    from gateway.outbound.render import SHIPPED

    shutil.copytree(SHIPPED, tmp_path / "templates")
    own = tmp_path / "templates" / "email" / "atendimento@example.gov.br" / "pt_BR"
    own.mkdir(parents=True)
    (own / "ack.subject.j2").write_text("[{{ protocol }}] Recebido pela Ouvidoria")
    renderer = Renderer(tmp_path / "templates")
    assert renderer.render("ack", language="pt_BR", mailbox="atendimento@example.gov.br",
                           context=CONTEXT).subject == "[ATD-2026-000042-5] Recebido pela Ouvidoria"
    assert renderer.render("ack", language="pt_BR", mailbox="cnes@example.gov.br",
                           context=CONTEXT).subject.endswith("Solicitação recebida: Erro <b>no</b> cadastro & CBO")
