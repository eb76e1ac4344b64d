"""Aware datetimes as the store keeps them: UTC, and on SQLite the text
SQLAlchemy's DATETIME type writes.  ``models.UtcDateTime`` and the
driver-only paths of ``store.direct`` both read and write through here, so
a row reads the same whichever way wrote it."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store; use the Clock")
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)  # the clock's are UTC


def sqlite_text(value: datetime) -> str:
    """``2026-12-07 00:24:33.787000``: the instant in UTC, as stored on SQLite.

    The last instant written is remembered: one mail's rows carry the
    clock's ``now`` a dozen times (created, updated, each event, each
    queued mail), seven of them one after the other."""
    global _last
    held = _last
    if held[0] is value:
        return held[1]
    text = as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
    _last = (value, text)  # one tuple, swapped whole: a thread reading it never sees half of it
    return text


_last: tuple[datetime | None, str] = (None, "")


def from_sqlite_text(text: str) -> datetime:
    """The stored text back as an aware UTC datetime (any precision SQLite's own functions write)."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
