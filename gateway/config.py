"""Settings: embedded defaults, the user's TOML merged over them, frozen.

Every key has a default in ``defaults.toml``; a key the gateway does not
know, or a value of the wrong kind, stops start-up with the file, the key
and what is expected (``gateway check-config`` prints exactly that).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.errors import ConfigError

DEFAULTS_PATH: Final = Path(__file__).with_name("defaults.toml")
_PREFIX = re.compile(r"^[A-Z]{2,8}$")
_ASSIGNABLE_LOCAL = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_LANGUAGES: Final = ("pt_BR", "en")


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///var/gateway.db"
    sqlite_synchronous: str = "FULL"


@dataclass(frozen=True)
class SmtpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 50
    timeout: int = 300
    # Open connections per listener: in total, and from one peer address (an
    # IPv6 peer by its /64); more are answered 421 and closed.  Well below
    # the 1,024 descriptors a process gets by default, so that a flood of idle
    # connections cannot starve the MTA's mail, the pages or the database.
    # Peers in trusted_networks count toward the total only.
    max_connections: int = 400
    max_connections_per_peer: int = 20
    lmtp: bool = False
    hostname: str = "gateway.example.gov.br"
    # Peers (CIDR) whose mail may reach an internal mailbox over this
    # listener, and whose Authentication-Results we read: the MTA in front.
    trusted_networks: tuple[str, ...] = ()
    # Where mail to postmaster@ and abuse@ of our domains goes (RFC 5321
    # 4.5.1); empty: the team of the first mailbox.
    postmaster: str = ""

    def trusts(self, peer: str, via: str = "smtp") -> bool:
        """Whether ``peer`` (``"ip:port"``, ``"[v6]:port"`` or a bare address)
        is the MTA in front: in ``trusted_networks``; for LMTP without such a
        list, a loopback peer (the local MTA delivering as to Dovecot)."""
        if self.trusted_networks:
            return in_networks(peer, self.trusted_networks)
        return via == "lmtp" and in_networks(peer, _LOOPBACK)


_LOOPBACK: Final = ("127.0.0.0/8", "::1/128")


def in_networks(peer: str, networks: tuple[str, ...]) -> bool:
    """Whether the address of ``peer`` is in one of ``networks`` (CIDR strings, validated at load)."""
    if not networks or not peer:
        return False
    host = peer.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _parsed_networks(networks))


@functools.lru_cache(maxsize=64)
def _parsed_networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parsed once per list: this is asked for every mail from the MTA."""
    return tuple(ipaddress.ip_network(network.strip(), strict=False) for network in networks)


@dataclass(frozen=True)
class SubmissionConfig:
    """A second listener where analysts log in (SMTP AUTH): proof of who they are."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2587
    # AUTH only after STARTTLS; false only for loopback tests.
    require_tls: bool = True
    tls_cert: str = ""
    tls_key: str = ""
    credentials_file: str = ""
    # A failed login for one (client address, account) is answered after
    # this many seconds, doubling with each further failure up to the max.
    failure_delay: float = 1.0
    max_failure_delay: float = 60.0
    # Password checks running at once (threads); more get 454, try later.
    concurrent_checks: int = 2


@dataclass(frozen=True)
class OutboundConfig:
    mode: str = "maildir"
    path: str = "var/outbox"
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"
    username: str = ""
    password: str = ""
    timeout: int = 30
    max_attempts: int = 10
    retry_initial: int = 30
    retry_max: int = 3600
    poll_interval: float = 2.0


@dataclass(frozen=True)
class ProcessingConfig:
    poll_interval: float = 1.0
    batch_size: int = 100
    group_size: int = 32  # mails per transaction when there is a backlog
    max_header_bytes: int = 256 * 1024
    max_part_bytes: int = 32 * 1024 * 1024
    max_parts: int = 500  # MIME parts read per mail; the rest are kept in the raw mail only
    max_depth: int = 20  # nesting of multipart and attached messages read per mail


@dataclass(frozen=True)
class LimitsConfig:
    acks_per_sender_per_hour: int = 5
    # Warnings to the team about mail forging one analyst address, per hour.
    forged_warnings_per_sender_per_hour: int = 3


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True  # the pages (role "web" of gateway run)
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = "http://127.0.0.1:8080"
    secret: str = "change-me-development-only"
    link_max_age_days: int = 30  # links in mails stop working after this
    lookup_limit_per_ip: int = 10  # look-ups per client address per hour; more get 429
    lookup_limit_per_protocol: int = 3  # look-ups per protocol per hour (each may mail a link)
    # Proxies (addresses or CIDR) whose X-Forwarded-For names the client; no one else's is read.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthConfig:
    trusted_authserv_ids: tuple[str, ...] = ()
    # A requester's decision by mail (accept, refuse, survey score) is applied
    # "aligned": only with a trusted, aligned SPF/DKIM/DMARC pass for the From
    # domain (else confirmed by a signed link); "any": always.  Empty: "aligned"
    # when trusted_authserv_ids is set, else "any".
    requester_decisions: str = ""

    @property
    def decisions_need_alignment(self) -> bool:
        if self.requester_decisions:
            return self.requester_decisions == "aligned"
        return bool(self.trusted_authserv_ids)


@dataclass(frozen=True)
class TemplatesConfig:
    path: str = ""


@dataclass(frozen=True)
class ImapConfig:
    """``[mailbox.imap]``: read this mailbox's mail from an existing IMAP account."""

    host: str = ""
    port: int = 0  # 0: 993 for tls = "implicit", else 143
    tls: str = "implicit"  # implicit | starttls | plain (loopback tests only)
    user: str = ""
    password_env: str = ""  # name of the environment variable holding the password
    password_file: str = ""  # or a file whose first line is the password
    oauth2_token_command: str = ""  # or XOAUTH2: a command printing an access token
    folder: str = "INBOX"
    after: str = "move"  # move | flag (\Seen plus `keyword`, the mail stays)
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    keyword: str = "$GatewayProcessed"
    idle: bool = True
    idle_timeout: float = 29 * 60  # RFC 2177: re-issue IDLE before 30 minutes
    poll_interval: float = 60.0  # seconds between looks when the server has no IDLE
    batch_size: int = 50
    max_message_size: int = 25 * 1024 * 1024  # bigger mails are quarantined unread
    # Believe this server's Authentication-Results (with [auth]
    # trusted_authserv_ids) only if it removes incoming ones with those ids.
    trust_authentication_results: bool = False
    timeout: float = 60.0  # seconds a socket operation may take
    reconnect_max: float = 300.0  # longest wait between reconnection attempts

    @property
    def server(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SlaConfig:
    """``[mailbox.sla_default]`` or ``[mailbox.sla."<category>"]``: targets
    counted from the ticket's creation, e.g. MAPA's "Consulta Técnica" 2h."""

    first_response: str = ""  # an analyst acts (reply, question, solution...); empty: no target
    resolution: str = ""  # a solution is proposed, or the ticket is closed; empty: no target
    warning: str = "25%"  # warn the team when this share of the target is left, or this long before ("30min")


@dataclass(frozen=True)
class ScheduleConfig:
    """``[schedule]``: how often the scheduler wakes the sweeps inside ``gateway run``."""

    enabled: bool = True
    interval: float = 60.0  # seconds between deadline sweeps
    batch_size: int = 1000  # due tickets one sweep takes at most; the rest wait for the next


@dataclass(frozen=True)
class MailboxConfig:
    address: str
    protocol_prefix: str
    name: str = ""
    team: tuple[str, ...] = ()
    analysts: tuple[str, ...] = ()
    language: str = "pt_BR"
    # Mail to an internal mailbox is taken only from the submission listener,
    # LMTP/pipe delivery or [smtp] trusted_networks; its analyst senders need no other proof.
    internal: bool = False
    # Who #atribuir may name besides team and analysts: addresses, or "@domain" for a whole domain.
    assignable: tuple[str, ...] = ()
    # Deadlines, written as the seeds write them: 2h, 30min, 5d, 3bd.
    wait_limit: str = "5d"  # waiting for the requester -> closed (no_response)
    solved_limit: str = "3bd"  # solution unanswered -> closed (auto_accepted)
    reopen_window: str = ""  # a reply to a closed ticket within it reopens; empty: never
    survey_window: str = "30d"  # survey answers accepted for this long after closing
    wait_reminder: str = "1bd"  # remind the requester this long before wait_limit; empty: no reminder
    solved_reminder: str = "1bd"  # remind this long before solved_limit; empty: no reminder
    survey_reminder: str = "3bd"  # one survey reminder this long after the invitation; empty: none
    sla_default: SlaConfig | None = None  # [mailbox.sla_default]: targets for any category
    sla: tuple[tuple[str, SlaConfig], ...] = ()  # [mailbox.sla."<category>"], kept as (category, targets)
    # Business calendar.
    timezone: str = "America/Sao_Paulo"
    uf: str = ""  # adds that state's holidays to the national ones
    workday_start: str = "08:00"
    workday_end: str = "18:00"
    closed_dates: tuple[str, ...] = ()  # extra days off, YYYY-MM-DD
    imap: ImapConfig | None = None  # [mailbox.imap]: poll an existing IMAP account
    rules: str = ""  # a rule file (rules/cnes.toml), relative to the config file; empty: no rules

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]

    @property
    def display_name(self) -> str:
        return self.name or self.address

    @property
    def staff(self) -> frozenset[str]:
        """Team and analysts: whose word counts on this mailbox's tickets (with proof)."""
        return frozenset((*self.team, *self.analysts))

    def may_assign(self, address: str) -> bool:
        """Whether ``#atribuir`` may name ``address``: the staff, or an
        ``assignable`` address or ``@domain``."""
        address = address.strip().lower()
        local, _, domain = address.rpartition("@")
        if not _ASSIGNABLE_LOCAL.match(local) or not domain:
            return False  # "a%evil.example@us" or "a!b@us": a relay may route these out of the domain
        return address in self.staff or any(
            address == entry or (entry.startswith("@") and address.endswith(entry)) for entry in self.assignable)

    def sla_for(self, category: str | None) -> SlaConfig | None:
        """The targets for a ticket's category (case and accents ignored), else ``sla_default``."""
        wanted = _category_key(category or "")
        for name, targets in self.sla:
            if wanted and _category_key(name) == wanted:
                return targets
        return self.sla_default

    def address_with_token(self, token: str) -> str:
        """``atendimento+ATD-2026-000001-7@example.gov.br``: a reply to it finds its ticket."""
        local, domain = self.address.split("@", 1)
        return f"{local}+{token}@{domain}"


@dataclass(frozen=True)
class Settings:
    storage: StorageConfig = field(default_factory=StorageConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    submission: SubmissionConfig = field(default_factory=SubmissionConfig)
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    mailboxes: tuple[MailboxConfig, ...] = ()
    source: str = "<defaults>"

    def mailbox_for(self, address: str) -> tuple[MailboxConfig, str | None] | None:
        """The mailbox an address reaches, and its ``+token`` if any."""
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        token = None
        if "+" in local:
            local, token = local.split("+", 1)
        plain = f"{local}@{domain}"
        for mailbox in self.mailboxes:
            if mailbox.address == plain:
                return mailbox, (token.upper() if token else None)
        return None

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(m.address for m in self.mailboxes)

    def is_postmaster(self, address: str) -> bool:
        """``postmaster@`` or ``abuse@`` one of our mailboxes' domains, or a
        bare ``postmaster`` (RFC 5321 4.5.1: it must be accepted)."""
        local, at, domain = address.strip().strip("<>").lower().rpartition("@")
        if not at:
            return domain == "postmaster"
        return local in ("postmaster", "abuse") and domain in {m.domain for m in self.mailboxes}

    @property
    def postmaster_to(self) -> tuple[str, ...]:
        """Who reads mail to postmaster@ and abuse@: ``[smtp] postmaster``, else the first mailbox's team."""
        if self.smtp.postmaster:
            return (self.smtp.postmaster.strip().lower(),)
        return self.mailboxes[0].team if self.mailboxes else ()


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
}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "storage.sqlite_synchronous": ("FULL", "NORMAL", "EXTRA"),
    "outbound.mode": ("maildir", "smtp"),
    "outbound.security": ("none", "starttls", "tls"),
    "auth.requester_decisions": ("", "aligned", "any"),
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


def _build(defaults: dict[str, Any], user: dict[str, Any], source: str) -> Settings:
    unknown = set(user) - set(_SECTIONS) - {"mailbox"}
    if unknown:
        known = ", ".join(sorted([*_SECTIONS, "mailbox"]))
        raise ConfigError(source, sorted(unknown)[0], f"unknown section; expected one of {known}")
    sections = {}
    for name, cls in _SECTIONS.items():
        merged = {**defaults.get(name, {}), **_table(source, name, user.get(name, {}))}
        sections[name] = _dataclass_from(cls, merged, source, name)
    sections["outbound"] = _with_secret(sections["outbound"], "password", "GATEWAY_RELAY_PASSWORD")
    sections["web"] = _with_secret(sections["web"], "secret", "GATEWAY_WEB_SECRET", override=True)
    _check_submission(source, sections["submission"])
    _check_connections(source, sections["smtp"])
    _check_networks(source, "smtp.trusted_networks", sections["smtp"].trusted_networks)
    _check_networks(source, "web.trusted_proxies", sections["web"].trusted_proxies)
    if sections["smtp"].postmaster and not _ADDRESS.match(sections["smtp"].postmaster.strip()):
        raise ConfigError(source, "smtp.postmaster", f"{sections['smtp'].postmaster!r} is not an e-mail address")
    raw_mailboxes = user.get("mailbox", defaults["mailbox"])
    if not isinstance(raw_mailboxes, list) or not raw_mailboxes:
        raise ConfigError(source, "mailbox", "expected one or more [[mailbox]] tables")
    mailboxes = tuple(_with_rules(source, index, _mailbox(source, index, entry))
                      for index, entry in enumerate(raw_mailboxes))
    _check_unique(source, mailboxes)
    return Settings(**sections, mailboxes=mailboxes, source=source)


def _check_submission(source: str, submission: SubmissionConfig) -> None:
    if not submission.enabled:
        return
    if not submission.credentials_file:
        raise ConfigError(source, "submission.credentials_file",
                          "required when the submission listener is enabled; write it with `gateway hash-password`")
    if submission.require_tls and not (submission.tls_cert and submission.tls_key):
        raise ConfigError(source, "submission.tls_cert",
                          "AUTH needs STARTTLS: set tls_cert and tls_key (or require_tls = false on loopback only)")
    if submission.concurrent_checks < 1:
        raise ConfigError(source, "submission.concurrent_checks",
                          "0 would refuse every login; give 1 or more (2 suits a small server)")


def _check_connections(source: str, smtp: SmtpConfig) -> None:
    for key in ("max_connections", "max_connections_per_peer"):
        if getattr(smtp, key) < 1:
            raise ConfigError(source, f"smtp.{key}", f"{getattr(smtp, key)} would refuse every connection; "
                                                    "give 1 or more (defaults: 400 in total, 20 per peer)")


def _check_networks(source: str, key: str, networks: tuple[str, ...]) -> None:
    for network in networks:
        try:
            ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            raise ConfigError(source, key, f"{network!r} is not an address or network like 127.0.0.1, "
                                           "10.0.0.0/8 or ::1") from None


def _table(source: str, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(source, name, f"expected a [{name}] table, got {type(value).__name__}")
    return value


def _with_secret(section: Any, key: str, env: str, *, override: bool = False) -> Any:
    value = os.environ.get(env)
    if value and (override or not getattr(section, key)):
        return dataclasses.replace(section, **{key: value})
    return section


def _mailbox(source: str, index: int, entry: Any) -> MailboxConfig:
    where = f"mailbox[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(source, where, "expected a [[mailbox]] table")
    for required in ("address", "protocol_prefix"):
        if required not in entry:
            raise ConfigError(source, f"{where}.{required}", "missing; every mailbox needs it")
    entry = dict(entry)
    sla = _sla_table(source, f"{where}.sla", entry.pop("sla", {}))
    mailbox = dataclasses.replace(_dataclass_from(MailboxConfig, entry, source, where), sla=sla)
    address = mailbox.address.strip().lower()
    if not _ADDRESS.match(address) or "+" in address.split("@")[0]:
        raise ConfigError(source, f"{where}.address", f"{mailbox.address!r} is not a plain address like cnes@example.gov.br")
    if not _PREFIX.match(mailbox.protocol_prefix):
        raise ConfigError(source, f"{where}.protocol_prefix",
                          f"{mailbox.protocol_prefix!r} must be 2 to 8 capital letters, e.g. ATD")
    if mailbox.language not in _LANGUAGES:
        raise ConfigError(source, f"{where}.language", f"{mailbox.language!r} is not one of {', '.join(_LANGUAGES)}")
    for key in ("team", "analysts"):
        for member in getattr(mailbox, key):
            if not _ADDRESS.match(member.strip()):
                raise ConfigError(source, f"{where}.{key}", f"{member!r} is not an e-mail address")
    for entry in mailbox.assignable:
        if not (_ADDRESS.match(entry.strip()) or _ADDRESS.match("x" + entry.strip())) or "@" not in entry:
            raise ConfigError(source, f"{where}.assignable",
                              f"{entry!r} is neither an address nor a domain written as @example.gov.br")
    _check_time_settings(source, where, mailbox)
    if mailbox.imap is not None:
        mailbox = dataclasses.replace(mailbox, imap=_check_imap(source, f"{where}.imap", mailbox.imap))
    return dataclasses.replace(
        mailbox,
        address=address,
        team=tuple(m.strip().lower() for m in mailbox.team),
        analysts=tuple(m.strip().lower() for m in mailbox.analysts),
        assignable=tuple(m.strip().lower() for m in mailbox.assignable),
    )


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


def _check_time_settings(source: str, where: str, mailbox: MailboxConfig) -> None:
    from datetime import date, time
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from gateway.durations import DurationError, parse_duration

    for key in ("wait_limit", "solved_limit", "reopen_window", "survey_window"):
        value = getattr(mailbox, key)
        if key == "reopen_window" and value == "":
            continue
        try:
            parse_duration(value)
        except DurationError as error:
            raise ConfigError(source, f"{where}.{key}", str(error)) from None
    _check_deadline_settings(source, where, mailbox)
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
    for day in mailbox.closed_dates:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ConfigError(source, f"{where}.closed_dates", f"{day!r} is not a date like 2026-12-24") from None
    if mailbox.uf and mailbox.uf.upper() not in _UFS:
        raise ConfigError(source, f"{where}.uf", f"{mailbox.uf!r} is not a Brazilian state (UF) such as SP or DF")


def _sla_table(source: str, where: str, value: Any) -> tuple[tuple[str, SlaConfig], ...]:
    """``[mailbox.sla."Consulta Técnica"]`` tables, one per category."""
    if not isinstance(value, dict):
        raise ConfigError(source, where, f'expected [{where}."<category>"] tables, got {value!r}')
    table = []
    for category, targets in value.items():
        if not isinstance(targets, dict):
            raise ConfigError(source, f"{where}.{category}", f"expected a table with first_response/resolution, "
                                                            f"got {targets!r}")
        table.append((category.strip(), _dataclass_from(SlaConfig, targets, source, f"{where}.{category}")))
    return tuple(table)


def _check_deadline_settings(source: str, where: str, mailbox: MailboxConfig) -> None:
    from gateway.durations import DurationError, parse_duration

    for key in ("wait_reminder", "solved_reminder", "survey_reminder"):
        if getattr(mailbox, key):
            try:
                parse_duration(getattr(mailbox, key))
            except DurationError as error:
                raise ConfigError(source, f"{where}.{key}", f"{error} (or \"\" for none)") from None
    tables = [(f"{where}.sla_default", mailbox.sla_default)] if mailbox.sla_default else []
    tables += [(f"{where}.sla.{name}", targets) for name, targets in mailbox.sla]
    for place, targets in tables:
        for key in ("first_response", "resolution"):
            if getattr(targets, key):
                try:
                    parse_duration(getattr(targets, key))
                except DurationError as error:
                    raise ConfigError(source, f"{place}.{key}", str(error)) from None
        _check_warning(source, f"{place}.warning", targets.warning)


def _check_warning(source: str, key: str, value: str) -> None:
    from gateway.durations import DurationError, parse_duration

    if not value or (value.endswith("%") and value[:-1].strip().isdigit() and 0 < int(value[:-1]) < 100):
        return
    try:
        parse_duration(value)
    except DurationError:
        raise ConfigError(source, key, f"{value!r} is neither a share of the target like \"25%\" (1-99%) "
                                       "nor a duration like 30min, 2h or 1bd; \"\" for no warning") from None


def _category_key(name: str) -> str:
    """"Consulta Técnica" and "consulta  tecnica" are the same category."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(plain.casefold().split())


_UFS: Final = frozenset("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split())


_IMAP_CHOICES: Final = {"tls": ("implicit", "starttls", "plain"), "after": ("move", "flag")}
_IMAP_ATOM: Final = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")


def _check_imap(source: str, where: str, imap: ImapConfig) -> ImapConfig:
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
    port = imap.port or (993 if imap.tls == "implicit" else 143)
    return dataclasses.replace(imap, port=port)


def _check_unique(source: str, mailboxes: tuple[MailboxConfig, ...]) -> None:
    seen: dict[str, int] = {}
    for index, mailbox in enumerate(mailboxes):
        for key, value in (("address", mailbox.address), ("protocol_prefix", mailbox.protocol_prefix)):
            marker = f"{key}:{value}"
            if marker in seen:
                raise ConfigError(source, f"mailbox[{index}].{key}",
                                  f"{value!r} is already used by mailbox[{seen[marker]}]; each mailbox needs its own")
            seen[marker] = index


def _dataclass_from(cls: type, values: dict[str, Any], source: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(source, f"{where}.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(fields))}")
    converted = {}
    for key, value in values.items():
        converted[key] = _convert(value, hints[key], source, f"{where}.{key}")
        choices = _CHOICES.get(f"{where}.{key}")
        if choices and converted[key] not in choices:
            raise ConfigError(source, f"{where}.{key}", f"{value!r} is not one of {', '.join(choices)}")
    return cls(**converted)


def _convert(value: Any, hint: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(source, key, f"expected a list, got {value!r}")
        return tuple(_convert(item, typing.get_args(hint)[0], source, key) for item in value)
    if origin in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):  # a sub-table, e.g. [mailbox.imap]
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a [{key}] table, got {value!r}")
        return _dataclass_from(hint, value, source, key)
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(source, key, f"expected {_describe(hint)}, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    return {bool: "true or false", int: "a whole number >= 0", float: "a number >= 0", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))
