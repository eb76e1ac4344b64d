"""What a link or a look-up lets someone else do, over real HTTP against a running gateway.

- The tracking link also goes to the team (every team notice carries it) and may be
  forwarded: whoever holds it sees the ticket, but cannot accept, refuse or answer the
  survey in the requester's name.  Only the links of the requester's own mails decide.
- The look-up page: a stranger's wrong posts for a protocol (protocols are sequential)
  must not lock its requester out; the requester is still mailed no more than
  ``lookup_limit_per_protocol`` links an hour, whoever asks, and the answer never says
  whether the data matched or whether that cap held a mail back.
- A participant's mail (someone on the ticket's mails) is shown as someone else's,
  never as the requester's own, and without their full address.
"""

from __future__ import annotations

import re

import httpx
from itsdangerous import URLSafeTimedSerializer

from gateway import links
from gateway.web import csrf
from tests.helpers.mailfactory import make_mail
from tests.helpers.web import csrf_of, link_in
from tests.security.conftest import ANA, CNES, CNES_TEAM, MALLORY, MTA_PEER, Target, passes

DECIDING_LINK = re.compile(r'href="[^"]*/[sp]/')
LOOKUP_ANSWER = "Se os dados conferem, enviamos um link para o seu e-mail."
JOANA = "joana.souza@cidada.example"  # Ana's colleague, on Cc of her first mail


def _page(url: str, **params: str) -> httpx.Response:
    return httpx.get(url, params=params, timeout=30)


def _lookup(target: Target, protocol: str, email: str, *, client: str,
            forwarded_for: str | None = None) -> httpx.Response:
    """One look-up as a browser at ``client`` posts it (a fresh form and CSRF cookie)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(base_url=target.settings.web.base_url, timeout=30, headers=headers,
                      transport=httpx.HTTPTransport(local_address=client)) as browser:
        form = browser.get("/consulta")
        return browser.post("/consulta", data={"csrf_token": csrf_of(form.text), "protocol": protocol,
                                               "email": email})


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


# -- the tracking link does not decide ------------------------------------------------


def test_the_tracking_link_in_a_team_notice_offers_no_link_that_decides(target):
    protocol = target.citizen_opens()
    target.solved(protocol)
    [notice] = target.outbox(kind="team_new", to=CNES_TEAM)
    track = link_in(notice, "t")

    page = _page(track)
    english = _page(track, lang="en")

    assert page.status_code == 200 and protocol in page.text
    assert not DECIDING_LINK.search(page.text) and not DECIDING_LINK.search(english.text)
    assert "use os links do e-mail com a solução que enviamos a você" in page.text
    assert "use the links in the e-mail with the solution we sent you" in english.text
    assert target.status(protocol) == "solved"


def test_a_solution_token_once_minted_by_the_tracking_page_no_longer_decides(target):
    """Before, the tracking page handed out ``/s/`` tokens for action "solution": any
    still in someone's hands (30 days) must not accept in the requester's name."""
    protocol = target.citizen_opens()
    target.solved(protocol)
    web = target.settings.web
    token = URLSafeTimedSerializer(web.secret, salt=links._SALT).dumps([protocol, "solution", "1"])
    with httpx.Client(base_url=web.base_url, timeout=30) as holder:
        form = holder.get(f"/s/{token}")  # an error page, no form: make the form's token as a page would
        valid = csrf.form_token(web.secret, holder.cookies[csrf.COOKIE], f"/s/{token}")
        done = holder.post(f"/s/{token}", data={"csrf_token": valid, "answer": "accept"})
    assert form.status_code == 404 and done.status_code == 404
    assert target.status(protocol) == "solved" and "accepted" not in target.events(protocol)


def test_the_requesters_own_mails_still_decide_and_the_tracking_page_points_to_them(target):
    protocol = target.citizen_opens()
    target.solved(protocol)
    [solution] = target.outbox(kind="solution", to=ANA)
    with httpx.Client(timeout=30) as ana:
        form = ana.get(link_in(solution, "s"))
        done = ana.post(link_in(solution, "s"), data={"csrf_token": csrf_of(form.text), "answer": "accept"})
    assert done.status_code == 200 and target.status(protocol) == "closed"

    [notice] = target.outbox(kind="team_new", to=CNES_TEAM)
    closed = _page(link_in(notice, "t"))
    assert not DECIDING_LINK.search(closed.text), "no survey link for whoever holds the tracking link"
    assert "A pesquisa de satisfação está aberta" in closed.text
    [survey] = target.outbox(kind="survey", to=ANA)
    with httpx.Client(timeout=30) as ana:
        form = ana.get(link_in(survey, "p"))
        scored = ana.post(link_in(survey, "p"), data={"csrf_token": csrf_of(form.text), "score": "5"})
    assert scored.status_code == 200 and "survey_answered" in target.events(protocol)


# -- the look-up ----------------------------------------------------------------------------


def test_a_strangers_wrong_look_ups_do_not_lock_the_requester_out(target):
    protocol = target.citizen_opens()
    limit = target.settings.web.lookup_limit_per_protocol
    stranger = [_lookup(target, protocol, f"palpite{n}@evil.example", client="127.0.0.2").status_code
                for n in range(limit + 1)]
    assert stranger == [200] * limit + [429], "the stranger meets the limit on their own attempts"

    ana = _lookup(target, protocol, ANA, client="127.0.0.5")

    assert ana.status_code == 200 and LOOKUP_ANSWER in ana.text
    [mail] = target.outbox(kind="tracking_link")
    assert ANA in mail["To"]


def test_the_requester_is_mailed_at_most_the_limit_of_links_an_hour_and_the_answer_never_says(target):
    protocol = target.citizen_opens()
    limit = target.settings.web.lookup_limit_per_protocol
    matching = [_lookup(target, protocol, ANA, client=f"127.0.3.{n}") for n in range(1, limit + 3)]
    missing = _lookup(target, protocol, "outra@evil.example", client="127.0.4.1")

    answers = {(answer.status_code, _without_csrf(answer.text)) for answer in [*matching, missing]}
    assert len(answers) == 1 and next(iter(answers))[0] == 200, "capped, sent or no match: the same page"
    sent = target.outbox(kind="tracking_link")
    assert len(sent) == limit and all(ANA in mail["To"] for mail in sent)


def test_behind_a_trusted_proxy_the_forwarded_client_is_who_is_limited(attack_desk):
    target = attack_desk(web={"trusted_proxies": ["127.0.0.1"]})
    protocol = target.citizen_opens()
    limit = target.settings.web.lookup_limit_per_protocol
    through_proxy = [_lookup(target, protocol, MALLORY, client="127.0.0.1", forwarded_for="203.0.113.9").status_code
                     for _ in range(limit + 1)]
    # Outside the proxy list the header is not believed: a new name each time gains nothing.
    forging = [_lookup(target, protocol, MALLORY, client="127.0.0.2", forwarded_for=f"198.51.100.{n}").status_code
               for n in range(limit + 1)]

    ana = _lookup(target, protocol, ANA, client="127.0.0.1", forwarded_for="192.0.2.77")

    assert through_proxy == [200] * limit + [429] and forging == [200] * limit + [429]
    assert ana.status_code == 200 and len(target.outbox(kind="tracking_link", to=ANA)) == 1


# -- participants ------------------------------------------------------------------------------


def test_a_participants_mail_is_shown_as_someone_elses_with_the_address_masked(target):
    target.send(make_mail(subject="Erro no cadastro", sender=f"Ana <{ANA}>", to=CNES, cc=JOANA,
                          body="Não consigo incluir a enfermeira.", trace=passes(ANA)),
                mail_from=ANA, source=MTA_PEER)
    [ticket] = target.tickets()
    protocol = ticket["protocol"]
    target.analyst_writes(protocol, "#aguardando\nQual o número do CNES da unidade?")
    target.send(make_mail(subject=f"RES: [{protocol}] Erro no cadastro", sender=f"Joana <{JOANA}>", to=CNES,
                          body="O CNES da unidade é 1234567.", trace=passes(JOANA)),
                mail_from=JOANA, source=MTA_PEER)
    roles = [(m["sender"], m["role"]) for m in target.ticket(protocol)["messages"] if m["direction"] == "in"]
    assert (JOANA, "participant") in roles, roles
    [ack] = target.outbox(kind="ack", to=ANA)

    page = _page(link_in(ack, "t")).text
    english = _page(link_in(ack, "t"), lang="en").text

    [joanas] = [item for item in page.split('<li class="message">') if "O CNES da unidade é" in item]
    assert "Mensagem de outra pessoa neste chamado (j***@cidada.example)" in joanas
    assert "Mensagem enviada por você" not in joanas
    [anas] = [item for item in page.split('<li class="message">') if "Não consigo incluir a enfermeira" in item]
    assert "Mensagem enviada por você" in anas
    assert "Outra pessoa neste chamado respondeu à pergunta" in page and "Você respondeu à pergunta" not in page
    assert "Message from another person on this request (j***@cidada.example)" in english
    assert JOANA not in page and JOANA not in english
