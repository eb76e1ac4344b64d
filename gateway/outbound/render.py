"""Templates into text: one name, three parts (subject, text, HTML).

Lookup order: ``<templates>/email/<mailbox address>/<language>/`` (a
mailbox's own wording), then ``<templates>/email/<language>/``, then the
default language, then the same two in the shipped folder: a site's
``[templates] path`` copied from an older version keeps working when a new
version adds a notice (its mail goes out in the shipped wording).  ``StrictUndefined`` turns a missing variable into an
error at render time instead of a blank in a citizen's mail; HTML parts
are autoescaped, so a subject like ``<script>`` arrives as text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound, select_autoescape

from gateway.errors import ConfigError

DEFAULT_LANGUAGE: Final = "pt_BR"
_RECHECK_SECONDS: Final = 2.0
_monotonic = time.monotonic  # the recheck's clock (a test sets its own)


def _shipped() -> Path:
    """The templates that come with the gateway.

    A wheel carries the repository's top-level ``templates/`` as
    ``gateway/_shipped/templates`` (setup.py); a checkout or an editable
    install has no such copy and reads the repository's folder itself.
    """
    installed = Path(__file__).resolve().parents[1] / "_shipped" / "templates"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "templates"


SHIPPED: Final = _shipped()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root else SHIPPED
        if not (self.root / "email").is_dir():
            raise ConfigError("[templates] path", "path", f"{self.root}/email is not a folder of templates")
        self._recent: dict[tuple[str, str, str], tuple[Template, float]] = {}

    def render(self, name: str, *, language: str, mailbox: str, context: dict[str, Any]) -> Rendered:
        environment = _environment(str(self.root), language, mailbox)
        try:  # a part, or a layout or include it names at render time
            templates = [self._template(environment, language, mailbox, f"{name}.{part}.j2")
                         for part in ("subject", "txt", "html")]
            parts = _render_all(environment, templates, context)
        except TemplateNotFound as exc:
            raise ConfigError(self.root / "email" / language, exc.name or name,
                              "template missing; every notice needs .subject.j2, .txt.j2 and .html.j2") from exc
        return Rendered(subject=" ".join(parts[0].split()), text=parts[1].strip() + "\n", html=parts[2])

    def _template(self, environment: Environment, language: str, mailbox: str, name: str) -> Template:
        """Jinja's own cache checks the file's mtime on every use (a stat
        per part, three per mail, and one more for the layout an HTML part
        extends, at render time); here the files are checked once every
        ``_RECHECK_SECONDS``, and an edited template, the layout too, is
        still picked up within that."""
        key = (language, mailbox, name)
        now = _monotonic()
        held = self._recent.get(key)
        if held is not None and now - held[1] < _RECHECK_SECONDS:
            return held[0]
        _forget_edited(environment)
        template = environment.get_template(name)
        self._recent[key] = (template, now)
        return template

    def names(self, language: str = DEFAULT_LANGUAGE) -> list[str]:
        folder = self.root / "email" / language
        return sorted({p.name.split(".")[0] for p in folder.glob("*.j2")})


def _render_all(environment: Environment, templates: list[Template], context: dict[str, Any]) -> list[str]:
    """The parts rendered from one set of variables: ``Template.render``
    copies the environment's globals and the variables into a new context
    for each part, a third of rendering a notice.  The variables are only
    read (a template's ``{% set %}`` writes to its own context).  A part
    that raises is rendered again the ordinary way, which raises with
    Jinja's own message and a traceback into the template."""
    variables = {**environment.globals, **context}
    parts = []
    for template in templates:
        try:
            parts.append(environment.concat(  # type: ignore[attr-defined]
                template.root_render_func(template.new_context(variables, shared=True))))
        except Exception:  # noqa: BLE001 - re-raised below, as Jinja words it
            parts.append(template.render(context))
    return parts


def _forget_edited(environment: Environment) -> None:
    """Empty the environment's cache if a file behind any template in it
    changed: the parts and the layouts they extend are compiled anew."""
    cache = environment.cache
    if cache is not None and not all(template.is_up_to_date for template in cache.values()):
        cache.clear()


@lru_cache(maxsize=64)
def _environment(root: str, language: str, mailbox: str) -> Environment:
    base = Path(root) / "email"
    folders = [base / mailbox / language, base / language, base / DEFAULT_LANGUAGE]
    if Path(root) != SHIPPED:
        folders += [SHIPPED / "email" / language, SHIPPED / "email" / DEFAULT_LANGUAGE]
    environment = Environment(
        loader=FileSystemLoader([str(f) for f in folders if f.is_dir()]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
        auto_reload=False,  # Renderer._template checks the files, every _RECHECK_SECONDS, not every render
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = lambda value: number(value, language)
    return environment


def number(value: int, language: str) -> str:
    """A whole number as the language writes it: ``9.980`` in pt_BR, ``9,980`` in English."""
    grouped = f"{int(value):,}"
    return grouped if language == "en" else grouped.replace(",", ".")


def sample_context(prefix: str = "ATD", mailbox_name: str = "Central de Atendimento",
                   mailbox_address: str = "atendimento@example.gov.br") -> dict[str, Any]:
    """Every variable any shipped template uses, with realistic values:
    ``gateway check-config`` renders each template with it."""
    protocol = f"{prefix}-2026-000042-5"
    return {
        "protocol": protocol, "subject": "Erro ao incluir profissional no CNES", "requester_name": "Ana Souza",
        "requester": "ana.souza@example.org", "status_label": "Em andamento", "mailbox_name": mailbox_name,
        "mailbox_address": mailbox_address, "reply_address": mailbox_address, "tracking_url": "https://example.gov.br/t/x",
        "text": "Reinicie o aplicativo e tente de novo.", "sender": "ana.souza@example.org", "sender_name": "Ana Souza",
        "attachments": ["tela.png"], "headline": "", "accept_url": "https://example.gov.br/s/a",
        "refuse_url": "https://example.gov.br/s/r", "survey_url": "https://example.gov.br/p/x",
        "deadline": "sexta-feira, 27/11/2026, às 18h", "deadline_date": "27/11/2026", "limit_words": "3 dias úteis",
        "levels": [(1, "Muito insatisfeito"), (2, "Insatisfeito"), (3, "Indiferente"), (4, "Satisfeito"),
                   (5, "Muito satisfeito")],
        "problems": [{"line": 1, "text": "#solucionar", "problem": "comando desconhecido '#solucionar'"}],
        "done": ["solução enviada ao solicitante para validação"], "help": "#solucao ...",
        "claimed": "maria@example.gov.br", "reason": "sem comprovação",
        "excerpt": "#fechar Pode fechar.", "limit": 3,  # forged_warning
        "decision": "accept", "score": 4,  # confirm_decision
        "written": "postmaster@example.gov.br",  # postmaster_forward
        "valid_days": 30,  # tracking_link: how long the link works
        "category": "Consulta Técnica",
        "targets": [{"target": "primeira resposta", "deadline": "segunda-feira, 23/11/2026, às 10h"}],
        # missing_fields and attachments_refused (the rules' answers)
        "missing": [{"name": "cpf", "label": "CPF", "problem": "invalid"},
                    {"name": "uf", "label": "UF", "problem": "missing"}],
        "refused": [{"filename": "comprovante.png", "type": "PDF", "size": "120 KB", "kind": "type", "limit": ""},
                    {"filename": "tela.jpg", "type": "JPEG", "size": "4,2 MB", "kind": "size", "limit": "3 MB"}],
        "allowed_types": "GIF, JPEG, PNG", "max_size": "3 MB", "max_total": "",
        "refused_more": 9980, "attachments_more": 0,  # files beyond the first 20 of a list
        "reopen_window": "", "reopen_until": "",  # notices.promises: the default, a reply never reopens
        "greeting": "Prezado(a) Ana Souza,",  # notices.greeting: "Olá," when the name is unknown or asked for
        "promised": [{"what": "Prazo de atendimento", "until": "hoje, às 16h30"}],  # notices.promised: the SLA
        "received": ["CPF", "UF"],  # fields_received: the data the reply completed
        # reminder_waiting/_solved of a ladder (timeouts.Rung): which one this is; None with one reminder
        "reminder": {"number": 2, "last": True},
        # team_bounce (tickets.bounces): the failed recipients, the mail that bounced, the addresses marked
        "failures": [{"address": "ana.souza@example.org", "status": "5.1.1", "reason": "userunknown",
                      "diagnostic": "550 5.1.1 User unknown", "hard": True, "why": "endereço inexistente",
                      "why_en": "no such address"}],
        "mail_kind": "ack", "marked": ["ana.souza@example.org"],
        "digest": _sample_digest(protocol, mailbox_address),  # digest (services.digest)
        "report": _sample_report(),  # monthly_report (services.monthly_report)
    }


def _sample_report() -> dict[str, Any]:
    """A month's report (services.monthly_report), worded as a pt_BR desk reads it."""
    from gateway.outbound.report_mail import sample

    return sample()


def _sample_digest(protocol: str, mailbox_address: str) -> dict[str, Any]:
    """A digest (services.digest) with one ticket in two of its lists."""
    local, domain = mailbox_address.split("@", 1)
    line = {"protocol": protocol, "line": f"[{protocol}] Erro ao incluir profissional no CNES",
            "reply_address": f"{local}+{protocol}@{domain}", "assignee": "maria@example.gov.br",
            "mailto": f"mailto:{local}+{protocol}@{domain}?subject=%5B{protocol}%5D%20Erro",
            "deadline": "hoje, às 16h30", "tracking_url": "https://example.gov.br/t/x"}
    empty: dict[str, Any] = {"count": 0, "more": 0, "tickets": []}
    return {"day": "04/12/2026", "for_team": True, "reader": "equipe@example.gov.br", "total": 4,
            "overdue": {"count": 1, "more": 0, "tickets": [line]}, "due_today": empty,
            "new": {"count": 3, "more": 2, "tickets": [{**line, "deadline": "", "assignee": ""}]}, "waiting": empty}
