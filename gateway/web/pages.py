"""The citizen's pages: track, look up, answer a solution, answer the survey.

Every page behind a link starts by verifying the link (signed, expiring,
for that action: ``gateway.links``); an expired or altered link gets a
plain page that says so and points to the look-up page.  Every form is
CSRF-checked before anything else (``csrf``).  Database work runs in a
worker thread (the store is synchronous) and goes through
``services.citizen`` and ``Actions``, so an answer on a page changes the
ticket exactly as the same answer by mail would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from itsdangerous import SignatureExpired
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway import links
from gateway.clock import Clock
from gateway.config import Settings
from gateway.errors import LinkError
from gateway.outbound import statuses
from gateway.services import citizen
from gateway.store.db import Database
from gateway.tickets.answers import SURVEY_LEVELS, SURVEY_LEVELS_EN
from gateway.tickets.states import Status
from gateway.web import csrf, texts
from gateway.web.ratelimit import SlidingWindow

log = logging.getLogger("gateway.web")

# Only the links of the requester's own mails decide.  The tracking page once
# minted "solution" tokens; they verify as that action and are refused here.
_SOLUTION_ACTIONS: Final = ("accept", "refuse")
_MAX_REASON: Final = 4000
_MAX_COMMENT: Final = 2000
# Links carry secrets in their path: never cache them, never send them on as a Referer.
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass
class Site:
    """What the pages need from the gateway, passed in (never global)."""

    settings: Settings
    db: Database
    clock: Clock
    answers: citizen.PageAnswers
    environment: Environment
    wake_sender: Callable[[], None]
    lookups_per_ip: SlidingWindow  # the page's answer: attempts per client address
    lookups_per_protocol: SlidingWindow  # the page's answer: attempts per (protocol, client address)
    links_per_protocol: SlidingWindow  # tracking-link mails per protocol, capped silently

    @property
    def max_age_seconds(self) -> int:
        return self.settings.web.link_max_age_days * 86400


class Pages:
    def __init__(self, site: Site) -> None:
        self.site = site

    # -- track ---------------------------------------------------------------

    async def track(self, request: Request) -> Response:
        page = Page(self.site, request)
        claim = page.verify(request.path_params["token"], ("track",))
        if not isinstance(claim, links.LinkClaim):
            return claim
        found = await run_in_threadpool(self._track_view, claim.protocol, page.language)
        if found is None:
            return page.link_problem("invalid")
        view, answer_hint, status_label = found
        mailbox = self.site.settings.mailbox_for(view.mailbox)
        return page.render("track.html", title=texts.TEXTS[page.language]["track_title"], ticket=view,
                           status_label=status_label, answer_hint=answer_hint, mailbox_name=view.mailbox_name,
                           label=lambda state: statuses.move_label(state, mailbox[0] if mailbox else None,
                                                                   page.language))

    def _track_view(self, protocol: str, language: str) -> tuple[citizen.PublicTicket, str | None, str] | None:
        """The public view, and where to answer a pending solution or survey.

        Never a link that decides: the tracking link also goes to the team
        (every team notice carries it) and may be forwarded, so accepting,
        refusing and the survey stay behind the links that only ever went to
        the requester (the solution, survey and confirmation mails)."""
        with self.site.db.transaction() as tx:
            ticket = citizen.find(tx, protocol)
            if ticket is None:
                return None
            view = citizen.public_ticket(tx, self.site.settings, ticket, language)
            answer_hint = None
            if view.status is Status.SOLVED:
                answer_hint = "answer_solution_by_mail"
            elif citizen.survey_open(self.site.settings, ticket, self.site.clock.now()):
                answer_hint = "answer_survey_by_mail"
            mailbox = self.site.settings.mailbox_for(ticket.mailbox)  # its desk's words for the state, now
            return view, answer_hint, statuses.label(ticket, mailbox[0] if mailbox else None, language,
                                                     self.site.clock.now())

    # -- look-up ---------------------------------------------------------------

    async def lookup(self, request: Request) -> Response:
        page = Page(self.site, request)
        if request.method == "GET":
            return page.render("lookup.html", title=page.t["lookup_title"], sent=False, error=None,
                               protocol="", email="")
        form = await request.form()
        if (refused := page.check_csrf(form)) is not None:
            return refused
        protocol_text, address = form_field(form, "protocol", 40), form_field(form, "email", 320)
        cpf = form_field(form, "cpf", 20)
        if not protocol_text or not (address or cpf):
            return page.render("lookup.html", status=400, title=page.t["lookup_title"], sent=False,
                               error=page.t["lookup_missing"], protocol=protocol_text, email=address)
        client = request.client.host if request.client else "unknown"  # X-Forwarded-For only from trusted_proxies
        # Both limits count every attempt, matching or not: the answer must not depend on existence.
        # The protocol's is per client too, so a stranger's misses never lock the requester out;
        # the requester's mailbox is protected by the mail cap in _send_link instead.
        protocol_key = citizen.normalised_protocol(protocol_text)
        wait = self.site.lookups_per_ip.hit(f"ip:{client}") or self.site.lookups_per_protocol.hit(
            f"protocol:{protocol_key} client:{client}")
        if wait is not None:
            log.warning("look-up rate limit reached", extra={"client": client})
            response = page.message(page.t["limited_title"], page.t["limited_text"], status=429, tone="error")
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        sent = await run_in_threadpool(self._send_link, protocol_text, address, cpf)
        if sent:
            self.site.wake_sender()
        # The same words and status whether or not anything matched: the page tells nobody which tickets exist.
        return page.render("lookup.html", title=page.t["lookup_title"], sent=True, error=None,
                           protocol="", email="")

    def _send_link(self, protocol_text: str, address: str, cpf: str) -> bool:
        """Mail a tracking link on a match, at most ``lookup_limit_per_protocol``
        an hour whoever asks; over that, nothing is sent and the page says
        the same words, so the cap tells no one that the data matched."""
        with self.site.db.transaction() as tx:
            ticket = citizen.lookup(tx, protocol_text, address, cpf)
            if ticket is None:
                return False
            if self.site.links_per_protocol.hit(f"protocol:{ticket.protocol}") is not None:
                log.warning("tracking-link mails for this protocol capped; none sent",
                            extra={"protocol": ticket.protocol})
                return False
            self.site.answers.send_tracking_link(tx, ticket, at=self.site.clock.now())
            return True

    # -- solution ----------------------------------------------------------------

    async def solution(self, request: Request) -> Response:
        page = Page(self.site, request)
        form = None
        if request.method == "POST":
            form = await request.form()
            if (refused := page.check_csrf(form)) is not None:
                return refused
        claim = page.verify(request.path_params["token"], _SOLUTION_ACTIONS)
        if not isinstance(claim, links.LinkClaim):
            return claim
        if form is None:
            state, view = await run_in_threadpool(self._solution_state, claim, page.language)
            if state != "current":
                return self._solution_gone(page, claim, state)
            return self._solution_form(page, claim, view, focus_reason=claim.action == "refuse")
        answer, reason = form_field(form, "answer", 16), form_field(form, "reason", _MAX_REASON, strip=False).strip()
        state, view = await run_in_threadpool(self._answer_solution, claim, answer, reason, page.language)
        if state in ("accepted", "refused"):
            self.site.wake_sender()
            return page.message(page.t[f"{state}_title"], page.t[f"{state}_text"], tone="ok",
                                protocol=claim.protocol, tracking_url=page.tracking_url(claim.protocol))
        if state == "reason_required":
            return self._solution_form(page, claim, view, status=400, error=page.t["reason_required"],
                                       focus_reason=True)
        if state == "bad_answer":
            return self._solution_form(page, claim, view, status=400, error=page.t["solution_intro"])
        return self._solution_gone(page, claim, state)

    def _solution_state(self, claim: links.LinkClaim, language: str) -> tuple[str, citizen.PublicTicket | None]:
        with self.site.db.transaction() as tx:
            ticket = citizen.find(tx, claim.protocol)
            if ticket is None:
                return "invalid", None
            if ticket.status != Status.SOLVED.value or str(ticket.solution_round) != claim.extra:
                return "used", None
            return "current", citizen.public_ticket(tx, self.site.settings, ticket, language)

    def _answer_solution(self, claim: links.LinkClaim, answer: str, reason: str,
                         language: str) -> tuple[str, citizen.PublicTicket | None]:
        with self.site.db.transaction() as tx:
            ticket = citizen.find(tx, claim.protocol, lock=True)
            if ticket is None:
                return "invalid", None
            if ticket.status != Status.SOLVED.value or str(ticket.solution_round) != claim.extra:
                return "used", None
            now = self.site.clock.now()
            if answer == "accept":
                self.site.answers.accept(tx, ticket, at=now)
                return "accepted", None
            view = citizen.public_ticket(tx, self.site.settings, ticket, language)
            if answer != "refuse":
                return "bad_answer", view
            if not reason:  # checked here, not only by the browser: nothing changes without one
                return "reason_required", view
            self.site.answers.refuse(tx, ticket, reason, at=now)
            return "refused", None

    def _solution_form(self, page: Page, claim: links.LinkClaim, view: citizen.PublicTicket | None, *,
                       status: int = 200, error: str | None = None, focus_reason: bool = False,
                       reason: str = "") -> Response:
        assert view is not None
        return page.render("solution.html", status=status, title=page.t["solution_title"], ticket=view, error=error,
                           focus_reason=focus_reason, reason=reason, mailbox_name=view.mailbox_name,
                           tracking_url=page.tracking_url(claim.protocol))

    def _solution_gone(self, page: Page, claim: links.LinkClaim, state: str) -> Response:
        if state == "invalid":
            return page.link_problem("invalid")
        return page.message(page.t["solution_used_title"], page.t["solution_used_text"], status=409,
                            protocol=claim.protocol, tracking_url=page.tracking_url(claim.protocol))

    # -- survey ----------------------------------------------------------------------

    async def survey(self, request: Request) -> Response:
        page = Page(self.site, request)
        form = None
        if request.method == "POST":
            form = await request.form()
            if (refused := page.check_csrf(form)) is not None:
                return refused
        claim = page.verify(request.path_params["token"], ("survey",))
        if not isinstance(claim, links.LinkClaim):
            return claim
        levels = SURVEY_LEVELS_EN if page.language == "en" else SURVEY_LEVELS
        score: int | None = None
        comment = ""
        if form is not None:
            comment = form_field(form, "comment", _MAX_COMMENT, strip=False).strip()
            raw_score = form_field(form, "score", 2)
            score = int(raw_score) if raw_score.isdigit() and int(raw_score) in levels else None
        state, view, current = await run_in_threadpool(self._survey, claim, page.language, score, comment,
                                                       form is not None)
        if state == "invalid":
            return page.link_problem("invalid")
        if state == "closed":
            return page.message(page.t["survey_closed_title"], page.t["survey_closed_text"], status=409,
                                protocol=claim.protocol, tracking_url=page.tracking_url(claim.protocol))
        if state == "recorded":
            return page.message(page.t["survey_thanks_title"], page.t["survey_thanks_text"], tone="ok",
                                protocol=claim.protocol, tracking_url=page.tracking_url(claim.protocol))
        assert view is not None
        error = page.t["survey_choose"] if form is not None else None
        return page.render("survey.html", status=400 if error else 200, title=page.t["survey_title"], ticket=view,
                           levels=levels, current=current, selected=current, comment=comment, error=error,
                           mailbox_name=view.mailbox_name)

    def _survey(self, claim: links.LinkClaim, language: str, score: int | None, comment: str,
                answering: bool) -> tuple[str, citizen.PublicTicket | None, int | None]:
        with self.site.db.transaction() as tx:
            ticket = citizen.find(tx, claim.protocol, lock=answering)
            if ticket is None:
                return "invalid", None, None
            now = self.site.clock.now()
            if not citizen.survey_open(self.site.settings, ticket, now):
                return "closed", None, None
            if answering and score is not None:
                self.site.answers.survey(tx, ticket, score, comment or None, at=now)
                return "recorded", None, score
            return "form", citizen.public_ticket(tx, self.site.settings, ticket, language), ticket.survey_score

    # -- small pages --------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/consulta{query}", status_code=303)

    async def not_found(self, request: Request, _exc: Exception) -> Response:
        page = Page(self.site, request)
        return page.message(page.t["not_found_title"], page.t["not_found_text"], status=404,
                            lookup_url=page.lookup_url())


class Page:
    """One request's language, CSRF cookie and rendering."""

    def __init__(self, site: Site, request: Request) -> None:
        self.site, self.request = site, request
        self.language, self.explicit = texts.choose(request.query_params.get("lang"),
                                                    request.headers.get("accept-language"))
        self.t = texts.TEXTS[self.language]
        self._cookie = request.cookies.get(csrf.COOKIE)
        self._new_cookie = None if self._cookie else csrf.new_value()

    @property
    def query(self) -> str:
        return f"?lang={self.language}" if self.explicit else ""

    def tracking_url(self, protocol: str) -> str:
        return links.make_url("", self.site.settings.web.secret, protocol, "track") + self.query

    def lookup_url(self) -> str:
        return "/consulta" + self.query

    def verify(self, token: str, actions: tuple[str, ...]) -> links.LinkClaim | Response:
        for action in actions:
            try:
                return links.verify(self.site.settings.web.verifying_secrets, token, action=action,
                                    max_age_seconds=self.site.max_age_seconds)
            except LinkError as error:
                if isinstance(error.__cause__, SignatureExpired):
                    return self.link_problem("expired")
                if error.__cause__ is not None:
                    break  # altered or incomplete: no other action will verify it either
        return self.link_problem("invalid")

    def link_problem(self, kind: str) -> Response:
        status = 410 if kind == "expired" else 404
        return self.message(self.t[f"{kind}_title"], self.t[f"{kind}_text"], status=status, tone="error",
                            lookup_url=self.lookup_url())

    def csrf_for(self, path: str) -> str:
        """The CSRF field for a form on this page that posts to another ``path`` (the team page's logout)."""
        return csrf.form_token(self.site.settings.web.secret, self._cookie or self._new_cookie or "", path)

    def check_csrf(self, form: FormData) -> Response | None:
        submitted = form.get(csrf.FIELD)
        if csrf.valid(self.site.settings.web.secret, self._cookie, self.request.url.path,
                      submitted if isinstance(submitted, str) else None):
            return None
        log.warning("form refused: missing or wrong CSRF token", extra={"path": self.request.url.path})
        return self.message(self.t["csrf_title"], self.t["csrf_text"], status=403, tone="error")

    def message(self, title: str, text: str, *, status: int = 200, tone: str = "", protocol: str = "",
                tracking_url: str = "", lookup_url: str = "") -> HTMLResponse:
        return self.render("message.html", status=status, title=title, text=text, tone=tone, protocol=protocol,
                           tracking_url=tracking_url, lookup_url=lookup_url)

    def render(self, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        value = self._cookie or self._new_cookie or ""
        zone = ZoneInfo(self._timezone(context))
        html = self.site.environment.get_template(name).render({
            "t": self.t, "language": self.language, "mailbox_name": self._only_mailbox_name(),
            "action": self.request.url.path + self.query,
            "csrf": csrf.form_token(self.site.settings.web.secret, value, self.request.url.path),
            "when": lambda at: _when(at, zone), "label": lambda status: Status(status).label(self.language),
            "size": _size, **context,
        })
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        if self._new_cookie:
            response.set_cookie(csrf.COOKIE, self._new_cookie, httponly=True, samesite="lax", path="/",
                                secure=self.site.settings.web.base_url.startswith("https://"))
        return response

    def _only_mailbox_name(self) -> str:
        """A page about no ticket in particular still names the service, when there is one."""
        mailboxes = self.site.settings.mailboxes
        return mailboxes[0].display_name if len(mailboxes) == 1 else ""

    def _timezone(self, context: dict[str, Any]) -> str:
        ticket = context.get("ticket")
        found = self.site.settings.mailbox_for(ticket.mailbox) if ticket is not None else None
        return found[0].timezone if found else "America/Sao_Paulo"


def form_field(form: FormData, name: str, limit: int, *, strip: bool = True) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return (value.strip() if strip else value)[:limit]


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
