"""``gateway mta-config postfix``: what an operator pastes into Postfix.

Like Mailman's ``mailman aliases``: the Postfix side is generated from the
``[[mailbox]]`` list and ``[smtp]``, so it cannot drift from the gateway's
own idea of its addresses.  The files are the very ones the Postfix tests
(tests/integration/postfix/) load into a real Postfix, so what is printed
here is what is tested.

LMTP is the recommended path (``[smtp] lmtp = true``): Postfix delivers to
the running gateway as it would to Dovecot, and per-recipient replies tell
it exactly what was stored.  ``--pipe`` instead runs ``gateway ingest`` for
each mail from master.cf, for sites that cannot keep a listener running.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click

from gateway.cli.common import settings_of
from gateway.config import Settings
from gateway.mail import verp

DEFAULT_MAP_DIR: Final = "/etc/postfix/gateway"
# The pipe transport's name in master.cf and in the transport map.
PIPE_SERVICE: Final = "gateway"
# F: an mbox "From sender date" line first (ingest takes it off); R: a
# Return-Path header; q: quote odd characters in the addresses it passes.
PIPE_FLAGS: Final = "FRq"
_WILDCARD_HOSTS: Final = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class PostfixConfig:
    """The generated files, by the name ``--output`` gives them."""

    transport: str
    recipients: str
    main_cf: str  # main.cf syntax: "name = value" lines with comments
    master_cf: str
    internal: str | None  # access map for internal mailboxes, if any
    map_dir: str
    map_type: str

    def files(self) -> dict[str, str]:
        files = {"transport": self.transport, "recipients": self.recipients,
                 "main.cf.add": self.main_cf, "master.cf.add": self.master_cf}
        if self.internal is not None:
            files["internal"] = self.internal
        return files

    def maps(self) -> list[str]:
        """The lookup tables, in the order they are shown."""
        return [name for name in ("transport", "recipients", "internal") if name in self.files()]

    def postmap(self, name: str) -> str:
        """The command that indexes a table after each change ("" for texthash, read as text)."""
        return "" if self.map_type == "texthash" else f"postmap {self.map_type}:{self.map_dir}/{name}"

    def as_text(self) -> str:
        """Everything on one page, for a terminal: maps, postconf lines, master.cf."""
        out = []
        for name in self.maps():
            then = f"  (then: {self.postmap(name)})" if self.postmap(name) else ""
            out.append(f"# ==> {self.map_dir}/{name}{then}")
            out.append(self.files()[name])
        out.append("# ==> main.cf: run these lines as they are")
        for line in self.main_cf.splitlines():
            out.append(line if line.startswith("#") or not line.strip() else f"postconf -e {shlex.quote(line)}")
        out.append("")
        out.append("# ==> master.cf: append")
        out.append(self.master_cf)
        return "\n".join(out)


def postfix_config(settings: Settings, *, pipe: bool, map_dir: str, map_type: str, gateway: str,
                   user: str, config: str | None) -> PostfixConfig:
    """Build the Postfix side of ``settings``; ``config`` is the absolute path
    the pipe's ``gateway ingest`` must read (required with ``pipe``)."""
    mailboxes = [m for m in settings.mailboxes if m.imap is None]
    domains = sorted({m.domain for m in mailboxes})
    nexthop = f"{PIPE_SERVICE}:" if pipe else _listener(settings)
    addresses = [m.address for m in mailboxes]
    # bounce@: the return path of the gateway's own mail (bounce+<token>@, found
    # as bounce@ through recipient_delimiter), where delivery reports come back.
    extra = [f"{local}@{domain}" for domain in domains for local in ("postmaster", "abuse", verp.LOCAL_PART)
             if f"{local}@{domain}" not in addresses]
    skipped = [m.address for m in settings.mailboxes if m.imap is not None]
    header = _header(settings, skipped)
    width = max((len(a) for a in [*addresses, *extra]), default=0) + 2
    transport = header + (
        f"# transport_maps: which Postfix transport and next hop takes each address.\n"
        + "".join(f"{a:<{width}}{nexthop}\n" for a in addresses)
        + "# RFC 5321 asks for postmaster@ (and abuse@) of every domain we receive for;\n"
        + "# the gateway forwards them to [smtp] postmaster, never makes a ticket of them.\n"
        + "# bounce@ takes the delivery reports for the gateway's own mail (bounce+TOKEN@).\n"
        + "".join(f"{a:<{width}}{nexthop}\n" for a in extra))
    recipients = header + (
        "# relay_recipient_maps: the only addresses of these domains Postfix accepts;\n"
        "# any other gets 550 at RCPT, so nothing unknown is queued or bounced later.\n"
        + "".join(f"{a:<{width}}OK\n" for a in [*addresses, *extra]))
    internal_boxes = [m.address for m in mailboxes if m.internal]
    internal = None
    if internal_boxes:
        internal = header + (
            "# check_recipient_access: internal mailboxes take mail only from our own\n"
            "# networks and logged-in users (the gateway trusts whatever Postfix hands it).\n"
            + "".join(f"{a:<{width}}permit_mynetworks, permit_sasl_authenticated, reject\n"
                      for a in internal_boxes))
    return PostfixConfig(
        transport=transport, recipients=recipients, internal=internal, map_dir=map_dir, map_type=map_type,
        main_cf=_main_cf(settings, domains, map_dir, map_type, internal is not None),
        master_cf=_master_cf(gateway, user, config) if pipe else (
            "# Nothing to add for LMTP: Postfix's own lmtp transport delivers to the gateway.\n"),
    )


def _listener(settings: Settings) -> str:
    """The next hop for the gateway's listener: ``lmtp:inet:HOST:PORT`` or ``smtp:[HOST]:PORT``."""
    host = _WILDCARD_HOSTS.get(settings.smtp.host, settings.smtp.host)
    if settings.smtp.lmtp:
        return f"lmtp:inet:[{host}]:{settings.smtp.port}" if ":" in host else \
            f"lmtp:inet:{host}:{settings.smtp.port}"
    return f"smtp:[{host}]:{settings.smtp.port}"


def _header(settings: Settings, skipped: list[str]) -> str:
    text = f"# Generated by `gateway mta-config postfix` from {settings.source}; do not edit, regenerate.\n"
    if skipped:
        text += f"# Not here (read from IMAP, not delivered by Postfix): {', '.join(skipped)}\n"
    return text


def _main_cf(settings: Settings, domains: list[str], map_dir: str, map_type: str, internal: bool) -> str:
    lines = [
        "# Postfix relays these domains (to the gateway) instead of delivering them itself.",
        "# If relay_domains already lists others, keep them in the same line.",
        f"relay_domains = {', '.join(domains)}",
        "# Which transport takes each gateway address (see the transport file).",
        f"transport_maps = {map_type}:{map_dir}/transport",
        "# Refuse unknown addresses of these domains at RCPT time.  If the domains are",
        "# in mydestination instead, add the same table to local_recipient_maps.",
        f"relay_recipient_maps = {map_type}:{map_dir}/recipients",
        "# atendimento+ATD-2026-000123@...: the +protocol part reaches the same mailbox,",
        "# and the gateway reads the protocol from it.",
        "recipient_delimiter = +",
    ]
    if internal:
        lines += [
            "# Internal mailboxes: only our networks and logged-in users may write to them.",
            "# If smtpd_recipient_restrictions is already set, put this check first in it.",
            f"smtpd_recipient_restrictions = check_recipient_access {map_type}:{map_dir}/internal",
        ]
    lines += [
        "# The gateway's own mail (acknowledgements, notices) leaves through this Postfix:",
        '# in the gateway\'s config, [outbound] mode = "smtp", host = "127.0.0.1", port = 25;',
        "# loopback is in mynetworks, so Postfix relays it without a login.",
    ]
    if settings.outbound.mode != "smtp":
        lines.append(f'# (this config has [outbound] mode = "{settings.outbound.mode}": nothing leaves by SMTP)')
    return "\n".join(lines) + "\n"


def _master_cf(gateway: str, user: str, config: str | None) -> str:
    assert config is not None  # checked by the command
    argv = " ".join(_master_word(part) for part in (gateway, "--config", config, "ingest"))
    return (
        "# pipe(8) runs `gateway ingest` for each mail, as the gateway's user, with every\n"
        "# recipient of the mail as arguments after `--`.  Exit 75 makes Postfix keep the\n"
        "# mail and retry (database down, config broken); 65, 67 and 78 bounce it.  --config is\n"
        "# explicit: the pipe runs from Postfix's queue directory, not from yours.\n"
        f"{PIPE_SERVICE:<9} unix  -       n       n       -       -       pipe\n"
        f"  flags={PIPE_FLAGS} user={user} null_sender=\n"
        f"  argv={argv} --sender ${{sender}} -- ${{recipient}}\n"
    )


def _master_word(text: str) -> str:
    """One argv word in master.cf: pipe(8) takes ``{ text }`` for words with spaces (Postfix 3.0+)."""
    return f"{{ {text} }}" if any(c.isspace() for c in text) else text


def _gateway_executable() -> str:
    """The ``gateway`` command of this installation (the venv's, if we run in one)."""
    beside = Path(sys.executable).parent / "gateway"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("gateway")
    return str(Path(found).absolute()) if found else ""


@click.group("mta-config")
def mta_config() -> None:
    """Print the MTA configuration that delivers mail to the gateway."""


@mta_config.command("postfix")
@click.option("--pipe", "use_pipe", is_flag=True,
              help="Deliver with pipe(8) running `gateway ingest` instead of LMTP/SMTP to the listener.")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Write transport, recipients, main.cf.add and master.cf.add into this folder.")
@click.option("--map-dir", default=None,
              help=f"Where Postfix will read the maps (default: --output, else {DEFAULT_MAP_DIR}).")
@click.option("--map-type", default="hash", show_default=True, help="Postfix lookup table type (hash, lmdb, texthash).")
@click.option("--gateway", "gateway_path", default=None,
              help="Absolute path of the gateway command for the pipe (default: this installation's).")
@click.option("--user", default="gateway", show_default=True, help="System user the pipe runs `gateway ingest` as.")
@click.pass_context
def postfix(ctx: click.Context, use_pipe: bool, output: str | None, map_dir: str | None, map_type: str,
            gateway_path: str | None, user: str) -> None:
    """Postfix maps, main.cf settings and master.cf lines for the [[mailbox]] list."""
    settings = settings_of(ctx)
    config = ctx.obj.get("config") or os.environ.get("GATEWAY_CONFIG")
    if use_pipe and not config:
        raise click.UsageError("--pipe needs the config file the pipe will read: "
                               "`gateway --config /etc/ticket-gateway/gateway.toml mta-config postfix --pipe`")
    gateway = gateway_path or _gateway_executable()
    if use_pipe and not Path(gateway).is_absolute():
        raise click.UsageError(f"--gateway {gateway or '(not found)'}: give the absolute path of the gateway command")
    if not any(m.imap is None for m in settings.mailboxes):
        raise click.UsageError(f"{settings.source}: every [[mailbox]] reads from IMAP; nothing for Postfix to deliver")
    folder = Path(output).absolute() if output else None
    generated = postfix_config(settings, pipe=use_pipe, map_type=map_type,
                               map_dir=map_dir or (str(folder) if folder else DEFAULT_MAP_DIR),
                               gateway=gateway, user=user, config=str(Path(config).absolute()) if config else None)
    if folder is None:
        click.echo(generated.as_text(), nl=False)
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in generated.files().items():
        (folder / name).write_text(text, encoding="utf-8")
    click.echo(f"wrote {', '.join(generated.files())} in {folder}")
    steps = [generated.postmap(name) for name in generated.maps() if generated.postmap(name)]
    steps += ["postconf -e each setting of main.cf.add", "append master.cf.add to master.cf", "postfix reload"]
    click.echo("next: " + "; ".join(steps))
