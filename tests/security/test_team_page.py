"""The team page's door, attacked through the real pages of a running gateway.

Two mailboxes (tests/security/conftest.py): CNES, where Maria is analyst,
and the internal one, where Pedro is.  Both log in with the password of
their line in the credentials file.  Without a session nothing but the
login is served; Pedro cannot read CNES's tickets, whatever way he asks;
a form without its CSRF token changes nothing; guessing slows the guesser
(its client and login pair, then its address), never locks the analyst
out from elsewhere, and an unknown login is answered exactly as a wrong
password; an altered or invented cookie is refused; a changed password or
a removed line ends the sessions opened under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.credentials import hash_password
from tests.helpers.web import csrf_of
from tests.security.conftest import MARIA, PEDRO, Target

PASSWORD = "correta-cavalo-bateria-grampo"
COOKIE = "gateway_team"


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "analysts.passwd"
    path.write_text(f"{MARIA}:{hash_password(PASSWORD, iterations=1000)}\n"
                    f"{PEDRO}:{hash_password(PASSWORD, iterations=1000)}\n")
    return path


@pytest.fixture
def open_team(attack_desk: Any, credentials: Path) -> Any:
    def start(submission: dict[str, Any] | None = None, **web: Any) -> Target:
        return attack_desk(submission={"credentials_file": str(credentials), **(submission or {})}, web=web)
    return start


@pytest.fixture
def team(open_team: Any) -> Target:
    return open_team()


@pytest.fixture
def clients() -> Iterator[Any]:
    """``clients(target)``: a new HTTP client (its own cookies) for ``target``'s pages."""
    opened: list[httpx.Client] = []

    def client(target: Target) -> httpx.Client:
        made = httpx.Client(base_url=f"http://127.0.0.1:{target.settings.web.port}", timeout=30, follow_redirects=False,
                            headers={"Accept-Language": "pt-BR"})
        opened.append(made)
        return made
    yield client
    for made in opened:
        made.close()


def log_in(client: httpx.Client, login: str, password: str = PASSWORD, *, via: str | None = None) -> httpx.Response:
    """Log in through the form; ``via``: the client address a trusted proxy says (X-Forwarded-For)."""
    headers = {"X-Forwarded-For": via} if via else {}
    form = client.get("/equipe/entrar", headers=headers)
    assert form.status_code == 200
    return client.post("/equipe/entrar", headers=headers,
                       data={"csrf_token": csrf_of(form.text), "login": login, "password": password})


def assert_to_login(answer: httpx.Response) -> None:
    assert answer.status_code == 303 and answer.headers["location"].startswith("/equipe/entrar"), \
        (answer.status_code, answer.headers.get("location"))


def test_without_a_session_every_page_sends_to_the_login(team, clients):
    protocol = team.citizen_opens(body="Meu CPF é 390.533.447-05")
    client = clients(team)
    for path in ("/equipe", f"/equipe/chamado/{protocol}", "/equipe/relatorio", "/equipe?q=" + protocol):
        answer = client.get(path)
        assert_to_login(answer)
        assert protocol not in answer.text and "533.447" not in answer.text
    assert client.post("/equipe/sair").status_code == 403, "logout without a CSRF token is refused"
    for method in ("POST", "PUT", "DELETE"):  # nothing else is served: the page is read-only
        assert client.request(method, "/equipe").status_code == 405
        assert client.request(method, f"/equipe/chamado/{protocol}").status_code == 405


def test_an_analyst_cannot_read_a_mailbox_that_is_not_theirs(team, clients):
    cnes = team.citizen_opens(subject="Cadastro da unidade", body="Meu CPF é 390.533.447-05")
    maria, pedro = clients(team), clients(team)
    assert log_in(maria, MARIA).status_code == 303
    assert log_in(pedro, PEDRO).status_code == 303
    mine = maria.get(f"/equipe/chamado/{cnes}")
    assert mine.status_code == 200 and cnes in mine.text and "***.533.447-**" in mine.text
    assert "390.533.447-05" not in mine.text

    theirs = pedro.get(f"/equipe/chamado/{cnes}")
    nothing = pedro.get("/equipe/chamado/CNES-2026-999999-9")
    assert theirs.status_code == nothing.status_code == 404
    assert _plain(theirs.text, cnes) == _plain(nothing.text, "CNES-2026-999999-9"), \
        "another mailbox's ticket answers exactly as one that does not exist"
    for query in (f"/equipe?q={cnes}", "/equipe?mailbox=cnes@example.gov.br", "/equipe?q=cidada.example",
                  "/equipe?q=Cadastro"):
        listed = pedro.get(query)
        assert listed.status_code == 200 and "Nenhum chamado com estes filtros." in listed.text, query
        assert f'data-protocol="{cnes}"' not in listed.text and "Cadastro da unidade" not in listed.text, query
    report = pedro.get("/equipe/relatorio?mailbox=cnes@example.gov.br")
    assert report.status_code == 200 and "Suporte interno" in report.text and "Central CNES" not in report.text


def test_forms_without_their_csrf_token_are_refused(team, clients):
    client = clients(team)
    client.get("/equipe/entrar")  # the CSRF cookie is set; the field is missing below
    refused = client.post("/equipe/entrar", data={"login": MARIA, "password": PASSWORD})
    assert refused.status_code == 403 and COOKIE not in refused.cookies
    wrong = client.post("/equipe/entrar", data={"login": MARIA, "password": PASSWORD, "csrf_token": "0" * 64})
    assert wrong.status_code == 403 and COOKIE not in wrong.cookies
    assert log_in(client, MARIA).status_code == 303
    assert client.post("/equipe/sair", data={}).status_code == 403
    assert client.get("/equipe").status_code == 200, "a logout without its token ended nothing"
    # a token made for the login form is no good for the logout form
    token = csrf_of(client.get("/equipe/entrar").text)
    assert client.post("/equipe/sair", data={"csrf_token": token}).status_code == 403
    assert client.get("/equipe").status_code == 200


def test_guessing_slows_the_guesser_and_never_locks_the_analyst_out(open_team, clients):
    """Five wrong passwords for Maria from an attacker's address: each is
    refused (an unknown login exactly alike), and Maria, from her own
    address, still gets in at once with her password: guessing must not be
    a way to keep an analyst out (it was, with a limit per login name)."""
    team = open_team(submission={"failure_delay": 0.05, "max_failure_delay": 0.2}, trusted_proxies=["127.0.0.1"])
    attacker = clients(team)
    wrong = log_in(attacker, MARIA, "chute-1", via="203.0.113.7")
    unknown = log_in(attacker, "ninguem@example.gov.br", "chute-1", via="203.0.113.7")
    assert wrong.status_code == unknown.status_code == 401
    assert _plain(wrong.text, MARIA) == _plain(unknown.text, "ninguem@example.gov.br")
    for attempt in range(2, 6):
        assert log_in(attacker, MARIA, f"chute-{attempt}", via="203.0.113.7").status_code == 401
    maria = clients(team)
    answer = log_in(maria, MARIA, via="198.51.100.20")
    assert answer.status_code == 303 and COOKIE in answer.cookies, "the analyst was locked out by someone else's guesses"
    # and from the guessing address itself, once its delays have passed, the right password works too
    assert log_in(attacker, MARIA, via="203.0.113.7").status_code == 303


def test_a_busy_guard_answers_at_once_instead_of_queueing(open_team, clients, credentials):
    """One password check at a time per client address: a second attempt
    from the same address meanwhile is answered 429 at once (a flood from
    one address holds one thread, never all of them)."""
    import concurrent.futures

    credentials.write_text(f"{MARIA}:{hash_password(PASSWORD, iterations=600_000)}\n")  # a check of ~0.5 s
    team = open_team(trusted_proxies=["127.0.0.1"])
    first, second = clients(team), clients(team)
    forms = [(client, csrf_of(client.get("/equipe/entrar", headers={"X-Forwarded-For": "203.0.113.9"}).text))
             for client in (first, second)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda pair: pair[0].post(
            "/equipe/entrar", headers={"X-Forwarded-For": "203.0.113.9"},
            data={"csrf_token": pair[1], "login": MARIA, "password": "chute"}), forms))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401, 429], codes
    busy = next(answer for answer in answers if answer.status_code == 429)
    assert int(busy.headers["Retry-After"]) > 0 and COOKIE not in busy.cookies
    assert "Outra entrada está sendo verificada" in busy.text


def test_a_changed_password_or_a_removed_line_ends_the_session(open_team, clients, credentials):
    """The credentials file is read again when it changes: the session
    opened with the old password ends, and so does a removed analyst's."""
    team = open_team()
    maria, pedro = clients(team), clients(team)
    assert log_in(maria, MARIA).status_code == 303 and log_in(pedro, PEDRO).status_code == 303
    assert maria.get("/equipe").status_code == 200 and pedro.get("/equipe").status_code == 200

    def rewrite(text: str) -> None:  # as an editor or `gateway hash-password >` leaves it: a new file
        fresh = credentials.with_suffix(".new")
        fresh.write_text(text)
        fresh.replace(credentials)

    old_pedro = next(line for line in credentials.read_text().splitlines() if line.startswith(PEDRO))
    rewrite(f"{MARIA}:{hash_password('outra-senha-nova', iterations=1000)}\n{old_pedro}\n")
    assert_to_login(maria.get("/equipe"))  # Maria's password changed: her session ended
    assert pedro.get("/equipe").status_code == 200  # Pedro's line is the same: his did not
    assert log_in(maria, MARIA, "outra-senha-nova").status_code == 303
    rewrite(f"{MARIA}:{hash_password('outra-senha-nova', iterations=1000)}\n")
    assert_to_login(pedro.get("/equipe"))  # Pedro removed
    assert log_in(clients(team), PEDRO).status_code == 401


def test_altered_invented_and_ended_cookies_are_refused(team, clients):
    client = clients(team)
    assert log_in(client, MARIA).status_code == 303
    cookie = client.cookies[COOKIE]
    token, mac = cookie.split(".")
    assert client.get("/equipe").status_code == 200
    stranger = clients(team)
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B") + "." + mac,  # the token altered
                   token + "." + mac[:-1] + ("0" if mac[-1] != "0" else "1"),  # the signature altered
                   token, "x." + mac, "", "a.b.c"):
        stranger.cookies.set(COOKIE, forged, domain="127.0.0.1", path="/equipe")
        assert_to_login(stranger.get("/equipe"))
    # signed right, but no such session (made with the same secret: the row is what counts)
    from gateway.web import team_session

    stranger.cookies.set(COOKIE, team_session.new_cookie(team.settings.web.secret), domain="127.0.0.1",
                         path="/equipe")
    assert_to_login(stranger.get("/equipe"))
    # after logout, the very same cookie opens nothing
    logout_token = re.search(r'action="/equipe/sair[^"]*">\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
                             client.get("/equipe").text)
    assert logout_token
    assert client.post("/equipe/sair", data={"csrf_token": logout_token.group(1)}).status_code == 303
    replay = clients(team)
    replay.cookies.set(COOKIE, cookie, domain="127.0.0.1", path="/equipe")
    assert_to_login(replay.get("/equipe"))


def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(open_team, clients):
    team = open_team(base_url="https://atendimento.example.gov.br")
    client = clients(team)
    form = client.get("/equipe/entrar")
    # Behind https every cookie is Secure, and this client speaks plain http: it hands the CSRF cookie back itself.
    answer = client.post("/equipe/entrar", headers={"Cookie": f"gateway_csrf={form.cookies['gateway_csrf']}"},
                         data={"csrf_token": csrf_of(form.text), "login": MARIA, "password": PASSWORD})
    assert answer.status_code == 303
    header = next(value for value in answer.headers.get_list("set-cookie") if value.startswith(COOKIE + "="))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in header.lower() and "path=/equipe" in header.lower()
    assert f"max-age={team.settings.web.team_session_hours * 3600}" in header.lower()


def _plain(html: str, login: str) -> str:
    """A page without what differs by design: the CSRF field and the login typed (echoed back)."""
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html).replace(login, "LOGIN")
