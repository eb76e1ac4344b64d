"""The use cases a processed mail may reach, built once and handed to the
pipeline's ``act`` step (and the writer to the pages and the sweeps).

Each use case is a small module of its own (``opening``, ``follow_ups``,
``analysts``, ``postmaster``); none imports another, and every change they
make goes through the one :class:`~gateway.services.writer.TicketWriter`.
"""

from __future__ import annotations

from gateway.config import Settings
from gateway.outbound.notices import Notifier
from gateway.services.analysts import Analysts, Rules
from gateway.services.bounces import Bounces
from gateway.services.follow_ups import FollowUps
from gateway.services.incoming import Incoming
from gateway.services.opening import Opening
from gateway.services.postmaster import Postmaster
from gateway.services.writer import TicketWriter

__all__ = ["Incoming", "Intake"]


class Intake:
    """What ``act`` may do with a mail: open a ticket, add a follow-up,
    apply an analyst's reply or a colleague's note, warn of a forgery,
    forward a postmaster mail, record a bounce."""

    def __init__(self, settings: Settings, notifier: Notifier, rules: Rules | None = None) -> None:
        self.settings = settings
        self.writer = TicketWriter(settings, notifier)
        self.opening = Opening(settings, self.writer)
        self.follow_ups = FollowUps(settings, self.writer, self.opening.open_ticket)
        self.analysts = Analysts(settings, self.writer, rules)
        self.postmaster = Postmaster(settings, notifier.renderer)
        self.bounces = Bounces(settings, self.writer)
