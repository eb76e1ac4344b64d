"""Password checks that neither stall the event loop nor make guessing
fast: the submission listener's SMTP AUTH and the team page's login use
this one guard (``transports.auth_guard`` puts its verdicts in SMTP words,
``web.team`` in HTTP ones).

The check is PBKDF2 and slow on purpose, and aiosmtpd would run it on the
event loop that also serves every SMTP connection and the web pages: a
burst of attempts once kept ``/healthz`` waiting for seconds.  So:

- the check runs in a worker thread; the loop only awaits it;
- at most ``concurrent_checks`` run at once, and an attempt beyond that is
  answered "busy" (SMTP 454, HTTP 429) at once instead of queueing thread
  work without bound;
- at most one check runs per client address (an IPv6 client by its /64):
  another attempt from that address meanwhile is answered "busy" at once.  So one
  client spraying random accounts over many connections holds one thread,
  never all of them (without it, such connections kept the cap full and an
  analyst's right password got ``454`` from anywhere);
- a password already verified in this process is recognised without a
  check (``remembered``, one HMAC) and answered before any cap;
- failures are counted per (client address, account) and per client
  address across accounts.  Each failure is answered after a delay that
  doubles up to ``max_failure_delay``, and no new check for that pair
  starts before the delay has passed (a second attempt meanwhile is
  answered "busy"); the address's own delay starts after ``ADDRESS_GRACE`` failures
  (a few typos in an office behind one address slow nobody) and then holds
  back every account tried from it.  The right password is never refused:
  from another address it works at once, from the same address once the
  delays have passed.  Waiting is ``asyncio.sleep``: a connection being
  slowed down costs no thread.

Unknown accounts cost the same check as known ones
(:meth:`gateway.credentials.Credentials.verify`), so the delays and the
timings say nothing about which accounts exist.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

log = logging.getLogger("gateway.logins")

#: ``(login, password) -> whether it is right``; slow, called in a thread.
Verifier = Callable[[str, str], bool]

FORGET_AFTER: Final = 3600.0  # seconds without a failure after which a pair (or an address) starts afresh
MAX_TRACKED: Final = 10_000  # (address, account) pairs, and addresses, remembered; the oldest go first
ADDRESS_GRACE: Final = 3  # failures from one address, any accounts, before the address itself is slowed


class Verdict(enum.Enum):
    RIGHT = "right"
    WRONG = "wrong"  # answered after the pair's delay
    BUSY = "busy"  # too many checks running: come back
    ALREADY_CHECKING = "already_checking"  # this account from this address is waiting or being checked
    ADDRESS_BUSY = "address_busy"  # another login from this address is being checked


def peer_address(peer: object) -> str:
    """What connections and logins are counted by: the IP address of a
    socket address (or a host string), an IPv6 one by its /64 (a host often
    has a whole /64), an IPv4-mapped one as IPv4."""
    host = str(peer[0] if isinstance(peer, tuple) and peer else peer or "")
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class _Failures:
    """Recent failed logins of one account from one client address (or of
    any account from one address)."""

    count: int = 0
    last: float = 0.0  # monotonic time of the last failure
    busy: bool = False  # an attempt of this pair is waiting or being checked (pairs only)


class LoginGuard:
    """Runs ``verify`` off the loop, capped in all and per address, with a
    back-off per (address, account) and per address.

    ``remembered`` answers, cheaply and on the loop, whether a password was
    already verified (``None``: nothing is).  ``clock`` and ``sleep`` are the
    monotonic clock and the awaitable pause (tests give their own).
    """

    def __init__(self, verify: Verifier, *, failure_delay: float = 1.0, max_failure_delay: float = 60.0,
                 concurrent_checks: int = 2, remembered: Verifier | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, what: str = "SMTP AUTH") -> None:
        self._verify, self._remembered, self._clock, self._sleep = verify, remembered, clock, sleep
        self._what = what  # which door, for the log lines: "SMTP AUTH", "team page login"
        self._failure_delay, self._max_failure_delay = failure_delay, max_failure_delay
        self._concurrent_checks = concurrent_checks
        self._running = 0  # checks whose thread has not finished, cancelled or not
        self._checking: set[str] = set()  # addresses whose check's thread has not finished
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()  # least recent failure first
        self._addresses: OrderedDict[str, _Failures] = OrderedDict()  # failures per address, any account

    @property
    def checks_running(self) -> int:
        """Password checks whose thread has not finished (those of clients that hung up included)."""
        return self._running

    def delay(self, failures: int) -> float:
        """Seconds before answering the ``failures``-th failure of a pair: 1, 2, 4 ... up to the max."""
        if failures <= 0:
            return 0.0
        return min(self._failure_delay * 2 ** min(failures - 1, 30), self._max_failure_delay)

    def address_delay(self, failures: int) -> float:
        """Seconds an address waits after its ``failures``-th failure (any
        accounts): nothing for the first ADDRESS_GRACE, then as :meth:`delay`."""
        return self.delay(failures - ADDRESS_GRACE)

    async def check(self, peer: str, login: str, password: str) -> Verdict:
        """The verdict on one login attempt from ``peer`` (:func:`peer_address`)."""
        key = (peer, login.strip().lower())
        record = self._recent(key)
        if record is not None and record.busy:
            return Verdict.ALREADY_CHECKING
        if record is not None:
            record.busy = True
        try:
            wait = self._wait(peer, record)
            if wait > 0:
                await self._sleep(wait)
            if self._remembered is not None and self._remembered(login, password):
                self._failures.pop(key, None)
                return Verdict.RIGHT
            if peer in self._checking:
                return Verdict.ADDRESS_BUSY
            if self._running >= self._concurrent_checks:
                log.warning("%s for %r from %s refused for now: %d checks running",
                            self._what, key[1][:100], peer, self._running)
                return Verdict.BUSY
            if await self._verify_in_thread(peer, login, password):
                self._failures.pop(key, None)
                return Verdict.RIGHT
            record = self._failed(key, record)
            address = self._failed_address(peer)
            pause = max(self.delay(record.count), self.address_delay(address.count))
            log.warning("failed %s for %r from %s (%d recent failures, %d from the address; "
                        "answered in %.1f s)", self._what, key[1][:100], peer, record.count, address.count, pause)
            await self._sleep(pause)
            return Verdict.WRONG
        finally:
            if record is not None:
                record.busy = False

    def _wait(self, peer: str, record: _Failures | None) -> float:
        """Seconds before a check of this pair may start: until both its own
        and its address's delays have passed."""
        now, wait = self._clock(), 0.0
        if record is not None:
            wait = record.last + self.delay(record.count) - now
        address = self._recent_address(peer)
        if address is not None:
            wait = max(wait, address.last + self.address_delay(address.count) - now)
        return max(0.0, wait)

    async def _verify_in_thread(self, peer: str, login: str, password: str) -> bool:
        """``verify`` in the loop's default executor.  The slots (one of the
        cap, the address's one) are given back when the thread finishes, not
        when the client goes away: a client that hangs up mid-check must not
        let a flood start more threads than the caps."""
        loop = asyncio.get_running_loop()
        self._running += 1
        self._checking.add(peer)
        future = loop.run_in_executor(None, self._verify, login, password)
        future.add_done_callback(lambda done: self._finished(peer, done))
        return bool(await asyncio.shield(future))

    def _finished(self, peer: str, future: asyncio.Future[bool]) -> None:
        self._running -= 1
        self._checking.discard(peer)
        if not future.cancelled() and future.exception() is not None:  # read, so asyncio does not warn
            log.error("password check failed: %r", future.exception())

    def _recent(self, key: tuple[str, str]) -> _Failures | None:
        """The pair's failures, unless they are old enough to forget."""
        record = self._failures.get(key)
        if record is not None and not record.busy and self._clock() - record.last > FORGET_AFTER:
            del self._failures[key]
            return None
        return record

    def _recent_address(self, peer: str) -> _Failures | None:
        """The address's failures (any accounts), unless they are old enough to forget."""
        record = self._addresses.get(peer)
        if record is not None and self._clock() - record.last > FORGET_AFTER:
            del self._addresses[peer]
            return None
        return record

    def _failed(self, key: tuple[str, str], record: _Failures | None) -> _Failures:
        """Count one more failure of the pair; the least recently failing pairs
        are forgotten beyond MAX_TRACKED, so addresses × accounts cannot fill memory."""
        record = self._failures.get(key) or record or _Failures()
        record.busy = True  # until the failure has been answered (check's finally)
        return self._counted(self._failures, key, record)

    def _failed_address(self, peer: str) -> _Failures:
        """Count one more failure from the address, whatever the account; bounded as pairs are."""
        return self._counted(self._addresses, peer, self._recent_address(peer) or _Failures())

    def _counted(self, table: OrderedDict[Any, _Failures], key: Any, record: _Failures) -> _Failures:
        """``record`` one failure more, now, as ``table``'s newest entry; the
        oldest are forgotten beyond MAX_TRACKED."""
        record.count += 1
        record.last = self._clock()
        table[key] = record
        table.move_to_end(key)
        while len(table) > MAX_TRACKED:
            table.popitem(last=False)
        return record
