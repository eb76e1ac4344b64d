"""The web app: a Starlette application built from the gateway's parts.

``gateway run`` serves it from its own event loop (``serve``, role
``web``); tests may also drive ``create_app`` with Starlette's TestClient.
Routes:

- ``/t/<token>``   track a ticket
- ``/consulta``    look a ticket up by protocol and e-mail (mails a fresh link)
- ``/s/<token>``   accept or refuse a proposed solution
- ``/p/<token>``   answer the satisfaction survey
- ``/equipe``     the team's read-only queue, tickets and report, behind a
  login (:mod:`gateway.web.team`)
- ``/healthz``      up or not, for a load balancer (nothing more: the figures
  and the deep checks are on the admin listener, :mod:`gateway.web.admin`)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import nh3
import uvicorn
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.clock import Clock
from gateway.config import Settings
from gateway.outbound.render import SHIPPED
from gateway.services.citizen import PageAnswers
from gateway.store.db import Database
from gateway.web.admin import public_healthz
from gateway.web.pages import Pages, Site
from gateway.web.ratelimit import SlidingWindow
from gateway.web.team import TeamPages
from gateway.web.team import door as team_door

log = logging.getLogger("gateway.web")

_HOUR = 3600.0


def create_app(settings: Settings, db: Database, clock: Clock, answers: PageAnswers, *,
               wake_sender: Callable[[], None] = lambda: None) -> Starlette:
    web = settings.web
    site = Site(settings=settings, db=db, clock=clock, answers=answers, environment=_environment(settings),
                wake_sender=wake_sender,
                lookups_per_ip=SlidingWindow(web.lookup_limit_per_ip, _HOUR),
                lookups_per_protocol=SlidingWindow(web.lookup_limit_per_protocol, _HOUR),
                links_per_protocol=SlidingWindow(web.lookup_limit_per_protocol, _HOUR))
    pages = Pages(site)
    routes = [
        Route("/", pages.index),
        Route("/t/{token}", pages.track),
        Route("/consulta", pages.lookup, methods=["GET", "POST"]),
        Route("/s/{token}", pages.solution, methods=["GET", "POST"]),
        Route("/p/{token}", pages.survey, methods=["GET", "POST"]),
        Route("/healthz", public_healthz(db)),
        *TeamPages(site, team_door(site)).routes(),  # /equipe: the read-only team page
    ]
    return Starlette(routes=routes, exception_handlers={404: pages.not_found})


def as_text(value: str) -> Markup:
    """Mail text for a page: any HTML in it reduced to its text by nh3 (no
    tag survives, script and style contents are dropped) and the rest escaped."""
    return Markup(nh3.clean(value or "", tags=set(), attributes={}))


def _environment(settings: Settings) -> Environment:
    root = Path(settings.templates.path) if settings.templates.path else SHIPPED
    folder = root / "web" if (root / "web").is_dir() else SHIPPED / "web"
    return _cached_environment(str(folder))


@lru_cache(maxsize=8)
def _cached_environment(folder: str) -> Environment:
    # A desk's own folder, made for an older gateway, lacks the pages added
    # since (the team pages): each missing one is read from the shipped folder.
    folders = [folder] if Path(folder) == SHIPPED / "web" else [folder, str(SHIPPED / "web")]
    environment = Environment(loader=FileSystemLoader(folders), undefined=StrictUndefined, autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters["as_text"] = as_text
    return environment


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the gateway's loop: the gateway owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29 names it so
        return


async def start(app: Starlette, settings: Settings) -> tuple[asyncio.Task[None], uvicorn.Server]:
    """Bind now (an address in use fails ``gateway run`` at once, naming it)
    and serve in a task of the running loop; stop with ``stop``."""
    web = settings.web
    task, server, port = await listen(app, web.host, web.port, section="web",
                                      proxies=forwarded_allow_ips(web.trusted_proxies))
    log.info("web pages on http://%s:%d", web.host, port)
    return task, server


async def listen(app: Starlette, host: str, port: int, *, section: str, proxies: list[str] | None = None
                 ) -> tuple[asyncio.Task[None], uvicorn.Server, int]:
    """Serve ``app`` on ``host:port`` (0: any free port) from the running
    loop: the task, the server, and the port bound.  ``section`` names the
    config section in the error for an address in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as error:
        raise OSError(f"[{section}] cannot listen on {host}:{port}: {error.strerror or error}") from error
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            proxy_headers=bool(proxies), forwarded_allow_ips=proxies or [])
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=section)
    return task, server, int(sock.getsockname()[1])


def forwarded_allow_ips(trusted_proxies: tuple[str, ...]) -> list[str]:
    """uvicorn's ``forwarded_allow_ips`` for ``[web] trusted_proxies``; empty: do not read the header.

    uvicorn's own default believes X-Forwarded-For from 127.0.0.1 and ::1
    (or whoever ``FORWARDED_ALLOW_IPS`` names), so anyone on the machine, or
    a local proxy that passes the header on unchecked, could give each
    look-up a new client address and never meet the per-address limit.  The
    caller turns ``proxy_headers`` off when this is empty and always passes
    the list, so the environment variable cannot widen it.  From a trusted
    peer, uvicorn takes as the client the right-most address of the header
    that is not itself a trusted proxy.  Networks are written out in full
    (``10.0.0.0/8``): uvicorn (>= 0.31) would take ``10.0.0.1/8`` for a name.
    """
    return [str(ipaddress.ip_network(proxy.strip(), strict=False)) for proxy in trusted_proxies]


async def stop(task: asyncio.Task[None], server: uvicorn.Server) -> None:
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
