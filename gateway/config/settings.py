"""The settings of the whole gateway: one frozen dataclass per TOML section, and :class:`Settings`.

``gateway/defaults.toml`` writes every key out with its default and a
comment; ``load.load_settings`` builds these from it and the user's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.mailbox import MailboxConfig
from gateway.config.networks import LOOPBACK, in_networks


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///var/gateway.db"
    sqlite_synchronous: str = "FULL"
    # Where the MTA pipe (`gateway ingest`) keeps a mail it cannot accept
    # (rejected/) and the log of the `gateway process` it starts
    # (process.log); relative to the config file.  Empty: the SQLite
    # database's folder, or on PostgreSQL the pipe's working directory
    # (Postfix's queue directory, which its user cannot write: set it there).
    pipe_folder: str = ""

    def pipe_place(self) -> Path:
        """The pipe's folder (see ``pipe_folder``)."""
        if self.pipe_folder:
            return Path(self.pipe_folder)
        scheme, _, rest = self.url.partition("://")
        if scheme.lower().startswith("sqlite") and rest.startswith("/") and rest[1:]:
            return Path(rest[1:].partition("?")[0]).parent
        return Path()


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
        return via == "lmtp" and in_networks(peer, LOOPBACK)


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
    max_attempts: int = 150
    give_up_after: float = 432000.0  # seconds: 5 days (RFC 5321 4.5.4.1)
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
    # Secrets signed with before ``secret``: what they signed (links in mails,
    # Outlook's conversation tags) is still read, nothing new is signed with them.
    previous_secrets: tuple[str, ...] = ()
    link_max_age_days: int = 30  # links in mails stop working after this
    lookup_limit_per_ip: int = 10  # look-ups per client address per hour; more get 429
    lookup_limit_per_protocol: int = 3  # look-ups per protocol per hour (each may mail a link)
    # The team page (/equipe, gateway.web.team): a session lasts this long (or
    # until logout).  Logins go through [submission]'s guard (delays, cap).
    team_session_hours: int = 8
    # Proxies (addresses or CIDR) whose X-Forwarded-For names the client; no one else's is read.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def verifying_secrets(self) -> tuple[str, ...]:
        """The secrets a signature may have been made with: the current one first."""
        return (self.secret, *self.previous_secrets)


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
class ScheduleConfig:
    """``[schedule]``: how often the scheduler wakes the sweeps inside ``gateway run``."""

    enabled: bool = True
    interval: float = 60.0  # seconds between deadline sweeps
    batch_size: int = 1000  # due tickets one sweep takes at most; the rest wait for the next


@dataclass(frozen=True)
class LogConfig:
    """``[log]``: what a line looks like and how much is written."""

    format: str = "text"  # "text" or "json" (one object per line)
    level: str = "info"  # debug, info, warning, error


@dataclass(frozen=True)
class AdminConfig:
    """``[admin]``: the operator's listener (``/metrics``, ``/healthz``), apart
    from the citizens' pages and on loopback unless said otherwise."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8026
    # Processing lag (oldest accepted mail not yet processed), oldest due
    # outbox mail, and IMAP silence beyond which /healthz answers 503.
    max_processing_lag: float = 300.0
    max_outbox_age: float = 3600.0
    max_imap_silence: float = 900.0


@dataclass(frozen=True)
class RetentionConfig:
    """``[retention]``: how long personal data is kept (LGPD); 0 keeps it."""

    # Days after which a processed mail's raw bytes (and attachments' bytes)
    # are dropped; the ticket's text and counts stay.
    raw_mail_days: int = 0
    # Days after closure after which a ticket's personal data is anonymised.
    closed_ticket_days: int = 0


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
    log: LogConfig = field(default_factory=LogConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
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
