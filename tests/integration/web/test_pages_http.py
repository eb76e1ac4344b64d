"""The pages over real HTTP, served by `gateway run`'s own loop: what the
tracking page shows and hides, escaping, the look-up that never tells
whether a ticket exists, its rate limits, CSRF, links that expired or were
altered, answers that have the same effects as by mail, /healthz and /metrics."""

from __future__ import annotations

import random
import re

import httpx

from gateway import links
from tests.helpers.web import csrf_of, link_in, old_token, path_of, tampered, ticket_events
from tests.integration.lifecycle.conftest import ANALYST, CITIZEN, TEAM
from tests.unit.rules.rule_helpers import generate_cpf

LOOKUP_ANSWER = "Se os dados conferem, enviamos um link para o seu e-mail."


def _solved(desk, text: str = "Atualize o sistema para a versão 3.2 e tente de novo.") -> str:
    protocol = desk.citizen_writes()
    desk.analyst_replies(f"#solucao\n{text}")
    assert desk.ticket()["status"] == "solved"
    return protocol


def test_tracking_page_from_the_acknowledgement_shows_the_public_timeline_only(web_desk, browser_like):
    desk = web_desk
    protocol = desk.citizen_writes(attachments=[("tela-do-erro.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 2000)])
    desk.analyst_replies("#interno\nSEGREDO: o servidor 10.0.0.7 caiu de novo, não contar ao cidadão.")
    desk.analyst_replies("#aguardando\nInforme o número do CNES da unidade, por favor.")
    [ack] = desk.to_citizen("ack")

    page = browser_like.get(path_of(link_in(ack, "t")))

    assert page.status_code == 200
    html = page.text
    assert protocol in html and "Central de Atendimento" in html and "atendimento@example.gov.br" in html
    assert "Aguardando solicitante" in html
    assert "Informe o número do CNES da unidade" in html, "the question mailed to the citizen is on the timeline"
    assert "tela-do-erro.png" in html, "attachments are listed"
    assert "Responda ao e-mail com a pergunta" in html and "25/11/2026" in html, "what is expected, and until when"
    assert "SEGREDO" not in html and "10.0.0.7" not in html, "internal notes never reach the citizen"
    assert ANALYST not in html and TEAM not in html, "no analyst or team address"
    assert "Nova mensagem no chamado" not in html and "Novo chamado" not in html, "no team notices"
    assert page.headers["referrer-policy"] == "no-referrer" and "no-store" in page.headers["cache-control"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_tracking_page_in_english_by_query_or_by_browser(web_desk):
    protocol = web_desk.citizen_writes()
    secret, base = web_desk.running.settings.web.secret, web_desk.running.settings.web.base_url
    path = f"/t/{links.make_token(secret, protocol, 'track')}"
    with httpx.Client(base_url=base) as client:
        assert "Follow your request" in client.get(path + "?lang=en").text
        assert "Acompanhamento da solicitação" in client.get(path).text, "pt_BR by default"
        english = client.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"}).text
        assert "Follow your request" in english and "New" in english and 'lang="en"' in english


def test_mail_content_is_escaped_and_html_is_reduced_to_text(web_desk, browser_like):
    desk = web_desk
    desk._send(CITIZEN, desk.running.address, __import__("tests.helpers.mailfactory", fromlist=["make_mail"]).make_mail(
        subject='<script>alert("assunto")</script> Erro', sender=f'"<img src=x onerror=alert(1)>" <{CITIZEN}>',
        body='Olá <b>equipe</b>, <script>alert("corpo")</script> veja <a href="javascript:alert(2)">isto</a>.'))
    protocol = desk.running.tickets()[-1]["protocol"]
    secret = desk.running.settings.web.secret
    html = browser_like.get(f"/t/{links.make_token(secret, protocol, 'track')}").text

    assert "<script>alert" not in html and "<img src=x" not in html and "javascript:alert" not in html
    assert "&lt;script&gt;alert(" in html, "the subject is shown as text, escaped"
    assert "Olá equipe," in html or "Olá &lt;b&gt;equipe&lt;/b&gt;" in html


def test_lookup_never_reveals_whether_a_ticket_exists_and_mails_only_on_a_match(web_desk, browser_like):
    desk = web_desk
    protocol = desk.citizen_writes()
    form = browser_like.get("/consulta")
    assert form.status_code == 200 and 'for="protocol"' in form.text and 'for="email"' in form.text
    token = csrf_of(form.text)
    unknown = re.sub(r"-\d{6}-\d$", "-000999-0", protocol)

    answers = []
    for typed_protocol, typed_address in [(unknown, CITIZEN), (protocol, "outra.pessoa@example.org"),
                                          ("nada-a-ver", CITIZEN), (protocol.lower(), CITIZEN.upper())]:
        answer = browser_like.post("/consulta", data={"csrf_token": token, "protocol": typed_protocol,
                                                      "email": typed_address})
        answers.append((answer.status_code, answer.text))

    assert len(set(answers)) == 1, "the same status and page whatever was typed"
    assert answers[0][0] == 200 and LOOKUP_ANSWER in answers[0][1]
    sent = desk.running.outbox(kind="tracking_link")
    assert len(sent) == 1 and sent[0]["To"] == CITIZEN.lower() or CITIZEN in sent[0]["To"]
    fresh = browser_like.get(path_of(link_in(sent[0], "t")))
    assert fresh.status_code == 200 and protocol in fresh.text
    assert desk.running.outbox(kind="tracking_link", to="outra.pessoa@example.org") == []


def test_lookup_by_protocol_and_cpf_where_the_ticket_has_one(open_web_desk, tmp_path):
    """The Webatendimento flow asks protocol and CPF: offered where the
    requester's mail gave a valid CPF (read by the mailbox's rules), with
    the same never-telling answer."""
    rules = tmp_path / "desk.toml"
    rules.write_text('required = ["cpf"]\n', encoding="utf-8")
    desk = open_web_desk(web={"lookup_limit_per_protocol": 10}, rules=str(rules))
    rng = random.Random(7)
    cpf = generate_cpf(rng)
    other_cpf = generate_cpf(rng)
    protocol = desk.citizen_writes(body=f"Não consigo incluir.\n\nCPF: {cpf}\n")
    assert desk.ticket()["status"] == "new", "the CPF was read and valid: nothing asked"
    with httpx.Client(base_url=desk.running.settings.web.base_url, timeout=30) as client:
        form = client.get("/consulta")
        assert 'for="cpf"' in form.text
        token = csrf_of(form.text)
        answers = []
        for typed in (other_cpf, "123", cpf.replace(".", "").replace("-", ""), cpf):
            answer = client.post("/consulta", data={"csrf_token": token, "protocol": protocol, "cpf": typed})
            answers.append((answer.status_code, answer.text))
    assert len(set(answers)) == 1 and answers[0][0] == 200 and LOOKUP_ANSWER in answers[0][1]
    sent = desk.running.outbox(kind="tracking_link")
    assert len(sent) == 2, "the CPF matches written with or without punctuation; a wrong one sends nothing"
    assert all(CITIZEN in mail["To"] for mail in sent), "the link goes to the address on file"


def test_lookup_is_rate_limited_per_protocol_and_per_client(open_web_desk):
    desk = open_web_desk(web={"lookup_limit_per_ip": 5, "lookup_limit_per_protocol": 2})
    protocol = desk.citizen_writes()
    with httpx.Client(base_url=desk.running.settings.web.base_url) as client:
        token = csrf_of(client.get("/consulta").text)
        post = lambda p: client.post("/consulta", data={"csrf_token": token, "protocol": p, "email": CITIZEN})  # noqa: E731
        assert [post(protocol).status_code for _ in range(3)] == [200, 200, 429]
        limited = post(protocol)
        assert limited.status_code == 429 and "Muitas tentativas" in limited.text and int(limited.headers["retry-after"]) > 0
        assert len(desk.running.outbox(kind="tracking_link")) == 2, "no mail once limited"
        # the client's own limit: 5 attempts an hour, whatever the protocol
        statuses = [post(f"ATD-2026-00010{n}-0").status_code for n in range(4)]
        assert statuses[-1] == 429 and statuses.count(429) >= 1


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(web_desk, browser_like):
    desk = web_desk
    protocol = _solved(desk)
    [solution] = desk.to_citizen("solution")
    accept_path = path_of(link_in(solution, "s"))
    page = browser_like.get(accept_path)
    assert page.status_code == 200

    without = browser_like.post(accept_path, data={"answer": "accept"})
    wrong = browser_like.post(accept_path, data={"answer": "accept", "csrf_token": "0" * 64})
    from_the_lookup_form = browser_like.post(accept_path, data={"answer": "accept",
                                                                "csrf_token": csrf_of(browser_like.get("/consulta").text)})
    with httpx.Client(base_url=desk.running.settings.web.base_url) as stranger:  # the field, but not the cookie
        no_cookie = stranger.post(accept_path, data={"answer": "accept", "csrf_token": csrf_of(page.text)})
    lookup = browser_like.post("/consulta", data={"protocol": protocol, "email": CITIZEN})

    for refused in (without, wrong, from_the_lookup_form, no_cookie, lookup):
        assert refused.status_code == 403 and "O formulário expirou" in refused.text
    assert desk.ticket()["status"] == "solved", "nothing changed"
    assert desk.running.outbox(kind="tracking_link") == []


def test_accepting_on_the_page_has_the_effects_of_accepting_by_mail_and_works_once(web_desk, browser_like):
    desk = web_desk
    _solved(desk)
    [solution] = desk.to_citizen("solution")
    path = path_of(link_in(solution, "s"))
    page = browser_like.get(path)
    assert "Atualize o sistema para a versão 3.2" in page.text and "Aceitar" in page.text and "Recusar" in page.text

    done = browser_like.post(path, data={"csrf_token": csrf_of(page.text), "answer": "accept"})

    assert done.status_code == 200 and "Solução aceita" in done.text
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and ticket["due_kind"] != "auto_accept"
    accepted = [e for e in ticket["events"] if e["kind"] == "accepted"]
    assert accepted and accepted[0]["actor"] == CITIZEN and accepted[0]["to"] == "closed"
    assert len(desk.to_citizen("survey")) == 1, "the survey goes out, as after an accepting reply"
    assert "ACEITOU" in desk.running.outbox(kind="team_followup", to=TEAM)[-1].get_body(("plain",)).get_content()
    again = browser_like.get(path)
    assert again.status_code == 409 and "Este link já não vale" in again.text and 'href="/t/' in again.text
    repost = browser_like.post(path, data={"csrf_token": csrf_of(page.text), "answer": "refuse", "reason": "x"})
    assert repost.status_code == 409 and desk.ticket()["status"] == "closed"


def test_a_link_to_an_earlier_proposal_is_used_up(web_desk, browser_like):
    desk = web_desk
    _solved(desk)
    [first] = desk.to_citizen("solution")
    desk.citizen_replies("Não, o erro continua na tela de cadastro.")
    desk.analyst_replies("#solucao\nInstale a versão 3.3.")
    old = browser_like.get(path_of(link_in(first, "s")))
    assert old.status_code == 409 and "já foi respondida ou substituída" in old.text
    current = browser_like.get(path_of(link_in(desk.to_citizen("solution")[-1], "s")))
    assert current.status_code == 200 and "Instale a versão 3.3." in current.text


def test_expired_and_altered_links_get_a_plain_page(web_desk, browser_like):
    desk = web_desk
    protocol = _solved(desk)
    secret = desk.running.settings.web.secret
    expired = browser_like.get(f"/t/{old_token(secret, protocol, 'track')}")
    assert expired.status_code == 410 and "Este link expirou" in expired.text and 'href="/consulta"' in expired.text
    good = links.make_token(secret, protocol, "accept", "1")
    altered = browser_like.get(f"/s/{tampered(good)}")
    assert altered.status_code == 404 and "Link inválido" in altered.text
    other_action = browser_like.get(f"/p/{good}")
    assert other_action.status_code == 404 and "Link inválido" in other_action.text
    old_survey = browser_like.get(f"/p/{old_token(secret, protocol, 'survey')}")
    assert old_survey.status_code == 410
    assert browser_like.get("/nada").status_code == 404


def test_survey_on_the_page_records_and_updates_like_a_reply(web_desk, browser_like):
    desk = web_desk
    protocol = _solved(desk)
    secret = desk.running.settings.web.secret
    early = browser_like.get(f"/p/{links.make_token(secret, protocol, 'survey')}")
    assert early.status_code == 409 and "Pesquisa indisponível" in early.text, "no survey before acceptance"
    desk.citizen_replies("Sim, resolvido. Obrigado!")
    [survey] = desk.to_citizen("survey")
    path = path_of(link_in(survey, "p"))
    page = browser_like.get(path)
    assert page.status_code == 200 and "Muito satisfeito" in page.text

    nothing = browser_like.post(path, data={"csrf_token": csrf_of(page.text), "score": "9"})
    assert nothing.status_code == 400 and "Escolha uma das cinco opções" in nothing.text
    first = browser_like.post(path, data={"csrf_token": csrf_of(page.text), "score": "5", "comment": "Ótimo <b>!</b>"})
    assert first.status_code == 200 and "Obrigado pela sua resposta" in first.text
    desk.citizen_replies("Na verdade, nota 4")
    assert ticket_events(desk.running, protocol)[-2:] == ["survey_answered", "survey_updated"]
    notes = [e["note"] for e in desk.ticket()["events"] if e["kind"].startswith("survey")]
    assert notes[0].startswith("nota 5") and notes[1].startswith("nota 4 (antes: 5)")


def test_the_public_healthz_says_up_and_nothing_more_and_there_is_no_public_metrics(web_desk, browser_like):
    """The figures and the deep checks are on the admin listener (tests/integration/test_observability.py)."""
    web_desk.citizen_writes()
    health = browser_like.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok"}
    assert browser_like.get("/metrics").status_code == 404

