"""``[[mailbox]]``: one service address, its people, deadlines, calendar and sources.

Deadlines are read once, at load: a field here holds a :class:`Duration`
(``None`` where the file's ``""`` means "none"), never the text, so the
code that sets a deadline does not parse it again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from gateway.durations import Duration, Unit

_ASSIGNABLE_LOCAL: Final = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")

#: The states ``[mailbox.status_names]`` may name: each stored state of a
#: ticket, ``resolved`` (closed, a reply may still reopen it) and
#: ``accepted`` (closed with its solution accepted).  The same as
#: ``gateway.tickets.states.SHOWN_STATES`` (config sits below tickets; a
#: unit test keeps the two equal).
STATE_KEYS: Final = ("new", "assigned", "open", "waiting", "solved", "resolved", "accepted", "closed", "rejected")
STATE_NAME_MAX: Final = 60  # characters: a status is a few words in a mail line or a table cell

# What the loader adds to the message for a bad value of this key: the
# reminders have always said that "" turns them off.
ERROR_NOTE: Final = "error_note"
_OR_NONE: Final = {ERROR_NOTE: '(or "" for none)'}
# Keys that also take 0 (or "0") for "off", as a limit of nothing reads: the loader makes it None.
ZERO_IS_NONE: Final = "zero_is_none"
_OFF: Final = {ERROR_NOTE: '(or "" or 0 for off)', ZERO_IS_NONE: True}
#: ``[[mailbox]] digest``: a time of day, 24 h, written HH:MM ("08:00").
DIGEST_TIME: Final = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
#: ``[[mailbox]] legacy_references``: how much of a subject is searched (a
#: subject is already cut to 16,384 characters by the parser), and
#: the longest old number kept (anything longer is a pattern gone wrong).
LEGACY_SUBJECT_CHARS: Final = 1000
LEGACY_REFERENCE_MAX: Final = 100


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
    # The account's spam folder ("Junk"), watched, never read: each full look
    # asks STATUS for its unseen count and warns when it grew, since mail the
    # provider files as spam never reaches ``folder`` (PITFALLS E).  "": off.
    junk_folder: str = ""
    idle: bool = True
    idle_timeout: float = 29 * 60  # RFC 2177: re-issue IDLE before 30 minutes
    poll_interval: float = 60.0  # seconds between looks when the server has no IDLE
    batch_size: int = 50
    max_message_size: int = 25 * 1024 * 1024  # bigger mails are quarantined unread
    # Mails that reached the folder more days ago than this (the server's
    # arrival date) are left there, and an error names them: an old shared
    # mailbox is history to `gateway migrate`, not a flood of new requests and
    # acknowledgements (PITFALLS E, zammad#243).  0: take every mail.
    max_age_days: int = 7
    # Believe this server's Authentication-Results (with [auth]
    # trusted_authserv_ids) only if it removes incoming ones with those ids.
    trust_authentication_results: bool = False
    timeout: float = 60.0  # seconds a socket operation may take
    reconnect_max: float = 300.0  # longest wait between reconnection attempts

    @property
    def server(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Share:
    """A share of an SLA target in percent, 1 to 99: ``warning = "25%"``."""

    percent: int

    def __post_init__(self) -> None:
        if isinstance(self.percent, bool) or not isinstance(self.percent, int) or not 0 < self.percent < 100:
            raise ValueError(f"a share is a whole percentage from 1 to 99, got {self.percent!r}")

    def __str__(self) -> str:
        return f"{self.percent}%"


# When the team is warned before an SLA target: when this share of it is
# left ("25%"), or this long before it ("30min").
SlaWarning: TypeAlias = Share | Duration

# ``wait_reminder`` / ``solved_reminder``: one reminder this long before the
# limit ("1bd"), or a ladder of them (["7bd", "3bd"]: two reminders, the
# closure at the limit).  The loader keeps one value as a Duration, so a
# config written before ladders existed reads exactly as it did, and a list
# of two or more as a tuple (PITFALLS 6).
Reminders: TypeAlias = Duration | tuple[Duration, ...]


@dataclass(frozen=True)
class SlaConfig:
    """``[mailbox.sla_default]`` or ``[mailbox.sla."<category>"]``: targets
    counted from the ticket's creation, e.g. MAPA's "Consulta Técnica" 2h."""

    first_response: Duration | None = None  # an analyst acts (reply, question, solution...); None (""): no target
    resolution: Duration | None = None  # a solution is proposed, or the ticket is closed; None (""): no target
    warning: SlaWarning | None = Share(25)  # "25%" or "30min" in the file; None (""): no warning


@dataclass(frozen=True)
class MailboxConfig:
    address: str
    protocol_prefix: str
    name: str = ""
    team: tuple[str, ...] = ()
    analysts: tuple[str, ...] = ()
    language: str = "pt_BR"
    # A first mail plainly in another language we ship (mail.language) sets its ticket's language;
    # an unclear one takes the requester's last ticket's, else ``language``.
    detect_language: bool = False
    # Mail to an internal mailbox is taken only from the submission listener,
    # LMTP/pipe delivery or [smtp] trusted_networks; its analyst senders need no other proof.
    internal: bool = False
    # Who #atribuir may name besides team and analysts: addresses, or "@domain" for a whole domain.
    assignable: tuple[str, ...] = ()
    # Deadlines, written in the file as service desks write them (2h, 30min, 5d, 3bd)
    # and parsed at load; None where the file says "" for none.
    wait_limit: Duration = Duration(5, Unit.DAYS)  # waiting for the requester -> closed (no_response)
    solved_limit: Duration = Duration(3, Unit.BUSINESS_DAYS)  # solution unanswered -> closed (auto_accepted)
    reopen_window: Duration | None = None  # a reply to a closed ticket within it reopens; None: never
    survey_window: Duration = Duration(30, Unit.DAYS)  # survey answers accepted for this long after closing
    # Remind the requester this long before wait_limit / solved_limit, or at each
    # of several such moments (a ladder, see Reminders); None: no reminder.
    wait_reminder: Reminders | None = field(default=Duration(1, Unit.BUSINESS_DAYS), metadata=_OR_NONE)
    solved_reminder: Reminders | None = field(default=Duration(1, Unit.BUSINESS_DAYS), metadata=_OR_NONE)
    # One survey reminder this long after the invitation; None: none.
    survey_reminder: Duration | None = field(default=Duration(3, Unit.BUSINESS_DAYS), metadata=_OR_NONE)
    sla_default: SlaConfig | None = None  # [mailbox.sla_default]: targets for any category
    sla: tuple[tuple[str, SlaConfig], ...] = ()  # [mailbox.sla."<category>"], kept as (category, targets)
    # Business calendar.
    timezone: str = "America/Sao_Paulo"
    uf: str = ""  # adds that state's holidays to the national ones
    workday_start: str = "08:00"
    workday_end: str = "18:00"
    closed_dates: tuple[str, ...] = ()  # extra days off, YYYY-MM-DD
    # An iCalendar file (relative to the config file) whose all-day events are days off too
    # (calendar.feeds), read when the mailbox's calendar is first built (start-up, check-config).
    closed_calendar: str = ""
    # The admin /healthz fails, naming this mailbox, when no mail has reached it
    # for this long in business time on the calendar above ("4h": four working
    # hours; nights, weekends and holidays do not count).  None ("" or 0): not watched.
    max_silence: Duration | None = field(default=None, metadata=_OFF)
    # The daily digest (services.digest) to the team and to each assignee, at this
    # local time ("08:00") on business days; "": none.
    digest: str = ""
    # The monthly report (services.monthly_report): the previous month's figures
    # of `gateway report` to these addresses; empty: none.  Sent on the first
    # business day on or after day `report_day` (1-28), at `report_time` (local).
    report_to: tuple[str, ...] = ()
    report_day: int = 1
    report_time: str = "08:00"
    imap: ImapConfig | None = None  # [mailbox.imap]: poll an existing IMAP account
    rules: str = ""  # a rule file (rules/cnes.toml), relative to the config file; empty: no rules
    # [mailbox.status_names]: the desk's own name for a state, as its citizens know it
    # (waiting = "Pendente Profissional"), kept as (state, name); the others keep ours.
    status_names: tuple[tuple[str, str], ...] = ()
    # The old numbers a legacy mailbox wrote in its subjects ("Chamado nº 1234"):
    # regular expressions with one group, compiled at load (checks.legacy_references).
    # `gateway migrate` keeps each ticket's as aliases; a later mail naming one in
    # its subject finds that ticket, for someone already on it.
    legacy_references: tuple[re.Pattern[str], ...] = ()

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

    @property
    def wait_reminders(self) -> tuple[Duration, ...]:
        """``wait_reminder`` as a ladder: every lead before ``wait_limit``, () for none."""
        return _ladder(self.wait_reminder)

    @property
    def solved_reminders(self) -> tuple[Duration, ...]:
        """``solved_reminder`` as a ladder: every lead before ``solved_limit``, () for none."""
        return _ladder(self.solved_reminder)

    @property
    def state_names(self) -> dict[str, str]:
        """``[mailbox.status_names]`` as a mapping: state (``waiting``) -> the desk's name for it."""
        return dict(self.status_names)

    def legacy_references_in(self, subject: str) -> list[str]:
        """The old numbers ``subject`` names, in ``legacy_references``' shapes,
        each once, as the patterns' group caught them with spaces collapsed
        and letters in capitals (``(?i)`` patterns find ``sr-2024/0042`` and
        ``SR-2024/0042`` alike): ``"RES: Chamado nº 1234"`` -> ``["1234"]``.

        Only the subject, and only its first ``LEGACY_SUBJECT_CHARS``: this
        runs on every live mail to the mailbox."""
        found: list[str] = []
        text = subject[:LEGACY_SUBJECT_CHARS]
        for pattern in self.legacy_references:
            for match in pattern.finditer(text):
                number = " ".join((match.group(1) or "").split()).upper()
                if number and len(number) <= LEGACY_REFERENCE_MAX and number not in found:
                    found.append(number)
        return found

    def address_with_token(self, token: str) -> str:
        """``atendimento+ATD-2026-000001-7@example.gov.br``: a reply to it finds its ticket."""
        local, domain = self.address.split("@", 1)
        return f"{local}+{token}@{domain}"


def _ladder(reminders: Reminders | None) -> tuple[Duration, ...]:
    if reminders is None:
        return ()
    return reminders if isinstance(reminders, tuple) else (reminders,)


def _category_key(name: str) -> str:
    """"Consulta Técnica" and "consulta  tecnica" are the same category."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(plain.casefold().split())
