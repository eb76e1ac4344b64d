"""The closed sets of the ticket's life, named once.

Event kinds are what the timeline stores and the pages filter on;
closing reasons say how a ticket ended (and whether it was surveyed);
templates are the mails a change may send.  They are stored and rendered
as their string values, so a value here is a promise to the database, the
templates folder and the tests: rename one only with a migration.
"""

from __future__ import annotations

import enum
from typing import Final


class EventKind(str, enum.Enum):
    """What happened to a ticket (the ``kind`` of a timeline event)."""

    # the ticket's life: its moves between states
    CREATED = "created"
    OPENED = "opened"  # an analyst's first action
    ASKED = "asked"
    ANSWERED = "answered"
    SOLVED = "solved"
    REFUSED = "refused"
    ACCEPTED = "accepted"
    AUTO_ACCEPTED = "auto_accepted"
    CLOSED = "closed"
    REJECTED = "rejected"
    REOPENED = "reopened"
    # required data
    FIELDS_MISSING = "fields_missing"
    FIELDS_COMPLETED = "fields_completed"
    FIELDS_STILL_MISSING = "fields_still_missing"
    # what analysts and rules set
    ASSIGNED = "assigned"
    CATEGORY = "category"
    PRIORITY = "priority"
    SLA = "sla"
    TAGS = "tags"
    RULES = "rules"
    NOTE = "note"
    # mails
    FOLLOW_UP = "follow_up"
    ANALYST_REPLY = "analyst_reply"
    COMMAND_REJECTED = "command_rejected"
    COLLEAGUE_NOTE = "colleague_note"
    FORGED_ANALYST = "forged_analyst"
    BOUNCE = "bounce"
    AUTOMATIC_MAIL = "automatic_mail"
    ACK_SKIPPED = "ack_skipped"
    ANSWER_SKIPPED = "answer_skipped"
    DELIVERY_FAILED = "delivery_failed"
    ADDRESS_WORKS = "address_works"  # an address marked dead wrote again (tickets.bounces.wrote_again)
    TRACKING_LINK_SENT = "tracking_link_sent"
    MIGRATED = "migrated"
    # the requester's answers to a solution and to the survey
    REFUSAL_WITHOUT_REASON = "refusal_without_reason"
    CLARIFICATION_SENT = "clarification_sent"
    DECISION_UNCONFIRMED = "decision_unconfirmed"
    CONFIRMATION_SENT = "confirmation_sent"
    SURVEY_ANSWERED = "survey_answered"
    SURVEY_UPDATED = "survey_updated"
    # the clock
    REMINDED = "reminded"
    SURVEY_REMINDED = "survey_reminded"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"


class ClosedReason(str, enum.Enum):
    """How a ticket ended (``ticket.closed_reason``)."""

    ACCEPTED = "accepted"  # the requester accepted the solution
    AUTO_ACCEPTED = "auto_accepted"  # nobody answered the solution in time
    NO_RESPONSE = "no_response"  # nobody answered the question in time
    BY_ANALYST = "closed_by_analyst"  # #fechar
    REJECTED = "rejected"  # out of scope (#devolver or a rule)


#: Ticket ends that invite the requester to the satisfaction survey.
SURVEYED: Final = frozenset({ClosedReason.ACCEPTED, ClosedReason.AUTO_ACCEPTED})


class Template(str, enum.Enum):
    """A mail the gateway writes: ``templates/email/<language>/<value>.*.j2``."""

    ACK = "ack"
    TEAM_NEW = "team_new"
    TEAM_FOLLOWUP = "team_followup"
    TEAM_SLA_WARNING = "team_sla_warning"
    TEAM_SLA_BREACH = "team_sla_breach"
    TEAM_BOUNCE = "team_bounce"  # a mail of the ticket bounced (tickets.bounces)
    ANALYST_REPLY = "analyst_reply"
    QUESTION = "question"
    SOLUTION = "solution"
    CLARIFICATION = "clarification"
    REFUSAL_REASON_REQUEST = "refusal_reason_request"
    REJECTED = "rejected"
    CLOSED = "closed"
    CLOSED_NO_RESPONSE = "closed_no_response"
    CLOSED_AUTO_ACCEPTED = "closed_auto_accepted"
    REOPENED = "reopened"  # an analyst's #reabrir with their note, or the requester's reply in reopen_window
    FIELDS_RECEIVED = "fields_received"  # the requester's reply completed the data the ticket waited for
    REMINDER_WAITING = "reminder_waiting"
    REMINDER_SOLVED = "reminder_solved"
    SURVEY = "survey"
    SURVEY_REMINDER = "survey_reminder"
    CONFIRM_DECISION = "confirm_decision"
    MISSING_FIELDS = "missing_fields"
    ATTACHMENTS_REFUSED = "attachments_refused"
    COMMAND_DONE = "command_done"
    COMMAND_ERRORS = "command_errors"
    FORGED_WARNING = "forged_warning"
    TRACKING_LINK = "tracking_link"
    MIGRATED = "migrated"
