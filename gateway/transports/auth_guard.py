"""Password checks for the submission listener that neither stall it nor
make guessing fast (issue 13, security review item 8a).

The check is PBKDF2 and slow on purpose (~0.1 s), and aiosmtpd would run
it on the event loop that also serves every SMTP connection and the web
pages: 80 attempts once pushed ``/healthz`` to 2 s.  So:

- the check runs in a worker thread; the loop only awaits it;
- at most ``concurrent_checks`` run at once, and an attempt beyond that is
  answered ``454`` (try again later) at once instead of queueing thread
  work without bound;
- failures are counted per (client address, account).  Each failure is
  answered after a delay that doubles up to ``max_failure_delay``, and no
  new check for that pair starts before the delay has passed (a second
  attempt meanwhile gets ``454``).  The right password is never refused:
  from another address it works at once, from the same address once the
  delay has passed; guessing one account does not slow another.  Waiting
  is ``asyncio.sleep``: a connection being slowed down costs no thread.

Unknown accounts cost the same check as known ones
(:meth:`gateway.credentials.Credentials.verify`), so the delays and the
timings say nothing about which accounts exist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiosmtpd.smtp import AuthResult

log = logging.getLogger("gateway.submission")

#: ``(login, password) -> whether it is right``; slow, called in a thread.
Verifier = Callable[[str, str], bool]

#: Too many checks running: the client should come back.
BUSY: Final = "454 4.7.0 Too many login attempts being checked; try again later"
#: An attempt for this account from this address is already waiting or being checked.
ALREADY_CHECKING: Final = "454 4.7.0 A login for this account from your address is in progress; try again later"

FORGET_AFTER: Final = 3600.0  # seconds without a failure after which a pair starts afresh
MAX_TRACKED: Final = 10_000  # (address, account) pairs remembered; the oldest go first


@dataclass
class _Failures:
    """Recent failed logins of one account from one client address."""

    count: int = 0
    last: float = 0.0  # monotonic time of the last failure
    busy: bool = False  # an attempt of this pair is waiting or being checked


class AuthGuard:
    """Runs ``verify`` off the loop, capped, with a back-off per (address, account).

    ``clock`` and ``sleep`` are the monotonic clock and the awaitable pause
    (tests give their own).
    """

    def __init__(self, verify: Verifier, *, failure_delay: float = 1.0, max_failure_delay: float = 60.0,
                 concurrent_checks: int = 2, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._verify, self._clock, self._sleep = verify, clock, sleep
        self._failure_delay, self._max_failure_delay = failure_delay, max_failure_delay
        self._concurrent_checks = concurrent_checks
        self._running = 0  # checks whose thread has not finished, cancelled or not
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()  # least recent failure first

    @property
    def checks_running(self) -> int:
        """Password checks whose thread has not finished (those of clients that hung up included)."""
        return self._running

    def delay(self, failures: int) -> float:
        """Seconds before answering the ``failures``-th failure of a pair: 1, 2, 4 ... up to the max."""
        if failures <= 0:
            return 0.0
        return min(self._failure_delay * 2 ** min(failures - 1, 30), self._max_failure_delay)

    async def check(self, peer: str, login: str, password: str) -> AuthResult:
        """The answer to one AUTH: success with the lower-cased login, 535, or 454."""
        key = (peer, login.strip().lower())
        record = self._recent(key)
        if record is not None and record.busy:
            return AuthResult(success=False, handled=False, message=ALREADY_CHECKING)
        if record is not None:
            record.busy = True
        try:
            if record is not None:
                await self._sleep(max(0.0, record.last + self.delay(record.count) - self._clock()))
            if self._running >= self._concurrent_checks:
                log.warning("SMTP AUTH for %r from %s refused for now: %d checks running",
                            key[1][:100], peer, self._running)
                return AuthResult(success=False, handled=False, message=BUSY)
            if await self._verify_in_thread(login, password):
                self._failures.pop(key, None)
                return AuthResult(success=True, auth_data=key[1])
            record = self._failed(key, record)
            pause = self.delay(record.count)
            log.warning("failed SMTP AUTH for %r from %s (%d recent failures; answered in %.1f s)",
                        key[1][:100], peer, record.count, pause)
            await self._sleep(pause)
            return AuthResult(success=False, handled=False)
        finally:
            if record is not None:
                record.busy = False

    async def _verify_in_thread(self, login: str, password: str) -> bool:
        """``verify`` in the loop's default executor.  The slot is given back
        when the thread finishes, not when the client goes away: a client that
        hangs up mid-check must not let a flood start more threads than the cap."""
        loop = asyncio.get_running_loop()
        self._running += 1
        future = loop.run_in_executor(None, self._verify, login, password)
        future.add_done_callback(self._finished)
        return bool(await asyncio.shield(future))

    def _finished(self, future: asyncio.Future[bool]) -> None:
        self._running -= 1
        if not future.cancelled() and future.exception() is not None:  # read, so asyncio does not warn
            log.error("password check failed: %r", future.exception())

    def _recent(self, key: tuple[str, str]) -> _Failures | None:
        """The pair's failures, unless they are old enough to forget."""
        record = self._failures.get(key)
        if record is not None and not record.busy and self._clock() - record.last > FORGET_AFTER:
            del self._failures[key]
            return None
        return record

    def _failed(self, key: tuple[str, str], record: _Failures | None) -> _Failures:
        """Count one more failure of the pair; the least recently failing pairs
        are forgotten beyond MAX_TRACKED, so addresses × accounts cannot fill memory."""
        record = self._failures.get(key) or record or _Failures()
        record.busy = True  # until the failure has been answered (check's finally)
        record.count += 1
        record.last = self._clock()
        self._failures[key] = record
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)
        return record
