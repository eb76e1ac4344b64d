"""``UtcDateTime``'s own SQLite bind step writes the text SQLAlchemy's two
steps (our ``process_bind_param``, then the DATETIME type's format) write:
rows written before and after must compare and sort the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from gateway.store.models import UtcDateTime

DIALECT = sqlite.dialect()
VALUES = [
    datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc),  # no microseconds: still written
    datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3))),  # next day in UTC
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),  # a 3-digit year is padded
    datetime(2027, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),  # the year before, in UTC
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: v.isoformat())
def test_sqlite_text_is_what_sqlalchemy_writes(value: datetime) -> None:
    ours = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    theirs = DateTime(timezone=True).dialect_impl(DIALECT).bind_processor(DIALECT)
    expected = theirs(UtcDateTime().process_bind_param(value, DIALECT))
    assert ours(value) == expected
    assert UtcDateTime().process_result_value(datetime.fromisoformat(ours(value)), DIALECT) == value


def test_a_naive_datetime_is_refused_on_sqlite() -> None:
    process = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2026, 11, 23, 12, 0))
    assert process(None) is None


def test_the_remembered_instant_never_answers_for_another() -> None:
    """``sqlite_text`` remembers the last value it wrote: each value, given
    again or after another, is still written as itself."""
    from gateway.store.utc import sqlite_text

    now = datetime(2026, 12, 7, 14, 0, 0, 123456, tzinfo=timezone.utc)
    later = now + timedelta(microseconds=1)
    same_elsewhere = now.astimezone(timezone(timedelta(hours=-3)))
    written = [sqlite_text(v) for v in (now, now, later, now, same_elsewhere, later)]
    assert written == ["2026-12-07 14:00:00.123456", "2026-12-07 14:00:00.123456", "2026-12-07 14:00:00.123457",
                       "2026-12-07 14:00:00.123456", "2026-12-07 14:00:00.123456", "2026-12-07 14:00:00.123457"]
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_text(now.replace(tzinfo=None))
    assert sqlite_text(now) == "2026-12-07 14:00:00.123456"
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for step in range(200):  # each a new object, freed at once: its address is soon another's
        assert sqlite_text(start + timedelta(seconds=step)) == f"2026-01-01 00:{step // 60:02d}:{step % 60:02d}.000000"
