"""The citizen's pages in a real browser: a tracking link taken from a real
acknowledgement mail, accepting a solution, refusing one (first without a
reason, which the server refuses and changes nothing), the survey, the
look-up, and links that expired or were altered.  Screenshots of each page
go to test-output/screenshots/."""

from __future__ import annotations

import re

import pytest

from gateway import links
from tests.helpers.web import link_in, old_token, tampered
from tests.integration.lifecycle.conftest import CITIZEN

pytestmark = pytest.mark.browser


def _solved(desk) -> str:
    protocol = desk.citizen_writes(attachments=[("tela-do-erro.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 4000)])
    desk.analyst_replies("Recebemos a sua solicitação e estamos verificando.")
    desk.analyst_replies("#solucao\nAtualize o sistema para a versão 3.2 e tente de novo.\n"
                         "Depois, limpe o cache do navegador.")
    assert desk.ticket()["status"] == "solved"
    return protocol


def test_tracking_link_from_the_acknowledgement(web_desk, page, phone, screenshot):
    desk = web_desk
    protocol = desk.citizen_writes(attachments=[("tela-do-erro.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 4000)])
    desk.analyst_replies("#interno\nSEGREDO interno: não contar ao cidadão.")
    desk.analyst_replies("#aguardando\nInforme o número do CNES da unidade, por favor.")
    [ack] = desk.to_citizen("ack")
    url = link_in(ack, "t")

    page.goto(url)

    assert page.get_by_role("heading", name="Acompanhamento da solicitação").is_visible()
    assert page.get_by_text(protocol).first.is_visible()
    assert page.get_by_text("Aguardando solicitante").first.is_visible()
    assert page.get_by_text("Informe o número do CNES da unidade").first.is_visible()
    assert page.get_by_text("tela-do-erro.png").is_visible()
    assert "SEGREDO" not in page.content()
    screenshot(page, "track")
    page.goto(url + "?lang=en")
    assert page.get_by_role("heading", name="Follow your request").is_visible()
    assert page.get_by_text("Waiting for requester").first.is_visible()
    screenshot(page, "track-en")
    phone.goto(url)
    assert phone.get_by_text(protocol).first.is_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"no sideways scrolling on a phone (page is {width}px wide)"
    screenshot(phone, "track-phone")


def test_accepting_a_solution(web_desk, page, screenshot):
    desk = web_desk
    _solved(desk)
    [solution] = desk.to_citizen("solution")

    page.goto(link_in(solution, "s"))
    assert page.get_by_text("Atualize o sistema para a versão 3.2").is_visible()
    screenshot(page, "solution")
    page.get_by_role("button", name="Aceitar").focus()  # by keyboard, as without a mouse
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="Solução aceita").wait_for()
    screenshot(page, "solution-accepted")
    assert desk.ticket()["status"] == "closed"
    assert "accepted" in desk.events() and len(desk.to_citizen("survey")) == 1
    page.get_by_role("link", name="Ver a página de acompanhamento").click()
    page.get_by_text("Fechado").first.wait_for()
    # The tracking page's link also reaches the team: it points to the survey mail, never to the survey.
    assert page.get_by_text("A pesquisa de satisfação está aberta").is_visible()
    assert page.locator('a[href*="/p/"], a[href*="/s/"]').count() == 0
    page.goto(link_in(solution, "s"))
    assert page.get_by_role("heading", name="Este link já não vale").is_visible()
    screenshot(page, "solution-used")


def test_refusing_needs_a_reason_checked_by_the_server(web_desk, page, screenshot):
    desk = web_desk
    _solved(desk)
    [solution] = desk.to_citizen("solution")
    page.goto(link_in(solution, "s"))
    before = desk.events()

    page.get_by_role("button", name="Recusar").click()

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "informe o motivo" in alert.inner_text()
    screenshot(page, "solution-reason-required")
    assert desk.ticket()["status"] == "solved" and desk.events() == before, "nothing changed"

    page.get_by_label("Motivo da recusa").fill("O erro continua na tela de cadastro, mesmo após atualizar.")
    page.get_by_role("button", name="Recusar").click()
    page.get_by_role("heading", name="Solução recusada").wait_for()
    screenshot(page, "solution-refused")
    ticket = desk.ticket()
    assert ticket["status"] == "open"
    [refused] = [e for e in ticket["events"] if e["kind"] == "refused"]
    assert refused["note"] == "O erro continua na tela de cadastro, mesmo após atualizar."


def test_answering_the_survey(web_desk, page, screenshot):
    desk = web_desk
    _solved(desk)
    desk.citizen_replies("Sim, resolvido. Obrigado!")
    [survey] = desk.to_citizen("survey")

    page.goto(link_in(survey, "p"))
    screenshot(page, "survey")
    page.get_by_label("4 — Satisfeito").check()
    page.get_by_label("Comentário (opcional)").fill("Atendimento rápido, mas <b>demorou</b> a primeira resposta.")
    page.get_by_role("button", name="Enviar resposta").click()
    page.get_by_role("heading", name="Obrigado pela sua resposta").wait_for()
    screenshot(page, "survey-thanks")
    ticket = desk.ticket()
    assert [e["note"] for e in ticket["events"] if e["kind"] == "survey_answered"] == [
        "nota 4: Atendimento rápido, mas <b>demorou</b> a primeira resposta."]

    page.goto(link_in(survey, "p"))
    assert page.get_by_label("4 — Satisfeito").is_checked(), "the current answer is shown"
    page.get_by_label("5 — Muito satisfeito").check()
    page.get_by_role("button", name="Enviar resposta").click()
    page.get_by_role("heading", name="Obrigado pela sua resposta").wait_for()
    assert desk.events()[-1] == "survey_updated"


def test_lookup_page(web_desk, page, screenshot):
    desk = web_desk
    protocol = desk.citizen_writes()
    page.goto(desk.running.settings.web.base_url + "/consulta")
    screenshot(page, "lookup")
    page.get_by_label("Protocolo").fill(protocol)
    page.get_by_label("E-mail").fill(CITIZEN)
    page.get_by_role("button", name="Enviar link").click()
    page.get_by_text("Se os dados conferem, enviamos um link para o seu e-mail.").wait_for()
    screenshot(page, "lookup-sent")
    [mail] = desk.running.outbox(kind="tracking_link")
    page.goto(link_in(mail, "t"))
    assert page.get_by_text(protocol).first.is_visible()


def test_tampered_and_expired_links(web_desk, page, screenshot):
    desk = web_desk
    protocol = _solved(desk)
    secret, base = desk.running.settings.web.secret, desk.running.settings.web.base_url

    page.goto(f"{base}/s/{tampered(links.make_token(secret, protocol, 'accept', '1'))}")
    assert page.get_by_role("heading", name="Link inválido").is_visible()
    screenshot(page, "link-invalid")

    response = page.goto(f"{base}/t/{old_token(secret, protocol, 'track')}")
    assert response.status == 410
    assert page.get_by_role("heading", name="Este link expirou").is_visible()
    screenshot(page, "link-expired")
    page.get_by_role("link", name="Pedir um novo link").click()
    assert re.search(r"/consulta$", page.url)
    assert desk.ticket()["status"] == "solved", "nothing changed"
