"""Headers we write, messages we compose, links we sign, templates we render."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest

from gateway import links
from gateway.mail.headers import address, clean
from gateway.outbound.compose import Envelope, FileToSend, message
from gateway.outbound.render import Rendered, Renderer, sample_context

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_clean_removes_line_breaks_and_control_characters():
    assert clean("Oi\r\nBcc: victim@example.net\x00") == "Oi Bcc: victim@example.net"
    assert len(clean("x" * 1000, limit=50)) == 50


def _from_header_as_read(display_name: str) -> tuple[str, str, bytes]:
    parts = Rendered(subject="x", text="x\n", html="<p>x</p>")
    envelope = Envelope(from_name=display_name, from_address="cnes@example.gov.br", to=["ana@example.org"],
                        message_id="m.1@example.gov.br", date=NOW)
    raw = message(parts, envelope)
    sender = message_from_bytes(raw, policy=policy.default)["From"].addresses[0]
    return sender.display_name, sender.addr_spec, raw


def test_non_ascii_display_names_are_encoded_and_round_trip():
    name, addr, raw = _from_header_as_read("Central de Atendimento — Saúde\r\nBcc: x@example.net")
    assert raw.isascii() and b"\nBcc:" not in raw
    # the name may lose a space where encoded words join; it stays one line and the address is intact
    assert "\n" not in name and name.replace(" ", "") == "CentraldeAtendimento—SaúdeBcc:x@example.net"
    assert addr == "cnes@example.gov.br"
    realistic = "José Antônio da Silva Magalhães Albuquerque via Central de Atendimento do Ministério da Saúde"
    assert _from_header_as_read(realistic)[:2] == (realistic, "cnes@example.gov.br")
    assert _from_header_as_read("Souza, Ana via Central")[:2] == ("Souza, Ana via Central", "cnes@example.gov.br")


def test_composed_mail_threads_and_declares_itself_automatic():
    parts = Rendered(subject="[ATD-2026-000001-3] Solicitação recebida: Ação", text="Olá\n", html="<p>Olá</p>")
    envelope = Envelope(from_name="Central", from_address="atendimento@example.gov.br", to=["ana@example.org"],
                        message_id="ack.1@example.gov.br", date=NOW, in_reply_to="c1@example.org",
                        references=["c0@example.org", "c1@example.org"])
    raw = message(parts, envelope, [FileToSend("relatório.pdf", "application/pdf", b"%PDF-1.4")])
    assert raw.partition(b"\r\n\r\n")[0].isascii(), "the header: encoded words; the texts go as 8bit"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "[ATD-2026-000001-3] Solicitação recebida: Ação"
    assert mail["Message-ID"] == "<ack.1@example.gov.br>" and mail["In-Reply-To"] == "<c1@example.org>"
    assert mail["References"] == "<c0@example.org> <c1@example.org>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Olá\n"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "relatório.pdf" and attachment.get_content() == b"%PDF-1.4"


def test_each_mail_is_dated_in_its_own_zone_and_from_its_own_mailbox():
    """The Date and From values are remembered between mails (every mail of
    a change has the same instant, every mail of a mailbox the same From):
    one instant written in two zones keeps each zone's offset, and another
    mailbox its own name."""
    parts = Rendered(subject="s", text="t\n", html="<p>t</p>")
    utc_now = datetime(2026, 12, 7, 14, 0, tzinfo=timezone.utc)
    brasilia = utc_now.astimezone(timezone(timedelta(hours=-3)))
    read = []
    for when, name in ((utc_now, "Central"), (brasilia, "Central"), (utc_now, "Ouvidoria Ação")):
        envelope = Envelope(from_name=name, from_address="atendimento@example.gov.br", to=["ana@example.org"],
                            message_id="m@example.gov.br", date=when)
        mail = message_from_bytes(message(parts, envelope), policy=policy.default)
        read.append((mail["Date"], mail["From"].addresses[0].display_name))
    assert read == [("Mon, 07 Dec 2026 14:00:00 +0000", "Central"), ("Mon, 07 Dec 2026 11:00:00 -0300", "Central"),
                    ("Mon, 07 Dec 2026 14:00:00 +0000", "Ouvidoria Ação")]


def test_the_written_mail_keeps_every_byte_and_folds_long_headers():
    """The MIME writer is ours: what the email package and a client read
    back must be exactly what was meant, whatever the text holds."""
    text = "Linha com espaços no fim   \nFrom the start of a line\n.um ponto\n=_ e =3D literais\n" + "ç" * 300
    html = "<p>" + "x" * 500 + "</p>"
    binary = bytes(range(256)) * 40
    team = [f"analista{i}@example.gov.br" for i in range(12)]
    references = [f"ref{i}.abcdefghijklmnop@example.org" for i in range(30)]
    parts = Rendered(subject="Re: " + "assunto muito longo " * 12, text=text, html=html)
    envelope = Envelope(from_name="Central", from_address="atendimento@example.gov.br", to=team,
                        message_id="team.1@example.gov.br", date=NOW, reply_to="atendimento+ATD@example.gov.br\r\nBcc: x@example.net",
                        references=references, extra_headers={"X-Ticket-Protocol": "ATD-2026-000001-3"})
    files = [FileToSend('ofício "final".pdf', "application/pdf", binary),
             FileToSend("plain name.png", "image/png\r\nX-Evil: 1", b"\x89PNG")]
    raw = message(parts, envelope, files)
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 78 for line in lines[:lines.index(b"")]), "header lines folded to 78"
    assert b"\nBcc:" not in raw and b"\nX-Evil" not in raw
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["To"].addresses and [a.addr_spec for a in mail["To"].addresses] == team
    assert mail["Subject"] == parts.subject.strip()
    assert mail["References"].split() == [f"<{r}>" for r in references[-20:]]
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert mail.get_body(("html",)).get_content().replace("\r\n", "\n") == html
    first, second = mail.iter_attachments()
    assert first.get_filename() == 'ofício "final".pdf' and first.get_content() == binary
    assert second.get_content_type() == "application/octet-stream", "a type with a line break is not written"
    assert second.get_filename() == "plain name.png"


def _encodings(raw: bytes) -> list[str]:
    mail = message_from_bytes(raw, policy=policy.default)
    return [str(part["Content-Transfer-Encoding"]) for part in mail.walk() if part.get_content_maintype() == "text"]


@pytest.mark.parametrize(("text", "html", "expected"), [
    ("Protocol ATD-2026-000001-3\n", "<p>ok</p>", ["7bit", "7bit"]),
    ("Solicitação recebida.\n", "<p>Olá</p>", ["8bit", "8bit"]),
    ("Parágrafo " + "ç" * 493 + "x\n", "<p>" + "ã" * 500 + "</p>", ["8bit", "quoted-printable"]),  # 998 / 1,007 bytes
    ("um CR solto\rno meio\n", "<p>NUL\x00</p>", ["7bit", "quoted-printable"]),
])
def test_text_parts_go_as_they_are_unless_a_line_or_a_byte_forbids_it(text, html, expected):
    """RFC 6152/5322: an 8-bit part is at most 998 bytes a line, with no NUL;
    whatever passes goes as it is (``7bit`` when ASCII), the rest
    quoted-printable; either way a client reads the text back.  A CR alone
    (no mail may carry one bare; quoted-printable had let it through) is
    a line break."""
    parts = Rendered(subject="x", text=text, html=html)
    envelope = Envelope(from_name="Central", from_address="atendimento@example.gov.br", to=["ana@example.org"],
                        message_id="m.3@example.gov.br", date=NOW)
    raw = message(parts, envelope)
    assert _encodings(raw) == expected
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\0" not in raw
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == text.replace("\r", "\n")
    assert mail.get_body(("html",)).get_content().replace("\r\n", "\n") == html


def test_a_boundary_a_text_holds_is_not_chosen(monkeypatch):
    """A part sent as it is may hold any line, "--=_<hex>" too: the boundary
    is drawn again until neither text holds it."""
    from gateway.outbound import compose

    drawn = iter(["a" * 24, "b" * 24, "c" * 24])
    monkeypatch.setattr(compose.randomness, "token_hex", lambda _n: next(drawn))
    text = "Copiei isto de outro e-mail:\n--=_" + "a" * 24 + "\nfim\n"
    raw = message(Rendered(subject="x", text=text, html="<p>x</p>"),
                  Envelope(from_name="Central", from_address="atendimento@example.gov.br", to=["ana@example.org"],
                           message_id="m.4@example.gov.br", date=NOW))
    assert b'boundary="=_' + b"b" * 24 + b'"' in raw
    assert message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content().replace("\r\n", "\n") == text


def test_a_long_non_ascii_file_name_keeps_lines_under_the_limit():
    """RFC 2231 in one piece made a 200-character name a line of ~1,800
    characters, past RFC 5322's 998: servers break or refuse such lines."""
    name = "relatório da fiscalização nº " + "ação " * 40 + "报告" * 30 + ".pdf"
    parts = Rendered(subject="x", text="x\n", html="<p>x</p>")
    envelope = Envelope(from_name="Central", from_address="atendimento@example.gov.br", to=["ana@example.org"],
                        message_id="m.2@example.gov.br", date=NOW)
    raw = message(parts, envelope, [FileToSend(name, "application/pdf", b"%PDF-1.4")])
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    [attachment] = list(message_from_bytes(raw, policy=policy.default).iter_attachments())
    assert attachment.get_filename() == clean(name, limit=200) and attachment.get_content() == b"%PDF-1.4"


def test_links_are_signed_scoped_and_expiring():
    token = links.make_token("secret", "ATD-2026-000001-3", "track")
    assert links.verify("secret", token, action="track", max_age_seconds=60).protocol == "ATD-2026-000001-3"
    with pytest.raises(links.LinkError, match="not valid"):
        links.verify("other-secret", token, action="track", max_age_seconds=60)
    # One signature character, certainly changed, and not the last: that one
    # carries padding bits, so some replacements decode to the same bytes
    # (writing "xx" there made this test fail, rarely, when the token already
    # ended in an equivalent of "xx").
    altered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(links.LinkError, match="not valid"):
        links.verify("secret", altered, action="track", max_age_seconds=60)
    with pytest.raises(links.LinkError, match="for 'track'"):
        links.verify("secret", token, action="accept", max_age_seconds=60)
    with pytest.raises(links.LinkError, match="expired"):
        links.verify("secret", token, action="track", max_age_seconds=-1)


CONTEXT = {**sample_context(), "subject": "Erro <b>no</b> cadastro & CBO",
           "text": "Não consigo <script>x</script> incluir."}
NAMES = [n for n in Renderer().names() if not n.startswith("_")]
NOT_ABOUT_A_TICKET = ("postmaster_forward", "digest", "monthly_report")  # to postmaster@; a digest or report of many


def test_both_languages_ship_the_same_templates():
    renderer = Renderer()
    assert renderer.names("pt_BR") == renderer.names("en")
    assert {"ack", "team_new", "team_followup", "analyst_reply", "question", "solution", "survey", "clarification",
            "refusal_reason_request", "rejected", "closed", "command_errors", "command_done",
            "forged_warning"} <= set(NAMES)


@pytest.mark.parametrize("language", ["pt_BR", "en"])
@pytest.mark.parametrize("name", NAMES)
def test_every_template_renders_what_the_reader_needs(name, language):
    rendered = Renderer().render(name, language=language, mailbox="atendimento@example.gov.br", context=CONTEXT)
    assert "\n" not in rendered.subject
    if name in NOT_ABOUT_A_TICKET:
        assert "Erro &lt;b&gt;no&lt;/b&gt; cadastro" in rendered.html or "<b>" not in rendered.html
        return
    assert "ATD-2026-000042-5" in rendered.subject
    assert "ATD-2026-000042-5" in rendered.text or name in ("analyst_reply", "command_done") or \
        "ATD-2026-000042-5" in rendered.html
    assert "<script>" not in rendered.html and "<b>no</b>" not in rendered.html
    if "{{ text }}" in (Renderer().root / "email" / language / f"{name}.html.j2").read_text():
        assert "&lt;script&gt;" in rendered.html, "mail text is escaped, not dropped"


def test_the_solution_mail_says_what_to_do_and_until_when():
    rendered = Renderer().render("solution", language="pt_BR", mailbox="atendimento@example.gov.br",
                                 context={**CONTEXT, "text": "Atualize para a versão 3.3."})
    for words in ('"SIM"', '"NÃO"', "3 dias úteis", "sexta-feira, 27/11/2026, às 18h", "https://example.gov.br/s/a",
                  "https://example.gov.br/s/r", "Atualize para a versão 3.3.", "sem possibilidade de reabertura"):
        assert words in rendered.text, words


def test_the_question_mail_gives_the_deadline_in_words():
    rendered = Renderer().render("question", language="pt_BR", mailbox="atendimento@example.gov.br", context=CONTEXT)
    assert "Responda a este e-mail até sexta-feira, 27/11/2026, às 18h." in rendered.text


def test_the_survey_lists_the_five_levels_of_the_seeds():
    rendered = Renderer().render("survey", language="pt_BR", mailbox="atendimento@example.gov.br", context=CONTEXT)
    for line in ("1 - Muito insatisfeito", "2 - Insatisfeito", "3 - Indiferente", "4 - Satisfeito",
                 "5 - Muito satisfeito"):
        assert line in rendered.text


def test_the_acknowledgement_speaks_portuguese_by_default_and_english_when_asked():
    renderer = Renderer()
    pt = renderer.render("ack", language="pt_BR", mailbox="atendimento@example.gov.br", context=CONTEXT)
    en = renderer.render("ack", language="en", mailbox="atendimento@example.gov.br", context=CONTEXT)
    assert pt.subject.startswith("[ATD-2026-000042-5] Solicitação recebida:")
    assert "Recebemos sua mensagem" in pt.text and "https://example.gov.br/t/x" in pt.text
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


def test_an_edited_template_is_used_once_the_recheck_interval_has_passed(tmp_path, monkeypatch):
    """Templates are not stat'ed on every mail, but an admin's edit still
    reaches the next mails without a restart."""
    from gateway.outbound import render

    folder = tmp_path / "email" / "pt_BR"
    folder.mkdir(parents=True)
    for part, text in (("subject", "Assunto"), ("txt", "versão 1"), ("html", "<p>versão 1</p>")):
        (folder / f"aviso.{part}.j2").write_text(text)
    now = [1000.0]
    monkeypatch.setattr(render, "_monotonic", lambda: now[0])
    renderer = Renderer(tmp_path)
    assert renderer.render("aviso", language="pt_BR", mailbox="a@example.gov.br", context={}).text == "versão 1\n"
    (folder / "aviso.txt.j2").write_text("versão 2")
    os.utime(folder / "aviso.txt.j2", (2e9, 2e9))  # a later mtime, whatever the file system's resolution
    now[0] += 0.5
    assert renderer.render("aviso", language="pt_BR", mailbox="a@example.gov.br", context={}).text == "versão 1\n"
    now[0] += render._RECHECK_SECONDS
    assert renderer.render("aviso", language="pt_BR", mailbox="a@example.gov.br", context={}).text == "versão 2\n"


def test_an_edited_layout_is_used_once_the_recheck_interval_has_passed(tmp_path, monkeypatch):
    """The layout an HTML part extends is not stat'ed at every render either,
    and an edit to it reaches the next mails like an edit to the part."""
    from gateway.outbound import render

    folder = tmp_path / "email" / "pt_BR"
    folder.mkdir(parents=True)
    (folder / "_layout.html.j2").write_text("<div>moldura 1</div>{% block body %}{% endblock %}")
    for part, text in (("subject", "Assunto"), ("txt", "texto"),
                       ("html", '{% extends "_layout.html.j2" %}{% block body %}<p>corpo</p>{% endblock %}')):
        (folder / f"aviso.{part}.j2").write_text(text)
    now = [1000.0]
    monkeypatch.setattr(render, "_monotonic", lambda: now[0])
    renderer = Renderer(tmp_path)
    html = lambda: renderer.render("aviso", language="pt_BR", mailbox="a@example.gov.br", context={}).html  # noqa: E731
    assert html() == "<div>moldura 1</div><p>corpo</p>"
    (folder / "_layout.html.j2").write_text("<div>moldura 2</div>{% block body %}{% endblock %}")
    os.utime(folder / "_layout.html.j2", (2e9, 2e9))
    now[0] += 0.5
    assert html() == "<div>moldura 1</div><p>corpo</p>"
    now[0] += render._RECHECK_SECONDS
    assert html() == "<div>moldura 2</div><p>corpo</p>"


_DRAFTED = [
    (Rendered(subject="[ATD-2026-000001-3] Solicitação recebida: Ação", text="Olá,\nrecebemos.\n", html="<p>Olá</p>"),
     Envelope(from_name="Central de Atendimento", from_address="atendimento@example.gov.br", to=["ana@example.org"],
              message_id="ack.1@example.gov.br", date=NOW, in_reply_to="c1@example.org",
              references=["c0@example.org", "c1@example.org"], extra_headers={"X-Ticket-Protocol": "ATD-2026-000001-3"},
              thread_index="AQHZ" + "A" * 28, thread_topic="Ação")),
    # A team notice: no Auto-Submitted answer kind, many recipients, a Reply-To, a text QP must carry.
    (Rendered(subject="Re: " + "assunto muito longo " * 12, text="ç" * 1200 + "\n\0fim\r\n", html="<p>" + "x" * 500),
     Envelope(from_name="Ouvidoria Ação", from_address="ouvidoria@example.gov.br",
              to=[f"analista{i}@example.gov.br" for i in range(12)], message_id="team.1@example.gov.br",
              date=NOW.astimezone(timezone(timedelta(hours=-3))), reply_to="ouvidoria+ATD@example.gov.br",
              auto_submitted="auto-generated", language="en", references=[f"r{i}@example.org" for i in range(30)])),
    # An address and a Message-ID copied from a citizen's UTF-8 mail (RFC 6532), one as undecodable bytes.
    (Rendered(subject="", text="", html=""),
     Envelope(from_name="", from_address="atendimento@example.gov.br", to=["joão@exemplo.com.br", "ana\udce9@example.org"],
              message_id="m.2@example.gov.br", date=NOW, in_reply_to="ação.\udcff@example.org", auto_submitted=None)),
]


@pytest.mark.parametrize(("parts", "envelope"), _DRAFTED)
def test_a_queued_draft_is_sent_as_the_mail_it_stands_for(parts, envelope, monkeypatch):
    """The outbox keeps a notice as a draft and the sender writes it:
    byte for byte the mail that writing it at once gives (the boundary
    drawn the same)."""
    from gateway.outbound import compose

    monkeypatch.setattr(compose.randomness, "token_hex", lambda _n: "5a" * 12)
    stored = compose.draft(parts, envelope)
    assert compose.sendable(stored) == message(parts, envelope)
    assert compose.sendable(memoryview(stored)) == message(parts, envelope), "as PostgreSQL's driver may give it"
    assert parts.text.encode() in stored, "the texts stored as they are: `gateway forget` finds what they name"
    assert all(address.encode("utf-8", "surrogateescape") in stored for address in envelope.to)


def test_a_stored_mail_is_sent_as_it_is():
    """What was queued as a mail (a notice with files, rows from before
    drafts) goes byte for byte."""
    from gateway.outbound import compose

    raw = message(*_DRAFTED[0], [FileToSend("a.pdf", "application/pdf", b"%PDF")])
    assert compose.sendable(raw) == raw and compose.sendable(memoryview(raw)) == raw


@pytest.mark.parametrize(("damage", "says"), [
    (lambda d: d[:-1], "the texts are"),
    (lambda d: d[:d.index(b"{") + 30], "no end to its head"),
    (lambda d: d.replace(b'"subject"', b'"sujeito"', 1), "KeyError"),
    (lambda d: d.replace(b'"date":"', b'"date":"x', 1), "Invalid isoformat"),
    (lambda d: d.replace(b"{", b"[", 1), "JSONDecodeError"),
])
def test_a_damaged_draft_says_what_is_wrong(damage, says):
    from gateway.outbound import compose

    stored = damage(compose.draft(*_DRAFTED[0]))
    with pytest.raises(ValueError, match="a queued draft that cannot be read") as caught:
        compose.sendable(stored)
    assert says in str(caught.value)
