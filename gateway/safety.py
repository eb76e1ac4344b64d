"""Settings that are valid but unsafe once the gateway faces a network.

``config`` checks that each value is well formed; this module checks
combinations that are fine on one machine and dangerous anywhere else: the
public development secret behind a public address (anyone can sign links to
any ticket, since protocols are sequential), analysts' passwords over a
submission listener without TLS, an IMAP password and its mail in clear
text to a remote server, the admin listener (no login, no TLS) on a public
or every interface.  The test suite runs all of them on loopback on
purpose, so loopback is never reported.

``gateway check-config`` prints what :func:`unsafe_settings` finds and
fails; ``gateway run`` refuses to start on it, and ``gateway poll`` on
:func:`unsafe_imap`.  Each problem is a :class:`ConfigError` naming the key
and the fix, the same shape as any other config error.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from gateway.config import MailboxConfig, Settings, WebConfig
from gateway.errors import ConfigError

DEVELOPMENT_SECRET: Final = WebConfig.secret
MIN_SECRET_LENGTH: Final = 16
_MAKE_SECRET: Final = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def unsafe_settings(settings: Settings) -> list[ConfigError]:
    """Every unsafe setting of ``settings`` ([web], [submission], then each mailbox); empty when safe."""
    return [*_weak_web_secret(settings), *_submission_in_clear(settings), *_admin_exposed(settings),
            *unsafe_imap(settings)]


def unsafe_imap(settings: Settings, mailbox: str | None = None) -> list[ConfigError]:
    """``[mailbox.imap] tls = "plain"`` to a server that is not this machine
    (only ``mailbox``'s, when given: ``gateway poll --mailbox``)."""
    problems = []
    for index, config in enumerate(settings.mailboxes):
        if mailbox is not None and not _is(config, mailbox):
            continue
        imap = config.imap
        if imap is None or imap.tls != "plain" or is_loopback(imap.host):
            continue
        problems.append(ConfigError(
            settings.source, f"mailbox[{index}].imap.tls",
            f'"plain" to {imap.host}, which is not this machine: the password and every mail would cross '
            f'the network in clear text. Fix: tls = "implicit" (port 993) or tls = "starttls" (port 143); '
            f'"plain" is for a server on 127.0.0.1 only'))
    return problems


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: 127.0.0.0/8, ::1 or ``localhost``.

    Anything else, including ``0.0.0.0``, ``::`` and the empty string (all
    interfaces) and names we would have to resolve, counts as the network.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _weak_web_secret(settings: Settings) -> list[ConfigError]:
    """The secret, or one of the previous ones whose signatures are still
    read: either signs links anyone could make when it is weak."""
    web = settings.web
    weak = [("web.secret", reason)] if (reason := _weakness(web.secret)) is not None else []
    weak += [("web.previous_secrets", f"entry {index + 1} {reason}")
             for index, old in enumerate(web.previous_secrets) if (reason := _weakness(old)) is not None]
    if not weak:
        return []
    exposed = []
    if not is_loopback(urlsplit(web.base_url).hostname or ""):
        exposed.append(f"web.base_url ({web.base_url})")
    if web.enabled and not is_loopback(web.host):
        exposed.append(f"web.host ({web.host or 'all interfaces'})")
    if not exposed:
        return []
    verb = "is" if len(exposed) == 1 else "are"
    fix = {"web.secret": f"set GATEWAY_WEB_SECRET to a long random value (at least {MIN_SECRET_LENGTH} characters), "
                         f"e.g. the output of {_MAKE_SECRET}",
           "web.previous_secrets": "drop it from the list (links it signed stop working; a strong secret never "
                                   "needs a weak one kept)"}
    return [ConfigError(
        settings.source, key,
        f"{reason} while {' and '.join(exposed)} {verb} not loopback: anyone can sign links to any ticket "
        f"(protocols are sequential). Fix: {fix[key]}") for key, reason in weak]


def _weakness(secret: str) -> str | None:
    """Why ``secret`` cannot sign public links, or None.  Never quotes a set secret."""
    if secret == DEVELOPMENT_SECRET:
        return f"is the public development default {DEVELOPMENT_SECRET!r}"
    if not secret.strip():
        return "is empty"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is only {len(secret)} characters long"
    return None


def _submission_in_clear(settings: Settings) -> list[ConfigError]:
    submission = settings.submission
    if not submission.enabled or submission.require_tls or is_loopback(submission.host):
        return []
    return [ConfigError(
        settings.source, "submission.require_tls",
        f"false while the submission listener is on {submission.host or 'all interfaces'}, which is not "
        f"loopback: analysts' passwords would cross the network in clear text (AUTH before STARTTLS). "
        f'Fix: require_tls = true with tls_cert and tls_key, or submission.host = "127.0.0.1"')]


def _admin_exposed(settings: Settings) -> list[ConfigError]:
    """``[admin] host`` that is neither loopback nor one private address.

    The admin listener has no login and no TLS.  One interface of a private
    network (``10.0.0.5``), firewalled to the Prometheus server, is a
    deliberate choice; all interfaces (``0.0.0.0``, ``::``), a public
    address or a name we would have to resolve is not."""
    config = settings.admin
    if not config.enabled or is_loopback(config.host) or _is_private_interface(config.host):
        return []
    return [ConfigError(
        settings.source, "admin.host",
        f"{config.host or 'all interfaces'!s} is neither loopback nor a private address: /metrics and /healthz "
        f"(backlogs, mailboxes, error texts) would answer anyone, with no login. Fix: host = \"127.0.0.1\" "
        f"(scrape through an SSH tunnel or a proxy with TLS and a login), or the address of a private "
        f"interface firewalled to the Prometheus server")]


def _is_private_interface(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    return address.is_private and not address.is_unspecified


def _is(mailbox: MailboxConfig, address: str) -> bool:
    return mailbox.address == address.strip().lower()
