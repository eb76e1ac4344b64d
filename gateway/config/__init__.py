"""Settings: embedded defaults, the user's TOML merged over them, frozen.

Every key has a default in ``gateway/defaults.toml``; a key the gateway
does not know, or a value of the wrong kind, stops start-up with the file,
the key and what is expected (``gateway check-config`` prints exactly that).
Durations are read once, at load: the settings hold :class:`Duration`
values, never their text.

- ``settings``: the frozen dataclass of each section, and :class:`Settings`
- ``mailbox``: ``[[mailbox]]`` with its SLA targets and ``[mailbox.imap]``
- ``load``: :func:`load_settings` (defaults, user file, overrides)
- ``convert``: TOML values into those dataclasses, by type hint
- ``checks``: what a well-typed value may still get wrong
- ``networks``: whether a peer is in a list of CIDR networks
"""

from __future__ import annotations

from gateway.config.load import DEFAULTS_PATH, load_settings
from gateway.config.mailbox import ImapConfig, MailboxConfig, Share, SlaConfig, SlaWarning
from gateway.config.networks import in_networks
from gateway.config.settings import (
    AuthConfig,
    LimitsConfig,
    OutboundConfig,
    ProcessingConfig,
    ScheduleConfig,
    Settings,
    SmtpConfig,
    StorageConfig,
    SubmissionConfig,
    TemplatesConfig,
    WebConfig,
)

__all__ = [
    "DEFAULTS_PATH",
    "AuthConfig",
    "ImapConfig",
    "LimitsConfig",
    "MailboxConfig",
    "OutboundConfig",
    "ProcessingConfig",
    "ScheduleConfig",
    "Settings",
    "Share",
    "SlaConfig",
    "SlaWarning",
    "SmtpConfig",
    "StorageConfig",
    "SubmissionConfig",
    "TemplatesConfig",
    "WebConfig",
    "in_networks",
    "load_settings",
]
