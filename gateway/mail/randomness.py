"""Random bytes for what every outgoing mail draws: its Message-ID, its VERP
token and its MIME boundary.

``secrets`` asks the kernel once per call (a ``getrandom`` system call);
six per new ticket were 2.7% of processing a ~3 KB mail.  Here the kernel's
bytes are drawn 4 KiB at a time and handed out in order, each byte once:
as unpredictable as ``secrets`` (they are the same bytes), with one system
call per ~150 mails.  A forked child starts with an empty pool, so parent
and child never hand out the same bytes.  Passwords, sessions and CSRF
tokens keep ``secrets``: they are few and worth no pool.
"""

from __future__ import annotations

import os
import threading
from typing import Final

_DRAW: Final = 4096
_lock = threading.Lock()
_pool = b""
_at = 0


def token_bytes(count: int) -> bytes:
    """``count`` random bytes from the kernel's generator, never handed out twice."""
    global _pool, _at
    with _lock:
        if _at + count > len(_pool):
            _pool, _at = os.urandom(max(_DRAW, count)), 0
        start = _at
        _at += count
        return _pool[start:_at]


def token_hex(count: int) -> str:
    """``count`` random bytes as hexadecimal (``secrets.token_hex``'s form)."""
    return token_bytes(count).hex()


def _forget() -> None:
    """A forked child: an empty pool, and a lock of its own (another thread
    of the parent may have held the lock when it forked)."""
    global _lock, _pool, _at
    _lock = threading.Lock()
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_forget)
