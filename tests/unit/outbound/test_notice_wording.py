"""Every notice, rendered with what a real ticket gives it, reads well (issue
15): no date said twice ("até 11/12/2026 (sexta-feira, 11/12/2026, às
8h19)"), no MIME type a person cannot read ("application/vnd.openxml...",
"MSDOWNLOAD"), no English in the team's Portuguese mails, no status label
in parentheses, and a greeting that never uses a name the mail asks for."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import pytest

from gateway.durations import parse_duration
from gateway.outbound import words
from gateway.outbound.notices import Notifier, greeting, promised
from gateway.outbound.render import Renderer, sample_context
from gateway.rules.loader import load_rules
from gateway.rules.ruling import judge
from gateway.services import rulings
from gateway.services.writer import TicketWriter
from gateway.store.models import TicketRow
from gateway.tickets.change import Deadline
from gateway.tickets.states import LABELS, Status
from tests.helpers.notices import docx, doubled_dates, english_words, raw_mime_types
from tests.unit.rules.rule_helpers import EXE, PDF, attachment, facts

RULES = Path(__file__).resolve().parents[3] / "rules"
NOW = datetime(2026, 12, 4, 11, 19, tzinfo=timezone.utc)  # a Friday, 8h19 in Brasília
NAMES = [name for name in Renderer().names() if not name.startswith("_")]
#: Mails to the team and to analysts: Portuguese only, in a pt_BR desk.
TEAM_MAILS: Final = tuple(n for n in NAMES if n.startswith("team_")) + (
    "command_done", "command_errors", "forged_warning", "postmaster_forward", "digest", "monthly_report")

def _refusals(language: str) -> dict[str, Any]:
    """What CAU/SP's real rules say of a program, a video and a big PDF."""
    ruling = judge(load_rules(RULES / "causp.toml"),
                   facts(subject="Envio", body="Seguem", recipients=("registro.causp@example.gov.br",),
                         attachments=(attachment("instalador.exe", EXE), attachment("diploma.docx", docx()),
                                      attachment("planta.pdf", PDF, pad_to=3 * 1024 * 1024))),
                   with_required=True)
    assert len(ruling.refusals) == 2
    return {**rulings.refusal_context(ruling, language), "missing": ruling.problems()}


@pytest.fixture
def realistic(make_settings):
    """The variables a notice really gets: the Notifier's own, a deadline
    the writer words, the SLA the acknowledgement promises, the rules'
    refusals and missing data."""
    settings = make_settings()
    mailbox = settings.mailboxes[0]
    notifier = Notifier(settings, Renderer())

    def context(language: str, status: Status) -> dict[str, Any]:
        ticket = TicketRow(protocol="ATD-2026-000042-5", mailbox=mailbox.address, status=status.value,
                           requester="otavio.reis@example.org", requester_name="Otávio Reis", subject="Dúvida",
                           language=language, missing_fields="", created_at=NOW, updated_at=NOW,
                           resolution_due_at=NOW + timedelta(hours=2), first_response_due_at=None,
                           closed_at=NOW if status is Status.CLOSED else None)
        limit = Deadline(NOW + timedelta(days=7), parse_duration("5bd"))
        return {**sample_context(), **notifier.common_context(ticket, mailbox, language),
                **TicketWriter.deadline_words(mailbox, limit, language),
                "promised": promised(ticket, mailbox, language, NOW),
                "targets": [{"target": "solução", "deadline": words.deadline(NOW, mailbox.timezone, language)}],
                "headline": "\n".join(rulings._refusal_lines(judge(
                    load_rules(RULES / "causp.toml"),
                    facts(attachments=(attachment("instalador.exe", EXE),), recipients=(mailbox.address,)),
                    with_required=False))),
                **_refusals(language)}
    return context


@pytest.mark.parametrize("language", ["pt_BR", "en"])
@pytest.mark.parametrize("status", list(Status))
def test_every_notice_reads_well(realistic, language, status):
    renderer = Renderer()
    context = realistic(language, status)
    for name in NAMES:
        rendered = renderer.render(name, language=language, mailbox="atendimento@example.gov.br", context=context)
        for part, text in (("subject", rendered.subject), ("text", rendered.text)):
            assert doubled_dates(text) == [], f"{name}.{part} says a date twice:\n{text}"
            assert raw_mime_types(text) == [], f"{name}.{part} shows a MIME type:\n{text}"
        assert raw_mime_types(re.sub(r"<[^>]+>", " ", rendered.html)) == [], f"{name}.html shows a MIME type"
        if language == "pt_BR" and name in TEAM_MAILS:
            assert english_words(rendered.subject + "\n" + rendered.text) == [], f"{name} has English:\n{rendered.text}"


@pytest.mark.parametrize("language", ["pt_BR", "en"])
def test_no_status_label_has_parentheses(language):
    assert [label for label in LABELS[language].values() if "(" in label] == []


def test_the_refused_files_and_what_is_accepted_are_named_as_people_name_them():
    context = _refusals("pt_BR")
    assert [file["type"] for file in context["refused"]] == ["programa (EXE)", "PDF"]
    assert context["allowed_types"].startswith("imagens (JPG, PNG), PDF, texto (TXT), Word")
    text = Renderer().render("missing_fields", language="pt_BR", mailbox="x@example.gov.br",
                             context={**sample_context(), **context}).text
    assert "- instalador.exe: programa (EXE), tipo de arquivo não aceito" in text
    assert "- planta.pdf: PDF de 3 MB, maior que o limite de 2 MB por arquivo" in text


def test_the_greeting_uses_no_name_the_mail_asks_for():
    ticket = TicketRow(requester_name="Otávio Reis", requester="o@example.org", missing_fields="nome cpf")
    assert greeting(ticket, "pt_BR") == "Olá,"
    ticket.missing_fields = "cpf"
    assert greeting(ticket, "pt_BR") == "Prezado(a) Otávio Reis,"
    assert greeting(TicketRow(requester_name="", requester="o@example.org", missing_fields=""), "en") == "Hello,"
    assert greeting(TicketRow(requester_name="o@example.org", requester="o@example.org", missing_fields=""),
                    "pt_BR") == "Olá,", "an address is not a name"


def test_a_promise_close_at_hand_says_today_or_tomorrow():
    zone = "America/Sao_Paulo"
    assert words.day_and_time(NOW + timedelta(hours=2), NOW, zone, "pt_BR") == "hoje, às 10h19"
    assert words.day_and_time(NOW + timedelta(hours=24), NOW, zone, "pt_BR") == "amanhã, às 8h19"
    assert words.day_and_time(NOW + timedelta(days=3), NOW, zone, "pt_BR") == "segunda-feira, 07/12/2026, às 8h19"


# -- the three parts from one set of variables ---------------------------------------------


@pytest.mark.parametrize("language", ["pt_BR", "en"])
def test_rendering_the_parts_together_gives_what_each_template_renders_alone(language, monkeypatch):
    """``_render_all`` shares one set of variables among the three parts;
    every shipped notice must come out as Jinja's own ``render`` writes it,
    without falling back to it (``render`` raises once the expected text is taken)."""
    from jinja2 import Template

    from gateway.outbound import render as render_module

    renderer = Renderer()
    context = sample_context()
    names = [name for name in renderer.names(language) if not name.startswith("_")]  # _base: layouts, not notices
    assert len(names) > 20
    environment = render_module._environment(str(renderer.root), language, "atendimento@example.gov.br")
    cases = []
    for name in names:
        templates = [environment.get_template(f"{name}.{part}.j2") for part in ("subject", "txt", "html")]
        cases.append((name, templates, [t.render(context) for t in templates]))

    def no_fallback(self: Template, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the shared-variables path fell back to Template.render")

    monkeypatch.setattr(Template, "render", no_fallback)
    for name, templates, expected in cases:
        assert render_module._render_all(environment, templates, context) == expected, name


def test_a_missing_variable_still_raises_jinjas_error_naming_it():
    from jinja2 import UndefinedError

    context = sample_context()
    del context["protocol"]
    with pytest.raises(UndefinedError, match="'protocol' is undefined"):
        Renderer().render("ack", language="pt_BR", mailbox="atendimento@example.gov.br", context=context)


def test_a_layout_missing_at_render_time_is_a_config_error_naming_it(tmp_path):
    """A site's notice that extends a layout it lacks: a ConfigError (the
    rules' check and reload catch those), not Jinja's own exception."""
    from gateway.errors import ConfigError

    folder = tmp_path / "email" / "pt_BR"
    folder.mkdir(parents=True)
    (folder / "ack.subject.j2").write_text("Recebido {{ protocol }}")
    (folder / "ack.txt.j2").write_text("{% include '_nao_existe.txt.j2' %}")
    (folder / "ack.html.j2").write_text("<p>{{ protocol }}</p>")
    with pytest.raises(ConfigError, match="_nao_existe.txt.j2"):
        Renderer(tmp_path).render("ack", language="pt_BR", mailbox="atendimento@example.gov.br",
                                  context=sample_context())
