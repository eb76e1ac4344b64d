"""Checks of values that are well typed but may still be wrong.

``convert`` has made sure each key holds the right kind of value (and read
the durations); these look at what the values say: an address that is not
one, a time zone that does not exist, a submission listener without
credentials, two mailboxes on one address.  Each raises a
:class:`ConfigError` naming the key and what would be accepted, which
``gateway check-config`` prints as is.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from datetime import date, time
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.config.mailbox import DIGEST_TIME, STATE_KEYS, STATE_NAME_MAX, ImapConfig, MailboxConfig
from gateway.config.settings import SmtpConfig, StorageConfig, SubmissionConfig, WebConfig
from gateway.durations import Duration, Unit
from gateway.errors import ConfigError

ADDRESS: Final = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PREFIX: Final = re.compile(r"^[A-Z]{2,8}$")
_LANGUAGES: Final = ("pt_BR", "en")
_UFS: Final = frozenset("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split())
_IMAP_CHOICES: Final = {"tls": ("implicit", "starttls", "plain"), "after": ("move", "flag")}
_IMAP_ATOM: Final = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")
# The sections whose `port` is a TCP port we listen on or connect to, with
# the lowest value allowed: [admin] port = 0 binds any free port (tests run
# gateways side by side; the port is logged).
PORT_SECTIONS: Final = {"smtp": 1, "submission": 1, "web": 1, "admin": 0, "outbound": 1}
# SQLAlchemy dialects the gateway runs on; psycopg (3) is the only PostgreSQL driver installed.
_DIALECTS: Final = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
_POSTGRES_ALIASES: Final = ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+asyncpg",
                            "postgresql+pg8000", "postgres+psycopg")
_PASSWORD: Final = re.compile(r"^([a-z0-9+]+://[^:/@]*):[^@]*@", re.IGNORECASE)


def submission(source: str, submission: SubmissionConfig) -> None:
    # The team page's login uses the same file and guard, with or without the listener.
    if submission.concurrent_checks < 1 and (submission.enabled or submission.credentials_file):
        raise ConfigError(source, "submission.concurrent_checks",
                          "0 would refuse every login; give 1 or more (2 suits a small server)")
    if not submission.enabled:
        return
    if not submission.credentials_file:
        raise ConfigError(source, "submission.credentials_file",
                          "required when the submission listener is enabled; write it with `gateway hash-password`")
    if submission.require_tls and not (submission.tls_cert and submission.tls_key):
        raise ConfigError(source, "submission.tls_cert",
                          "AUTH needs STARTTLS: set tls_cert and tls_key (or require_tls = false on loopback only)")


def team_page(source: str, web: WebConfig) -> None:
    if not 1 <= web.team_session_hours <= 24 * 30:
        raise ConfigError(source, "web.team_session_hours", f"{web.team_session_hours} hours: give 1 to 720 "
                                                           "(a session ends after this, or at logout; default 8)")


def previous_secrets(source: str, web: WebConfig) -> None:
    """``previous_secrets``: old secrets whose signatures are still read
    while the links they signed may be in mailboxes (``link_max_age_days``)."""
    for index, old in enumerate(web.previous_secrets):
        if not isinstance(old, str) or not old.strip():
            raise ConfigError(source, "web.previous_secrets", f"entry {index + 1} is empty; list the secrets used "
                                                              "before [web] secret, or none")
        if old == web.secret:
            raise ConfigError(source, "web.previous_secrets", f"entry {index + 1} is [web] secret itself; list "
                                                              "only the secrets used before it")


def connections(source: str, smtp: SmtpConfig) -> None:
    for key in ("max_connections", "max_connections_per_peer"):
        if getattr(smtp, key) < 1:
            raise ConfigError(source, f"smtp.{key}", f"{getattr(smtp, key)} would refuse every connection; "
                                                    "give 1 or more (defaults: 400 in total, 20 per peer)")


def networks(source: str, key: str, networks: tuple[str, ...]) -> None:
    for network in networks:
        try:
            ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            raise ConfigError(source, key, f"{network!r} is not an address or network like 127.0.0.1, "
                                           "10.0.0.0/8 or ::1") from None


def port(source: str, key: str, value: int, lowest: int = 1) -> None:
    """A TCP port, 1-65535 (``lowest`` = 0: also 0 for any free one):
    ``port = 99999`` is caught here, not as a traceback from ``bind()`` when
    the service starts."""
    if not lowest <= value <= 65535:
        zero = " (or 0 for any free port)" if lowest == 0 else ""
        raise ConfigError(source, key, f"{value} is not a TCP port; give a number from 1 to 65535{zero}")


def storage_url(source: str, storage: StorageConfig) -> None:
    """The dialect of ``[storage] url``: SQLite, or PostgreSQL through psycopg 3.

    ``postgres://`` and ``postgresql://`` (Heroku's and libpq's spelling)
    would make SQLAlchemy look for psycopg2, which is not installed; the
    error gives the URL to write instead.
    """
    url = storage.url.strip()
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ConfigError(source, "storage.url", f"{masked_url(url)!r} is not a URL; write e.g. "
                                                 "sqlite:///var/gateway.db or postgresql+psycopg://gateway@db/gateway")
    if scheme.lower() in _POSTGRES_ALIASES:
        raise ConfigError(source, "storage.url", f"{masked_url(url)!r}: the gateway talks to PostgreSQL through "
                                                 f"psycopg 3; write url = \"{masked_url('postgresql+psycopg://' + rest)}\"")
    if scheme.lower() not in _DIALECTS:
        raise ConfigError(source, "storage.url", f"{scheme!r} is not a database the gateway runs on; write "
                                                 "sqlite:///var/gateway.db or postgresql+psycopg://user@host/db")


def masked_url(url: str) -> str:
    """``postgresql+psycopg://gateway:***@db/gateway``: a URL fit for a log,
    an error or the start banner."""
    return _PASSWORD.sub(r"\1:***@", url)


def postmaster(source: str, smtp: SmtpConfig) -> None:
    if smtp.postmaster and not ADDRESS.match(smtp.postmaster.strip()):
        raise ConfigError(source, "smtp.postmaster", f"{smtp.postmaster!r} is not an e-mail address")


def mailbox(source: str, where: str, mailbox: MailboxConfig) -> None:
    """The address, prefix, language and people of ``mailbox[i]``, then its calendar."""
    address = mailbox.address.strip().lower()
    if not ADDRESS.match(address) or "+" in address.split("@")[0]:
        raise ConfigError(source, f"{where}.address", f"{mailbox.address!r} is not a plain address like cnes@example.gov.br")
    if not _PREFIX.match(mailbox.protocol_prefix):
        raise ConfigError(source, f"{where}.protocol_prefix",
                          f"{mailbox.protocol_prefix!r} must be 2 to 8 capital letters, e.g. ATD")
    if mailbox.language not in _LANGUAGES:
        raise ConfigError(source, f"{where}.language", f"{mailbox.language!r} is not one of {', '.join(_LANGUAGES)}")
    for key in ("team", "analysts", "report_to"):
        for member in getattr(mailbox, key):
            if not ADDRESS.match(member.strip()):
                raise ConfigError(source, f"{where}.{key}", f"{member!r} is not an e-mail address")
    for entry in mailbox.assignable:
        if not (ADDRESS.match(entry.strip()) or ADDRESS.match("x" + entry.strip())) or "@" not in entry:
            raise ConfigError(source, f"{where}.assignable",
                              f"{entry!r} is neither an address nor a domain written as @example.gov.br")
    for reminder, limit in (("wait_reminder", "wait_limit"), ("solved_reminder", "solved_limit")):
        _reminders_before(source, where, reminder, getattr(mailbox, reminder), limit, getattr(mailbox, limit))
    _calendar(source, where, mailbox)


def _reminders_before(source: str, where: str, key: str, leads: object, limit_key: str, limit: Duration) -> None:
    """Each step of a ladder is that long *before* the limit: one not
    shorter than the limit would fall before the question or solution and
    was dropped without a word (the "2nd and last" reminder then came
    alone).  Compared where the units can be: the same unit, or business
    days against days (``7bd`` is never shorter than ``5d``).  The single
    value keeps its old meaning, where a limit too short for the default
    reminder simply has none."""
    if not isinstance(leads, tuple):
        return
    for index, lead in enumerate(leads):
        comparable = lead.unit is limit.unit or (lead.unit is Unit.BUSINESS_DAYS and limit.unit is Unit.DAYS)
        if comparable and lead.amount >= limit.amount:
            raise ConfigError(source, f"{where}.{key}[{index}]",
                              f'"{lead}" before {limit_key} = "{limit}" falls before the question or solution '
                              f"itself; each reminder of a list must be shorter than {limit_key}")


def legacy_references(source: str, where: str, value: object) -> tuple[re.Pattern[str], ...]:
    """``legacy_references``: the shapes of a legacy mailbox's old numbers,
    compiled here, once, for every live mail's subject.  Each pattern has
    exactly one group, the number (``Chamado nº\\s*(\\d+)``); a pattern that
    does not compile, has no group or several, or matches an empty subject
    (every mail would carry "an old number") stops the load."""
    example = "e.g. legacy_references = ['Chamado nº\\s*(\\d+)', '\\[(SR-\\d{4}/\\d{4})\\]'] (TOML '...' strings)"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(source, where, f"expected a list of regular expressions, got {value!r}; {example}")
    compiled = []
    for text in value:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(source, where, f"{text!r} is not a regular expression; {example}")
        try:
            pattern = re.compile(text)
        except re.error as error:
            raise ConfigError(source, where, f"{text!r} is not a valid regular expression ({error}); "
                                             f"{example}") from None
        if pattern.groups != 1:
            raise ConfigError(source, where, f"{text!r} has {pattern.groups} groups; it needs exactly one, "
                                             "around the number: write other groups as (?:...), e.g. "
                                             "'(?:Chamado|Protocolo)\\s*nº?\\s*(\\d+)'")
        if pattern.search("") is not None:
            raise ConfigError(source, where, f"{text!r} matches an empty subject; make the number required, "
                                             "e.g. (\\d+) rather than (\\d*)")
        compiled.append(pattern)
    return tuple(compiled)


def status_names(source: str, where: str, value: object) -> tuple[tuple[str, str], ...]:
    """``[mailbox.status_names]``: state -> the desk's name for it, e.g.
    ``waiting = "Pendente Profissional"``; kept as (state, name) pairs."""
    if not isinstance(value, dict):
        raise ConfigError(source, where, f'expected a [{where}] table such as waiting = "Pendente Profissional", '
                                         f"got {value!r}")
    names = []
    for state, name in value.items():
        if state not in STATE_KEYS:
            raise ConfigError(source, f"{where}.{state}", f"unknown state; name one of {', '.join(STATE_KEYS)}")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > STATE_NAME_MAX or any(
                char in name for char in "\r\n\t"):
            raise ConfigError(source, f"{where}.{state}", f"expected the name people read for it, one line of 1 to "
                                                          f"{STATE_NAME_MAX} characters, got {name!r}")
        names.append((state, " ".join(name.split())))
    return tuple(names)


def _calendar(source: str, where: str, mailbox: MailboxConfig) -> None:
    try:
        ZoneInfo(mailbox.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(source, f"{where}.timezone",
                          f"{mailbox.timezone!r} is not a time zone name like America/Sao_Paulo") from None
    for key in ("workday_start", "workday_end"):
        try:
            time.fromisoformat(getattr(mailbox, key))
        except ValueError:
            raise ConfigError(source, f"{where}.{key}", f"{getattr(mailbox, key)!r} is not a time like 08:00") from None
    if time.fromisoformat(mailbox.workday_start) >= time.fromisoformat(mailbox.workday_end):
        raise ConfigError(source, f"{where}.workday_end", "must be later than workday_start")
    if mailbox.digest and not DIGEST_TIME.match(mailbox.digest):
        raise ConfigError(source, f"{where}.digest", f"{mailbox.digest!r} is not a time of day like 08:00 "
                                                  '(HH:MM, 24 h); "" for no digest')
    if not DIGEST_TIME.match(mailbox.report_time):
        raise ConfigError(source, f"{where}.report_time", f"{mailbox.report_time!r} is not a time of day like 08:00 "
                                                       "(HH:MM, 24 h)")
    if not 1 <= mailbox.report_day <= 28:
        raise ConfigError(source, f"{where}.report_day", f"{mailbox.report_day!r} is not a day from 1 to 28 "
                                                      "(every month has it); the report goes on the first "
                                                      "business day on or after it")
    for day in mailbox.closed_dates:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ConfigError(source, f"{where}.closed_dates", f"{day!r} is not a date like 2026-12-24") from None
    if mailbox.uf and mailbox.uf.upper() not in _UFS:
        raise ConfigError(source, f"{where}.uf", f"{mailbox.uf!r} is not a Brazilian state (UF) such as SP or DF")
    _max_silence(source, where, mailbox)


def _max_silence(source: str, where: str, mailbox: MailboxConfig) -> None:
    """``max_silence`` is counted in working time only, where a calendar day has no length."""
    if mailbox.max_silence is not None and mailbox.max_silence.unit is Unit.DAYS:
        days = mailbox.max_silence.amount
        raise ConfigError(source, f"{where}.max_silence",
                          f'"{mailbox.max_silence}" counts calendar days, but silence is counted in working '
                          f'time only; write working hours or days, e.g. "4h" or "{days}bd" (or "" or 0 for off)')


def imap(source: str, where: str, imap: ImapConfig) -> ImapConfig:
    """Check ``[mailbox.imap]``; returns it with the port filled in (0: 993 or 143 by ``tls``)."""
    for key, choices in _IMAP_CHOICES.items():
        if getattr(imap, key) not in choices:
            raise ConfigError(source, f"{where}.{key}", f"{getattr(imap, key)!r} is not one of {', '.join(choices)}")
    for key in ("host", "user"):
        if not getattr(imap, key).strip():
            raise ConfigError(source, f"{where}.{key}", "missing; the IMAP poller needs it")
    secrets = [key for key in ("password_env", "password_file", "oauth2_token_command") if getattr(imap, key)]
    if len(secrets) != 1:
        raise ConfigError(source, f"{where}.password_env",
                          "set exactly one of password_env, password_file or oauth2_token_command"
                          + (f" (found {', '.join(secrets)})" if secrets else ""))
    if imap.port > 65535:
        raise ConfigError(source, f"{where}.port", f"{imap.port} is not a TCP port (1-65535, or 0 for the default)")
    for key in ("batch_size", "max_message_size", "idle_timeout", "poll_interval", "timeout", "reconnect_max"):
        if not getattr(imap, key) > 0:
            raise ConfigError(source, f"{where}.{key}", f"{getattr(imap, key)!r} must be greater than 0")
    if imap.max_age_days > 36500:
        raise ConfigError(source, f"{where}.max_age_days", f"{imap.max_age_days} days is more than a century; "
                                                            "0 takes every mail, whatever its age")
    if not _IMAP_ATOM.match(imap.keyword):
        raise ConfigError(source, f"{where}.keyword", f"{imap.keyword!r} is not an IMAP keyword like $GatewayProcessed")
    folders = {"folder": imap.folder, "processed_folder": imap.processed_folder,
               "quarantine_folder": imap.quarantine_folder}
    for key, value in folders.items():
        if not value.strip():
            raise ConfigError(source, f"{where}.{key}", "must name a folder")
    if imap.after == "move" and imap.processed_folder == imap.folder:
        raise ConfigError(source, f"{where}.processed_folder", "must differ from folder when after = \"move\"")
    if imap.quarantine_folder == imap.folder:
        raise ConfigError(source, f"{where}.quarantine_folder", "must differ from folder")
    # INBOX is case-insensitive (RFC 3501 5.1): "inbox" is the watched folder too.
    named = {name.upper() if name.upper() == "INBOX" else name for name in folders.values()}
    if imap.junk_folder and (imap.junk_folder.upper() if imap.junk_folder.upper() == "INBOX"
                             else imap.junk_folder) in named:
        raise ConfigError(source, f"{where}.junk_folder", "must differ from folder, processed_folder and "
                                                           'quarantine_folder (or "" for off): it is only watched')
    port = imap.port or (993 if imap.tls == "implicit" else 143)
    return replace(imap, port=port)


def unique(source: str, mailboxes: tuple[MailboxConfig, ...]) -> None:
    """No two mailboxes share an address, a protocol prefix, or an IMAP folder."""
    seen: dict[str, int] = {}
    for index, mailbox in enumerate(mailboxes):
        for key, value in (("address", mailbox.address), ("protocol_prefix", mailbox.protocol_prefix)):
            marker = f"{key}:{value}"
            if marker in seen:
                raise ConfigError(source, f"mailbox[{index}].{key}",
                                  f"{value!r} is already used by mailbox[{seen[marker]}]; each mailbox needs its own")
            seen[marker] = index
        imap = mailbox.imap
        if imap is None:
            continue
        # The poller's lock is per mailbox and folder: two mailboxes on one
        # account's folder would each hold a session on it, and each take
        # the same mails (one ticket, then a duplicate, and a placeholder
        # for every mail the other moved first).  INBOX is any case (RFC 3501).
        folder = "INBOX" if imap.folder.upper() == "INBOX" else imap.folder
        marker = f"imap:{imap.user.lower()}@{imap.host.lower()}:{imap.port}/{folder}"
        if marker in seen:
            raise ConfigError(source, f"mailbox[{index}].imap.folder",
                              f"{imap.folder!r} of {imap.user}@{imap.host} is already read by "
                              f"mailbox[{seen[marker]}]; give each mailbox its own account or folder")
        seen[marker] = index
