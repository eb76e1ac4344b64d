"""Analysts' passwords for SMTP AUTH on the submission listener.

aiosmtpd calls the authenticator on the event loop, so a check must not
take long: new hashes use 200,000 PBKDF2 rounds (about 0.1 s here) and a
successful check is remembered for the process's life (keyed by an HMAC
of the password under a per-process key, never the password itself).

One line per analyst in the file named by ``[submission] credentials_file``:

    maria.lima@example.gov.br:pbkdf2_sha256$600000$<salt hex>$<hash hex>

``gateway hash-password ADDRESS`` writes such a line.  Passwords are never
stored in clear, and comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Final

from gateway.errors import ConfigError

_SCHEME: Final = "pbkdf2_sha256"
_ITERATIONS: Final = 200_000


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


class Credentials:
    """The analysts who may log in, read once from the file."""

    def __init__(self, entries: dict[str, str]) -> None:
        self._entries = entries
        self._key = secrets.token_bytes(32)
        self._known_good: set[tuple[str, bytes]] = set()

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

    def verify(self, login: str, password: str) -> bool:
        login = login.strip().lower()
        remembered = (login, hmac.new(self._key, password.encode("utf-8"), "sha256").digest())
        if remembered in self._known_good:
            return True
        stored = self._entries.get(login)
        if stored is None:
            return False
        if check_password(password, stored):
            self._known_good.add(remembered)
            return True
        return False
