"""Loading: the embedded defaults, the user's TOML merged over them, then overrides.

``load_settings`` is the only way settings are made: each section is
converted to its frozen dataclass (``convert``), checked (``checks``), and
secrets are taken from the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any, Final

from gateway.config import checks
from gateway.config.convert import dataclass_from
from gateway.config.mailbox import MailboxConfig, SlaConfig
from gateway.config.settings import (
    AdminConfig,
    AuthConfig,
    LimitsConfig,
    LogConfig,
    OutboundConfig,
    ProcessingConfig,
    RetentionConfig,
    ScheduleConfig,
    Settings,
    SmtpConfig,
    StorageConfig,
    SubmissionConfig,
    TemplatesConfig,
    WebConfig,
)
from gateway.errors import ConfigError

# Every key with its default and a comment; shipped as package data of `gateway`.
DEFAULTS_PATH: Final = Path(__file__).parents[1] / "defaults.toml"

_SECTIONS: Final[dict[str, type]] = {
    "storage": StorageConfig,
    "smtp": SmtpConfig,
    "submission": SubmissionConfig,
    "outbound": OutboundConfig,
    "processing": ProcessingConfig,
    "limits": LimitsConfig,
    "web": WebConfig,
    "auth": AuthConfig,
    "templates": TemplatesConfig,
    "schedule": ScheduleConfig,
    "log": LogConfig,
    "admin": AdminConfig,
    "retention": RetentionConfig,
}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "storage.sqlite_synchronous": ("FULL", "NORMAL", "EXTRA"),
    "outbound.mode": ("maildir", "smtp"),
    "outbound.security": ("none", "starttls", "tls"),
    "auth.requester_decisions": ("", "aligned", "any"),
    "log.format": ("text", "json"),
    "log.level": ("debug", "info", "warning", "error"),
}


def load_settings(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults, then the file at ``path`` (or ``$GATEWAY_CONFIG``), then ``overrides``.

    ``overrides`` has the file's shape (``{"smtp": {"port": 2526}}``); tests
    use it instead of writing files.
    """
    defaults = _read_toml(DEFAULTS_PATH)
    if path is None and os.environ.get("GATEWAY_CONFIG"):
        path = os.environ["GATEWAY_CONFIG"]
    user: dict[str, Any] = _read_toml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(user.get(key), dict):
            user[key] = {**user[key], **value}
        else:
            user[key] = value
    return _build(defaults, user, source)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, "-", "file not found; pass an existing file with --config or GATEWAY_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "-", f"not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "-", f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:  # a folder, no right to read it: the pipe's user is often another one
        raise ConfigError(path, "-", f"cannot be read ({exc.strerror or exc}); check the path and that the "
                                     "gateway's user may read it") from exc


def _build(defaults: dict[str, Any], user: dict[str, Any], source: str) -> Settings:
    unknown = set(user) - set(_SECTIONS) - {"mailbox"}
    if unknown:
        known = ", ".join(sorted([*_SECTIONS, "mailbox"]))
        raise ConfigError(source, sorted(unknown)[0], f"unknown section; expected one of {known}")
    sections = {}
    for name, cls in _SECTIONS.items():
        merged = {**defaults.get(name, {}), **_table(source, name, user.get(name, {}))}
        sections[name] = dataclass_from(cls, merged, source, name, _CHOICES)
    sections["outbound"] = _with_secret(sections["outbound"], "password", "GATEWAY_RELAY_PASSWORD")
    sections["web"] = _with_secret(sections["web"], "secret", "GATEWAY_WEB_SECRET", override=True)
    sections["web"] = _with_previous_secrets(source, sections["web"])
    checks.submission(source, sections["submission"])
    checks.team_page(source, sections["web"])
    checks.connections(source, sections["smtp"])
    checks.networks(source, "smtp.trusted_networks", sections["smtp"].trusted_networks)
    checks.networks(source, "web.trusted_proxies", sections["web"].trusted_proxies)
    checks.postmaster(source, sections["smtp"])
    checks.storage_url(source, sections["storage"])
    sections["storage"] = _with_pipe_folder(source, sections["storage"])
    for name, lowest in checks.PORT_SECTIONS.items():
        checks.port(source, f"{name}.port", sections[name].port, lowest)
    raw_mailboxes = user.get("mailbox", defaults["mailbox"])
    if not isinstance(raw_mailboxes, list) or not raw_mailboxes:
        raise ConfigError(source, "mailbox", "expected one or more [[mailbox]] tables")
    mailboxes = tuple(_with_closed_calendar(source, index, _with_rules(source, index, _mailbox(source, index, entry)))
                      for index, entry in enumerate(raw_mailboxes))
    checks.unique(source, mailboxes)
    return Settings(**sections, mailboxes=mailboxes, source=source)


def _table(source: str, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(source, name, f"expected a [{name}] table, got {type(value).__name__}")
    return value


def _with_secret(section: Any, key: str, env: str, *, override: bool = False) -> Any:
    value = os.environ.get(env)
    if value and (override or not getattr(section, key)):
        return dataclasses.replace(section, **{key: value})
    return section


def _with_previous_secrets(source: str, web: WebConfig) -> WebConfig:
    """``GATEWAY_WEB_PREVIOUS_SECRETS`` (separated by spaces), when set, in
    place of ``[web] previous_secrets``: secrets belong in the environment
    as ``secret`` does."""
    value = os.environ.get("GATEWAY_WEB_PREVIOUS_SECRETS")
    if value:  # set and not empty, as GATEWAY_WEB_SECRET
        web = dataclasses.replace(web, previous_secrets=tuple(value.split()))
    checks.previous_secrets(source, web)
    return web


def _mailbox(source: str, index: int, entry: Any) -> MailboxConfig:
    where = f"mailbox[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(source, where, "expected a [[mailbox]] table")
    for required in ("address", "protocol_prefix"):
        if required not in entry:
            raise ConfigError(source, f"{where}.{required}", "missing; every mailbox needs it")
    entry = dict(entry)
    sla = _sla_table(source, f"{where}.sla", entry.pop("sla", {}))
    names = checks.status_names(source, f"{where}.status_names", entry.pop("status_names", {}))
    legacy = checks.legacy_references(source, f"{where}.legacy_references", entry.pop("legacy_references", []))
    mailbox = dataclasses.replace(dataclass_from(MailboxConfig, entry, source, where), sla=sla, status_names=names,
                                  legacy_references=legacy)
    checks.mailbox(source, where, mailbox)
    if mailbox.imap is not None:
        mailbox = dataclasses.replace(mailbox, imap=checks.imap(source, f"{where}.imap", mailbox.imap))
    return dataclasses.replace(
        mailbox,
        address=mailbox.address.strip().lower(),
        team=tuple(m.strip().lower() for m in mailbox.team),
        analysts=tuple(m.strip().lower() for m in mailbox.analysts),
        assignable=tuple(m.strip().lower() for m in mailbox.assignable),
        report_to=tuple(m.strip().lower() for m in mailbox.report_to),
    )


def _sla_table(source: str, where: str, value: Any) -> tuple[tuple[str, SlaConfig], ...]:
    """``[mailbox.sla."Consulta Técnica"]`` tables, one per category."""
    if not isinstance(value, dict):
        raise ConfigError(source, where, f'expected [{where}."<category>"] tables, got {value!r}')
    table = []
    for category, targets in value.items():
        if not isinstance(targets, dict):
            raise ConfigError(source, f"{where}.{category}", f"expected a table with first_response/resolution, "
                                                            f"got {targets!r}")
        table.append((category.strip(), dataclass_from(SlaConfig, targets, source, f"{where}.{category}")))
    return tuple(table)


def _with_pipe_folder(source: str, storage: StorageConfig) -> StorageConfig:
    """``[storage] pipe_folder`` resolved against the config file's folder, as
    ``rules`` are: the pipe runs in the MTA's working directory, not ours."""
    folder = storage.pipe_folder.strip()
    if not folder:
        return dataclasses.replace(storage, pipe_folder="")  # blank is unset, not a folder named " "
    base = Path(source).parent if source != "<defaults>" else Path()
    return dataclasses.replace(storage, pipe_folder=os.path.normpath(base / folder))


def _with_closed_calendar(source: str, index: int, mailbox: MailboxConfig) -> MailboxConfig:
    """Resolve ``closed_calendar`` against the config file's folder and check
    the file is there; its events are read into the mailbox's business
    calendar (``calendar.mailboxes``: start-up and check-config)."""
    if not mailbox.closed_calendar.strip():
        return dataclasses.replace(mailbox, closed_calendar="")
    base = Path(source).parent if source != "<defaults>" else Path()
    path = Path(os.path.normpath(base / mailbox.closed_calendar.strip()))
    if not path.is_file():
        raise ConfigError(source, f"mailbox[{index}].closed_calendar",
                          f"{str(path)!r} is not a file; give an iCalendar file such as calendars/feriados.ics "
                          "(relative to this config file), or \"\" for none")
    return dataclasses.replace(mailbox, closed_calendar=str(path))


def _with_rules(source: str, index: int, mailbox: MailboxConfig) -> MailboxConfig:
    """Resolve ``rules`` against the config file's folder and check the file is there;
    its content is checked by the rules loader (start-up, SIGHUP, check-config)."""
    if not mailbox.rules.strip():
        return dataclasses.replace(mailbox, rules="")
    base = Path(source).parent if source != "<defaults>" else Path()
    path = Path(os.path.normpath(base / mailbox.rules.strip()))
    if path.suffix != ".toml" or not path.is_file():
        raise ConfigError(source, f"mailbox[{index}].rules",
                          f"{str(path)!r} is not a rule file; give a .toml file such as rules/cnes.toml "
                          "(relative to this config file)")
    return dataclasses.replace(mailbox, rules=str(path))
