"""What every command shares: the settings, the gateway, the process's umask
and the refusal of unsafe settings."""

from __future__ import annotations

import os
import sys
from typing import Any, Final

import click

from gateway.config import Settings, load_settings
from gateway.errors import ConfigError

# Owner read-write, group read, others nothing: the database holds citizens'
# mails and CPFs, the outbox their answers.  Applied before any file exists.
PRIVATE_UMASK: Final = 0o027

# Masking is the default because a terminal's output ends up in scrollback,
# screenshots and pasted tickets; seeing a CPF is a deliberate act.
REVEAL_HELP: Final = ("Show CPFs, phone numbers and addresses as written "
                      "(default: masked, e.g. ***.533.447-**, (61) *****-8888).")


def settings_of(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)


def gateway_of(ctx: click.Context, settings: Settings | None = None) -> Any:
    from gateway.app import Gateway

    settings = settings or settings_of(ctx)
    try:
        return Gateway(settings)
    except ConfigError as error:  # a broken rule file
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)


def restrict_umask() -> None:
    """Take away at least group-write and every "others" bit from what we create.

    A service started from a shell or a unit without ``UMask=`` inherits
    022, and SQLite, the Maildir and any log file would be world-readable.
    A stricter umask inherited from the caller (077) is kept, never widened.
    """
    inherited = os.umask(PRIVATE_UMASK)
    os.umask(inherited | PRIVATE_UMASK)


def refuse_unsafe(problems: list[ConfigError], command: str) -> None:
    """Exit 2 before anything starts if the settings are unsafe on a network
    (``gateway.safety``), naming each key and its fix."""
    if not problems:
        return
    for problem in problems:
        click.echo(f"unsafe setting: {problem}", err=True)
    click.echo(f"gateway {command}: refusing to start; fix the setting(s) above "
               "(`gateway check-config` lists them all)", err=True)
    sys.exit(2)


def instant(text: str) -> Any:
    """``--now``: an ISO 8601 instant with its UTC offset."""
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 instant like 2026-11-25T18:00-03:00",
                                 param_hint="--now") from None
    if value.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no UTC offset; write e.g. 2026-11-25T18:00-03:00 or ...Z",
                                 param_hint="--now")
    return value


def iso(value: Any) -> str | None:
    return value.isoformat() if value else None
