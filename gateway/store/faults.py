"""Which errors are the storage's fault, not the mail's.

A mail whose processing fails because the disk is full, the database went
away, a lock wait timed out or PostgreSQL chose it as a deadlock victim
would succeed a minute later unchanged: it must stay accepted and be tried
again, never quarantined.  An error of the mail's own making (a step that
raises on its content, a value a column refuses) is not in this list, and
quarantine is still where that mail goes.

:func:`storage_fault` names the kind, following the causes of ``error``
(SQLAlchemy wraps the driver's error; a step may wrap SQLAlchemy's).  The
kinds are the values of ``gateway_storage_errors_total{kind}``::

    disk_full      SQLite "database or disk is full", PostgreSQL 53100, ENOSPC
    unavailable    no connection, the server shutting down, out of resources
    lock_timeout   SQLite "database is locked", PostgreSQL lock or statement timeout
    conflict       PostgreSQL serialization failure or deadlock (40001, 40P01)
    io             an I/O error under the database
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Final

from sqlalchemy import exc as sa_exc

from gateway.errors import StorageUnavailable

KINDS: Final = ("disk_full", "unavailable", "lock_timeout", "conflict", "io")

_SQLITE_WORDS: Final = (("full", "disk_full"), ("locked", "lock_timeout"), ("busy", "lock_timeout"),
                        ("disk i/o", "io"), ("unable to open", "unavailable"), ("readonly", "unavailable"))
# PostgreSQL SQLSTATEs, exact first, then by class (their first two characters).
_SQLSTATES: Final = {"53100": "disk_full", "40001": "conflict", "40P01": "conflict", "55P03": "lock_timeout",
                     "57014": "lock_timeout"}
_SQLSTATE_CLASSES: Final = {"08": "unavailable", "53": "unavailable", "57": "unavailable", "58": "io"}


def storage_fault(error: BaseException | None) -> str | None:
    """The kind of storage trouble behind ``error``, or None if it is not the storage's."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        kind = _kind(error)
        if kind is not None:
            return kind
        if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
            error = error.orig
            continue
        error = error.__cause__ or error.__context__
    return None


def _kind(error: BaseException) -> str | None:
    if isinstance(error, StorageUnavailable):
        return "unavailable"
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "unavailable"
    if isinstance(error, sa_exc.TimeoutError):  # no connection free in the pool
        return "unavailable"
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return next((kind for word, kind in _SQLITE_WORDS if word in text), None)
    sqlstate = getattr(error, "sqlstate", None)
    if type(error).__module__.startswith("psycopg"):
        if isinstance(sqlstate, str):
            return _SQLSTATES.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
        if type(error).__name__ in ("OperationalError", "InterfaceError"):  # no server answer at all
            return "unavailable"
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    return None
