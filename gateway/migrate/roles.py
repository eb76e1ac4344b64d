"""Who wrote each legacy mail: the team or a citizen.

A shared mailbox mixes both sides of every conversation.  A mail is the
team's when its sender is the mailbox address itself, an address of the
mailbox's ``team`` or ``analysts`` list (plus any given with
``--analyst``), or when it sits in a Sent folder (whoever the client put
in From).  Everyone else is outside; the first outside sender of a
conversation is its requester.  No proof of identity is asked here, unlike
live mail: these mails were already answered, nothing is obeyed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gateway.config import MailboxConfig
from gateway.mail.addresses import split_token

#: Folder names that hold the team's own sent mail (Dovecot, Exchange, Gmail, pt-BR clients).
SENT_FOLDERS: Final = ("Sent", "Sent Items", "Sent Messages", "Enviados", "Itens Enviados",
                       "Mensagens Enviadas", "[Gmail]/Sent Mail", "INBOX.Sent", "INBOX/Sent")


@dataclass(frozen=True)
class Team:
    """The addresses and folders that mean "written by the service"."""

    addresses: frozenset[str]
    sent_folders: frozenset[str]

    @classmethod
    def of(cls, mailbox: MailboxConfig, *, analysts: Iterable[str] = (),
           sent_folders: Iterable[str] = SENT_FOLDERS) -> Team:
        addresses = {mailbox.address, *mailbox.team, *mailbox.analysts, *analysts}
        return cls(frozenset(a.strip().lower() for a in addresses if a.strip()),
                   frozenset(f.strip().lower() for f in sent_folders))

    def is_team_address(self, address: str) -> bool:
        """The mailbox's own address counts with any ``+token``."""
        return split_token(address)[0] in self.addresses if address else False

    def wrote(self, sender: str, folder: str) -> bool:
        return folder.strip().lower() in self.sent_folders or self.is_team_address(sender)

    def outside(self, addresses: Iterable[str]) -> list[str]:
        """The addresses that are not the team's, in order, without repeats."""
        return list(dict.fromkeys(a for a in addresses if a and "@" in a and not self.is_team_address(a)))
