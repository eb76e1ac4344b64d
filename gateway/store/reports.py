"""What ``gateway report`` reads: grouped counts, one range scan per figure.

Each query ranges over one moment of one mailbox's tickets through its
``(mailbox, moment)`` index (migration 0010): opened by ``created_at``,
closed and returned by ``closed_at``, reopened by ``reopened_at``, first
responses by ``first_response_at``, resolutions by ``resolved_at``; the
backlog by ``closed_at`` (still open, or closed after the period).  Counts
are ``GROUP BY`` in SQL; only durations come back as rows (one per ticket
answered or resolved in the period, not per ticket stored), because their
medians are taken in working hours on the desk's calendar, which SQL does
not know (``gateway.reports``).

A ticket is counted by where it stands now: one closed in the period and
reopened since is not counted as closed (its ``closed_at`` was cleared),
and ``reopened_at`` is its last reopening.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gateway.store.models import TicketRow

_CLOSED, _REJECTED = "closed", "rejected"
_SURVEYED = ("accepted", "auto_accepted")  # tickets.kinds.SURVEYED, as stored
_WEEK_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Scope:
    """Whose tickets and when: a mailbox (None: all), ``[start, end)``, and
    what the rows are grouped by (``category``, ``assignee``, ``week``, None)."""

    mailbox: str | None
    start: datetime
    end: datetime
    by: str | None = None
    week_anchor: datetime | None = None  # Monday 00:00 local, for by="week"


@dataclass(frozen=True)
class Duration:
    """One ticket's start and end of a wait, for a median in working hours."""

    key: Any  # the group (a week: its index from the anchor)
    mailbox: str
    start: datetime
    end: datetime


def counts(tx: Session, scope: Scope) -> dict[Any, dict[str, int]]:
    """Tickets opened, closed, returned and reopened in the period, per group."""
    found: dict[Any, dict[str, int]] = defaultdict(dict)
    query = _grouped(tx, scope, TicketRow.created_at, func.count())
    for key, opened in tx.execute(query):
        found[key]["opened"] = opened
    query = _grouped(tx, scope, TicketRow.closed_at,
                     func.sum(case((TicketRow.status == _CLOSED, 1), else_=0)),
                     func.sum(case((TicketRow.status == _REJECTED, 1), else_=0)))
    for key, closed, returned in tx.execute(query):
        found[key]["closed"], found[key]["returned"] = int(closed or 0), int(returned or 0)
    for key, reopened in tx.execute(_grouped(tx, scope, TicketRow.reopened_at, func.count())):
        found[key]["reopened"] = reopened
    return dict(found)


def durations(tx: Session, scope: Scope, moment: str) -> list[Duration]:
    """From opening to ``moment`` (``first_response_at``, ``resolved_at``)
    for each ticket whose moment fell in the period."""
    column = getattr(TicketRow, moment)
    key = _key(tx, scope, column)
    query = (select(key, TicketRow.mailbox, TicketRow.created_at, column)
             .where(*_in_period(scope, column)))
    return [Duration(group, mailbox, start, end) for group, mailbox, start, end in tx.execute(query)]


def sla(tx: Session, scope: Scope, now: datetime) -> dict[str | None, dict[str, int]]:
    """Per category, over the tickets opened in the period with a target:
    met (on time), missed (late, or not yet and the target passed at
    ``now``) and pending (not yet, target ahead), for both targets."""
    figures: list[ColumnElement[Any]] = []
    for name, due, done in (("first_response", TicketRow.first_response_due_at, TicketRow.first_response_at),
                            ("resolution", TicketRow.resolution_due_at, TicketRow.resolved_at)):
        figures += [
            _count(and_(due.is_not(None), done.is_not(None), done <= due)).label(f"{name}_met"),
            _count(and_(due.is_not(None), or_(done > due, and_(done.is_(None), due <= now)))).label(f"{name}_missed"),
            _count(and_(due.is_not(None), done.is_(None), due > now)).label(f"{name}_pending"),
        ]
    query = (select(TicketRow.category, *figures).where(*_in_period(scope, TicketRow.created_at))
             .group_by(TicketRow.category))
    return {row[0]: {column: int(value or 0) for column, value in row._mapping.items() if column != "category"}
            for row in tx.execute(query)}


def survey_scores(tx: Session, scope: Scope) -> dict[Any, dict[int | None, int]]:
    """Tickets closed in the period with an accepted solution (the ones
    invited to the survey), per group and score (None: no answer)."""
    key = _key(tx, scope, TicketRow.closed_at)
    query = (select(key, TicketRow.survey_score, func.count())
             .where(*_surveyed(scope)).group_by(*([key] if scope.by else []), TicketRow.survey_score))
    found: dict[Any, dict[int | None, int]] = defaultdict(dict)
    for group, score, count in tx.execute(query):
        found[group][score] = count
    return dict(found)


def survey_comments(tx: Session, scope: Scope, limit: int) -> list[tuple[str, int, str]]:
    """(protocol, score, comment) of the surveyed tickets that left a comment, oldest closing first."""
    query = (select(TicketRow.protocol, TicketRow.survey_score, TicketRow.survey_comment)
             .where(*_surveyed(scope), TicketRow.survey_score.is_not(None), TicketRow.survey_comment.is_not(None),
                    TicketRow.survey_comment != "")
             .order_by(TicketRow.closed_at, TicketRow.id).limit(limit))
    return [(protocol, score, comment) for protocol, score, comment in tx.execute(query)]


def backlog(tx: Session, mailbox: str | None, at: datetime, edges_days: tuple[int, ...],
            labels: tuple[str, ...]) -> dict[str, int]:
    """Tickets open at ``at`` (created before it, not closed or closed after
    it) by age: ``labels[i]`` counts ages in ``[edges[i-1], edges[i])`` days.
    Two range scans of ``(mailbox, closed_at)``: still open, closed since."""
    bucket = case(*[(TicketRow.created_at > at - timedelta(days=edge), literal(label))
                    for edge, label in zip(edges_days, labels)], else_=literal(labels[-1]))
    mine = [TicketRow.mailbox == mailbox] if mailbox is not None else []
    found = dict.fromkeys(labels, 0)
    for still in (and_(TicketRow.closed_at.is_(None), TicketRow.status.not_in((_CLOSED, _REJECTED))),
                  TicketRow.closed_at >= at):
        query = (select(bucket, func.count()).where(*mine, still, TicketRow.created_at < at).group_by(bucket))
        for label, count in tx.execute(query):
            found[label] += count
    return found


# -- the parts ---------------------------------------------------------------


def _in_period(scope: Scope, column: Any) -> Iterator[ColumnElement[bool]]:
    if scope.mailbox is not None:
        yield TicketRow.mailbox == scope.mailbox
    yield column >= scope.start
    yield column < scope.end


def _surveyed(scope: Scope) -> list[ColumnElement[bool]]:
    return [*_in_period(scope, TicketRow.closed_at), TicketRow.status == _CLOSED,
            TicketRow.closed_reason.in_(_SURVEYED)]


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _grouped(tx: Session, scope: Scope, column: Any, *figures: ColumnElement[Any]) -> Any:
    key = _key(tx, scope, column)
    query = select(key, *figures).where(*_in_period(scope, column))
    return query.group_by(key) if scope.by else query


def _key(tx: Session, scope: Scope, moment: Any) -> ColumnElement[Any]:
    """What the rows are grouped by; a week is whole weeks from the anchor to ``moment``."""
    if scope.by == "category":
        return TicketRow.category
    if scope.by == "assignee":
        return TicketRow.assignee
    if scope.by == "week":
        if scope.week_anchor is None:
            raise ValueError("grouping by week needs the period's week_anchor")
        return _weeks(tx, moment, scope.week_anchor)
    if scope.by is None:
        return literal("total")
    raise ValueError(f"cannot group a report by {scope.by!r}; use category, assignee or week")


def _weeks(tx: Session, moment: Any, anchor: datetime) -> ColumnElement[Any]:
    """Whole weeks from ``anchor`` to ``moment``, as ``gateway.reports.week_index`` counts them."""
    if tx.get_bind().dialect.name == "sqlite":  # naive UTC text, as UtcDateTime stores it
        seconds = (cast(func.strftime("%s", moment), Integer)
                   - cast(func.strftime("%s", anchor.replace(tzinfo=None).isoformat(" ")), Integer))
        return cast(seconds / _WEEK_SECONDS, Integer)  # integer division: the moments are after the anchor
    return cast(func.floor(func.extract("epoch", moment - anchor) / _WEEK_SECONDS), Integer)
