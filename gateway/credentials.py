"""Analysts' passwords for SMTP AUTH on the submission listener.

A check is deliberately slow (new hashes use 200,000 PBKDF2 rounds), so
the submission listener runs it in a worker thread
(:mod:`gateway.transports.auth_guard`), and a successful check is
remembered for the process's life (keyed by an HMAC of the password under
a per-process key, never the password itself): :meth:`Credentials.remembered`
answers from that memory alone, cheaply enough for the event loop, so a
login already verified needs no thread and waits for no busy one.  A login that is not in the
file costs the same as a wrong password for one that is: it is checked
against a dummy hash with the file's own rounds, so the time of an answer
does not tell which addresses have an account.

One line per analyst in the file named by ``[submission] credentials_file``:

    maria.lima@example.gov.br:pbkdf2_sha256$600000$<salt hex>$<hash hex>

``gateway hash-password ADDRESS`` writes such a line.  Passwords are never
stored in clear, and comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from gateway.errors import ConfigError

log = logging.getLogger("gateway.credentials")

_SCHEME: Final = "pbkdf2_sha256"
_ITERATIONS: Final = 200_000

#: ``hashlib.pbkdf2_hmac``'s signature: (hash name, password, salt, rounds) -> digest.
Pbkdf2 = Callable[[str, bytes, bytes, int], bytes]


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str, *, pbkdf2: Pbkdf2 = hashlib.pbkdf2_hmac) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        candidate = pbkdf2("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def _rounds(stored: str) -> int:
    """The PBKDF2 rounds of a stored hash (0 when unreadable)."""
    parts = stored.split("$")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0


class Credentials:
    """The analysts who may log in, read once from the file.

    ``pbkdf2`` is the hash function (a test passes a counting one).
    """

    def __init__(self, entries: dict[str, str], *, pbkdf2: Pbkdf2 = hashlib.pbkdf2_hmac) -> None:
        self._entries = entries
        self._pbkdf2 = pbkdf2
        self._key = secrets.token_bytes(32)
        self._known_good: set[tuple[str, bytes]] = set()
        # Checked for logins that have no entry: the highest rounds of the
        # file, a random salt and a digest no password produces.
        rounds = max((_rounds(stored) for stored in entries.values()), default=_ITERATIONS) or _ITERATIONS
        self._dummy = f"{_SCHEME}${rounds}${secrets.token_hex(16)}${secrets.token_hex(32)}"

    @classmethod
    def load(cls, path: Path | str) -> Credentials:
        entries: dict[str, str] = {}
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(path, "submission.credentials_file", f"cannot read it: {exc.strerror}") from exc
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            address, separator, stored = line.strip().partition(":")
            if not separator or "@" not in address or not stored.startswith(_SCHEME + "$"):
                raise ConfigError(path, f"line {number}",
                                  "expected 'address:pbkdf2_sha256$...' as written by `gateway hash-password`")
            entries[address.lower()] = stored
        return cls(entries)

    def knows(self, login: str) -> bool:
        """Whether ``login`` has an entry."""
        return login.strip().lower() in self._entries

    def fingerprint(self, login: str) -> str | None:
        """A digest of ``login``'s stored hash, None without an entry: a
        session opened under one password is known to end when the line
        changes (new password, account removed), without keeping the hash."""
        stored = self._entries.get(login.strip().lower())
        return None if stored is None else hashlib.sha256(stored.encode("ascii", "replace")).hexdigest()[:32]

    def remembered(self, login: str, password: str) -> bool:
        """Whether ``password`` was already verified as ``login``'s in this
        process: one HMAC, no PBKDF2 (``False`` says nothing: ask :meth:`verify`)."""
        return self._remember_key(login, password) in self._known_good

    def verify(self, login: str, password: str) -> bool:
        """Whether ``password`` is ``login``'s; slow on purpose, run it in a thread."""
        remembered = self._remember_key(login, password)
        login = remembered[0]
        if remembered in self._known_good:
            return True
        stored = self._entries.get(login)
        if stored is None:
            check_password(password, self._dummy, pbkdf2=self._pbkdf2)  # same cost as a wrong password
            return False
        if check_password(password, stored, pbkdf2=self._pbkdf2):
            self._known_good.add(remembered)
            return True
        return False

    def _remember_key(self, login: str, password: str) -> tuple[str, bytes]:
        return login.strip().lower(), hmac.new(self._key, password.encode("utf-8"), "sha256").digest()


class CredentialsFile:
    """The credentials file as it is now: re-read when it changes (its
    modification time, size or inode), so removing an analyst or changing a
    password takes effect without a restart.  A file that cannot be read or
    parsed any more gives None, and the caller lets nobody in (fail closed:
    keeping the old lines would keep a removed analyst in); the error is
    logged once per change."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._current: Credentials | None = None

    def current(self) -> Credentials | None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError as exc:
            stamp = (-1, -1, exc.errno or 0)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._current = Credentials.load(self.path)
                except ConfigError as error:
                    log.error("credentials file unusable, nobody may log in until it is fixed: %s", error)
                    self._current = None
            return self._current
