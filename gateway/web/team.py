"""The read-only team page: the queue, a ticket's thread, the report.

Behind a login with the analysts' own credentials (``[submission]
credentials_file``, the password they send mail with): the PBKDF2 check runs
in a worker thread, at most ``_CHECKS`` at once, and an unknown login costs
the same check as a wrong password and gets the same answer
(:meth:`gateway.credentials.Credentials.verify`).  Attempts go through
the same guard as SMTP AUTH (:mod:`gateway.logins`, with ``[submission]``'s
delays and cap): failures slow the (client, login) pair and then the
client address, never the login everywhere, so nobody can lock an analyst
out by guessing their password from elsewhere; a busy guard answers 429 at
once.  The session is a signed random token in a cookie backed by a
``team_session`` row (:mod:`gateway.web.team_session`): logout deletes the
row, and a changed or removed credentials line ends it (the file is
re-read when it changes, :class:`gateway.credentials.CredentialsFile`).

An analyst sees the mailboxes where they are team or analysts
(``MailboxConfig.staff``); a ticket of another mailbox answers as a ticket
that does not exist.  Every text shown goes through the same masking as
``gateway tickets show`` (``services.views``: CPFs, phones), the
requester's deciding links (accept/refuse, survey) in our mails show as
``[link]``, and the
report is ``services.report.gather`` itself, so the page's numbers are
``gateway report --json``'s.  Nothing here writes a ticket: every route is
GET except the login and logout forms, which touch only sessions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway import reports
from gateway.config import MailboxConfig
from gateway.credentials import CredentialsFile
from gateway.logins import LoginGuard, Verdict, peer_address
from gateway.services import report as report_service
from gateway.services import views
from gateway.store import digest as digest_store
from gateway.store.reads import SessionReads
from gateway.store import team as store
from gateway.tickets import protocol as protocols
from gateway.tickets.states import Status
from gateway.web import charts, team_session, team_texts
from gateway.web.pages import Page, Site, form_field

log = logging.getLogger("gateway.web.team")

_ROWS: Final = 50
#: The requester's accept/refuse (/s/) and survey (/p/) links in the mails we sent them (gateway.links).
_DECIDING_LINK: Final = re.compile(r"\bhttps?://\S+?/[sp]/[A-Za-z0-9_.\-]+")
_LINK_HIDDEN: Final = "[link]"
LOGIN: Final = "/equipe/entrar"
LOGOUT: Final = "/equipe/sair"


@dataclass
class TeamDoor:
    """Who may come in, and how fast they may try."""

    credentials: CredentialsFile | None  # None: no credentials_file, the page is off
    guard: LoginGuard


def door(site: Site) -> TeamDoor:
    """The door for ``site``'s settings: the credentials file, the guard with ``[submission]``'s settings."""
    config = site.settings.submission
    credentials = CredentialsFile(config.credentials_file) if config.credentials_file else None

    def verify(login: str, password: str) -> bool:
        current = credentials.current() if credentials is not None else None
        return current is not None and current.verify(login, password)

    def remembered(login: str, password: str) -> bool:
        current = credentials.current() if credentials is not None else None
        return current is not None and current.remembered(login, password)

    guard = LoginGuard(verify, failure_delay=config.failure_delay, max_failure_delay=config.max_failure_delay,
                       concurrent_checks=config.concurrent_checks, remembered=remembered, what="team page login")
    return TeamDoor(credentials, guard)


class TeamPages:
    def __init__(self, site: Site, entrance: TeamDoor) -> None:
        self.site, self.door = site, entrance

    def routes(self) -> list[Route]:
        return [
            Route("/equipe", self.queue),
            Route(LOGIN, self.login, methods=["GET", "POST"]),
            Route(LOGOUT, self.logout, methods=["POST"]),
            Route("/equipe/chamado/{protocol}", self.ticket),
            Route("/equipe/relatorio", self.report),
        ]

    # -- login and logout ------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        page = _TeamPage(self.site, request)
        if self.door.credentials is None:
            return page.notice(page.tt["login_off"], status=404)
        if request.method == "GET":
            note = page.tt["logged_out"] if "out" in request.query_params else (
                page.tt["expired"] if "expired" in request.query_params else "")
            return page.login_form(note=note)
        form = await request.form()
        if (refused := page.check_csrf(form)) is not None:
            return refused
        login = form_field(form, "login", 320).lower()
        password = form_field(form, "password", 1024, strip=False)
        # X-Forwarded-For only from trusted_proxies; an IPv6 client by its /64.
        client = peer_address(request.client.host if request.client else "unknown")
        verdict = await self.door.guard.check(client, login, password) if login and password else Verdict.WRONG
        if verdict is not Verdict.RIGHT and verdict is not Verdict.WRONG:
            response = page.login_form(error=page.tt["login_limited"], login=login, status=429)
            response.headers["Retry-After"] = "2"
            return response
        credential = self._credential(login) if verdict is Verdict.RIGHT else None
        if credential is None:
            log.warning("team page login refused", extra={"client": client})
            return page.login_form(error=page.tt["login_failed"], login=login, status=401)
        cookie = team_session.new_cookie(self.site.settings.web.secret)
        token = team_session.token_of(self.site.settings.web.secret, cookie)
        assert token is not None
        old = team_session.token_of(self.site.settings.web.secret, request.cookies.get(team_session.COOKIE))
        await run_in_threadpool(self._open_session, token, login, credential, old)
        log.info("team page login", extra={"client": client})
        response = RedirectResponse("/equipe" + page.query, status_code=303)
        self._set_cookie(response, cookie)
        return response

    def _credential(self, login: str) -> str | None:
        """The fingerprint of ``login``'s credentials line as it is now (None: no such line, or no usable file)."""
        current = self.door.credentials.current() if self.door.credentials is not None else None
        return current.fingerprint(login) if current is not None else None

    def _open_session(self, token: str, login: str, credential: str, old: str | None) -> None:
        now = self.site.clock.now()
        with self.site.db.transaction() as tx:
            if old is not None:  # a new login never keeps the session it came with (no fixation)
                store.end_session(tx, team_session.token_hash(old))
            store.add_session(tx, team_session.token_hash(token), login, credential=credential, at=now,
                              expires_at=now + timedelta(hours=self.site.settings.web.team_session_hours))

    async def logout(self, request: Request) -> Response:
        page = _TeamPage(self.site, request)
        form = await request.form()
        if (refused := page.check_csrf(form)) is not None:
            return refused
        token = team_session.token_of(self.site.settings.web.secret, request.cookies.get(team_session.COOKIE))
        if token is not None:
            await run_in_threadpool(self._end_session, token)
        response = RedirectResponse(LOGIN + "?" + urlencode({"out": "1", **page.lang_param}), status_code=303)
        response.delete_cookie(team_session.COOKIE, path=team_session.PATH, httponly=True, samesite="strict",
                               secure=self._secure)
        return response

    def _end_session(self, token: str) -> None:
        with self.site.db.transaction() as tx:
            store.end_session(tx, team_session.token_hash(token))

    @property
    def _secure(self) -> bool:
        return self.site.settings.web.base_url.startswith("https://")

    def _set_cookie(self, response: Response, cookie: str) -> None:
        response.set_cookie(team_session.COOKIE, cookie, max_age=self.site.settings.web.team_session_hours * 3600,
                            path=team_session.PATH, httponly=True, samesite="strict", secure=self._secure)

    async def _analyst(self, request: Request) -> str | None:
        """The logged-in analyst, or None (no cookie, altered, ended, expired,
        account removed or its password changed since the login)."""
        if self.door.credentials is None:
            return None
        token = team_session.token_of(self.site.settings.web.secret, request.cookies.get(team_session.COOKIE))
        if token is None:
            return None
        found = await run_in_threadpool(self._session_login, token)
        if found is None:
            return None
        login, credential = found
        return login if self._credential(login) == credential else None

    def _session_login(self, token: str) -> tuple[str, str] | None:
        with self.site.db.reading() as tx:
            return store.session_login(tx, team_session.token_hash(token), at=self.site.clock.now())

    def _to_login(self, page: _TeamPage, request: Request) -> Response:
        had = team_session.COOKIE in request.cookies
        params = {**({"expired": "1"} if had else {}), **page.lang_param}
        return RedirectResponse(LOGIN + ("?" + urlencode(params) if params else ""), status_code=303)

    def _mailboxes(self, login: str) -> list[MailboxConfig]:
        return [mailbox for mailbox in self.site.settings.mailboxes if login in mailbox.staff]

    # -- the queue -------------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        page = _TeamPage(self.site, request)
        login = await self._analyst(request)
        if login is None:
            return self._to_login(page, request)
        mine = self._mailboxes(login)
        params = request.query_params
        chosen = [m for m in mine if m.address == params.get("mailbox", "").strip().lower()] or mine
        wanted = _filter([m.address for m in chosen], params)
        before = params.get("before", "")
        zone = ZoneInfo(chosen[0].timezone) if chosen else ZoneInfo("America/Sao_Paulo")
        now = self.site.clock.now()
        # "Due today" ends at each mailbox's own midnight (Manaus is an hour behind Brasília).
        day_end = {m.address: _day_end(now, ZoneInfo(m.timezone)) for m in chosen}
        found = await run_in_threadpool(self._queue_rows, wanted, now, day_end,
                                        int(before) if before.isascii() and before.isdigit() and len(before) <= 18
                                        else None)
        shown = found[:_ROWS]
        next_url = ""
        if len(found) > _ROWS:
            kept = {key: value for key, value in params.items() if key != "before" and value}
            next_url = "/equipe?" + urlencode({**kept, "before": shown[-1]["id"]})
        return page.render("team_queue.html", title=page.tt["queue_title"], login=login, mailboxes=mine,
                           chosen=params.get("mailbox", ""), wanted=wanted, query=params.get("q", ""),
                           rows=shown, next_url=next_url, statuses=[s.value for s in Status],
                           at=_at(zone), section="queue")

    def _queue_rows(self, wanted: store.QueueFilter, now: datetime, day_end: dict[str, datetime],
                    before: int | None) -> list[dict[str, Any]]:
        # reading(): on SQLite a page view, even a search that scans the messages, never holds the writer's lock
        with self.site.db.reading() as tx:
            rows = store.queue(tx, wanted, now=now, day_end=day_end, limit=_ROWS + 1, before=before)
            return [{**views.summary(row, settings=self.site.settings, now=now), "id": row.id,
                     "next_target": digest_store.next_target(row),
                     "late": row.status in store.ACTING and (target := digest_store.next_target(row)) is not None
                     and target <= now}
                    for row in rows]

    # -- one ticket ------------------------------------------------------------------------------

    async def ticket(self, request: Request) -> Response:
        page = _TeamPage(self.site, request)
        login = await self._analyst(request)
        if login is None:
            return self._to_login(page, request)
        mine = {m.address: m for m in self._mailboxes(login)}
        wanted = request.path_params["protocol"].strip().upper()[:40]
        item = await run_in_threadpool(self._detail, wanted, set(mine))
        if item is None:
            return page.notice(page.tt["not_found"], status=404, login=login)
        zone = ZoneInfo(mine[item["mailbox"]].timezone)
        return page.render("team_ticket.html", title=f"{page.tt['ticket_title']} {item['protocol']}", login=login,
                           item=item, at=_at(zone), section="ticket")

    def _detail(self, protocol: str, mailboxes: set[str]) -> dict[str, Any] | None:
        with self.site.db.reading() as tx:
            # Another mailbox's ticket answers as one that does not exist, and as fast:
            # its thread is not even read.
            if store.mailbox_of(tx, protocol) not in mailboxes:
                return None
            item = views.detail(SessionReads(tx), protocol, settings=self.site.settings, now=self.site.clock.now())
        if item is None or item["mailbox"] not in mailboxes:
            return None
        for message in item["messages"]:  # links that decide went only to the requester, and stay theirs
            message["text"] = _DECIDING_LINK.sub(_LINK_HIDDEN, message["text"] or "")
        return item

    # -- the report ------------------------------------------------------------------------------

    async def report(self, request: Request) -> Response:
        page = _TeamPage(self.site, request)
        login = await self._analyst(request)
        if login is None:
            return self._to_login(page, request)
        mine = self._mailboxes(login)
        if not mine:
            return page.notice(page.tt["no_tickets"], status=404, login=login)
        params = request.query_params
        mailbox = next((m for m in mine if m.address == params.get("mailbox", "").strip().lower()), mine[0])
        now = self.site.clock.now()
        month = params.get("month", "").strip() or now.astimezone(ZoneInfo(mailbox.timezone)).strftime("%Y-%m")
        try:
            period = reports.Period.month(month, mailbox.timezone)
        except ValueError:
            return page.notice(page.tt["bad_month"], status=400, login=login)
        data = await run_in_threadpool(self._report, mailbox.address, period, now)
        tt = page.tt
        weeks = [row for row in data["rows"] if row["key"] != reports.TOTAL_KEY]
        week_chart = charts.columns(tt["chart_weeks"], [charts.Bar(row["key"], row["opened"]) for row in weeks],
                                    empty=tt["no_data"], chart_id="chart-weeks")
        sla_chart = charts.rows(
            tt["chart_sla"],
            [(row["category"], [_percent_bar(tt["first_response"], row["first_response"]["met_percent"]),
                                _percent_bar(tt["resolution"], row["resolution"]["met_percent"])])
             for row in data["sla"]],
            [tt["first_response"], tt["resolution"]], maximum=100.0, empty=tt["no_data"], chart_id="chart-sla")
        distribution = data["satisfaction"]["distribution"]
        survey_chart = charts.columns(tt["chart_survey"],
                                      [charts.Bar(score, distribution[score]) for score in distribution],
                                      empty=tt["no_data"], chart_id="chart-survey")
        return page.render("team_report.html", title=tt["report_title"], login=login, mailboxes=mine,
                           mailbox=mailbox, month=month, data=data, week_chart=week_chart, sla_chart=sla_chart,
                           survey_chart=survey_chart, at=_at(ZoneInfo(mailbox.timezone)), section="report")

    def _report(self, mailbox: str, period: reports.Period, now: datetime) -> dict[str, Any]:
        with self.site.db.reading() as tx:
            found = report_service.gather(tx, self.site.settings, mailbox=mailbox, period=period, by="week", now=now)
        return reports.as_dict(found)


class _TeamPage(Page):
    """A public page's frame (language, CSRF, headers), with the team's words and the logout form."""

    def __init__(self, site: Site, request: Request) -> None:
        super().__init__(site, request)
        self.tt = team_texts.TEXTS[self.language]

    @property
    def lang_param(self) -> dict[str, str]:
        return {"lang": self.language} if self.explicit else {}

    def render(self, name: str, *, status: int = 200, **context: Any) -> Any:
        context.setdefault("login", "")
        context.setdefault("section", "")
        return super().render(name, status=status, t={**self.t, "footer": self.tt["footer"]}, tt=self.tt,
                              logout_csrf=self.csrf_for(LOGOUT), query_suffix=self.query, **context)

    def login_form(self, *, error: str = "", note: str = "", login: str = "", status: int = 200) -> Any:
        return self.render("team_login.html", status=status, title=self.tt["login_title"], error=error, note=note,
                           login_value=login)

    def notice(self, text: str, *, status: int = 200, login: str = "") -> Any:
        return self.render("team_message.html", status=status, title=self.tt["team"], text=text, login=login)


def _day_end(now: datetime, zone: ZoneInfo) -> datetime:
    """The next local midnight after ``now`` in ``zone``."""
    return datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone)


def _filter(mailboxes: list[str], params: Any) -> store.QueueFilter:
    """The queue's filter from the query string; the search box is a protocol, an address, or text."""
    status = params.get("status", "")
    due = params.get("due", "")
    search = " ".join(params.get("q", "").split())[:200]
    protocol = requester = text = ""
    if search:
        parsed = protocols.parse(search)
        if parsed is not None:
            protocol = str(parsed)
        elif "@" in search and " " not in search:
            requester = search.lower()
        else:
            text = search
    return store.QueueFilter(
        mailboxes=mailboxes, status=status if status in {s.value for s in Status} else "",
        category=params.get("category", "").strip()[:128], assignee=params.get("assignee", "").strip().lower()[:320],
        due=due if due in store.DUE_FILTERS else "", protocol=protocol, requester=requester, text=text)


def _percent_bar(series: str, percent: float | None) -> charts.Bar:
    return charts.Bar(series, percent, "—" if percent is None else f"{percent:g}%")


def _at(zone: ZoneInfo) -> Any:
    """``at(value)``: a datetime or ISO text as ``dd/mm/YYYY HH:MM`` in the desk's zone ("" for none)."""
    def shown(value: datetime | str | None) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M")
    return shown


__all__ = ["TeamDoor", "TeamPages", "door"]
