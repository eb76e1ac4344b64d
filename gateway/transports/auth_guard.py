"""SMTP AUTH's answers from the login guard (:mod:`gateway.logins`, where
the caps, the back-off and why they are so are written down): success with
the lower-cased login, ``535`` for a wrong password, ``454`` (try again
later) while the guard is busy or this login is being held back."""

from __future__ import annotations

from typing import Final

from aiosmtpd.smtp import AuthResult

from gateway.logins import LoginGuard, Verdict, Verifier

__all__ = ["ADDRESS_BUSY", "ALREADY_CHECKING", "BUSY", "AuthGuard", "Verifier"]

#: Too many checks running: the client should come back.
BUSY: Final = "454 4.7.0 Too many login attempts being checked; try again later"
#: An attempt for this account from this address is already waiting or being checked.
ALREADY_CHECKING: Final = "454 4.7.0 A login for this account from your address is in progress; try again later"
#: Another login from this address is being checked (one at a time per address).
ADDRESS_BUSY: Final = "454 4.7.0 A login from your address is being checked; try again later"

_BUSY_REPLIES: Final = {Verdict.BUSY: BUSY, Verdict.ALREADY_CHECKING: ALREADY_CHECKING,
                        Verdict.ADDRESS_BUSY: ADDRESS_BUSY}


class AuthGuard(LoginGuard):
    """The login guard answering in aiosmtpd's terms."""

    async def check(self, peer: str, login: str, password: str) -> AuthResult:  # type: ignore[override]
        verdict = await super().check(peer, login, password)
        if verdict is Verdict.RIGHT:
            return AuthResult(success=True, auth_data=login.strip().lower())
        if verdict is Verdict.WRONG:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=False, handled=False, message=_BUSY_REPLIES[verdict])
