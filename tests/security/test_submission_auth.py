"""Issue 13, item 8a: submission AUTH that can neither stall the gateway
nor be used to guess passwords quickly, nor lock the right one out.

Through the real submission listener (and the pages of the same process):
the slow password check runs in a thread, so other clients and ``/healthz``
are answered while it runs; checks beyond ``concurrent_checks``, or a second
one from the same client address, get 454 at once (so one address spraying
account names cannot keep Maria out: security review P5); a password already
verified is let in without a check; failures slow down their own (client
address, account) pair, and after a few their address.
No test measures time: each proves its point by the ORDER of the answers.
Below them, the parts: the verifier does the same work for an unknown login
as for a wrong password, and the guard's back-off and cap.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import select
import shutil
import smtplib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.credentials import Credentials, hash_password
from gateway import logins
from gateway.transports.auth_guard import ADDRESS_BUSY, ALREADY_CHECKING, BUSY, AuthGuard
from tests.helpers.servers import free_port, wait_until
from tests.security.conftest import MARIA, PEDRO, Target

PASSWORD = "correta-cavalo-bateria-grampo"
GUESSER = "127.0.0.2"  # the attacker's address (any loopback address works on Linux)
OFFICE = "127.0.0.3"  # the analysts' office
ELSEWHERE = "127.0.0.4"  # another analyst's address


class RawClient:
    """An SMTP client that can send a command and read its reply later, so a
    test can see which of several answers came first."""

    def __init__(self, port: int, source: str = GUESSER) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        self.file = self.sock.makefile("rb")
        assert self.reply()[0] == 220
        self.send("EHLO raw.example")
        assert self.reply()[0] == 250

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("ascii") + b"\r\n")

    def auth_plain(self, login: str, password: str) -> None:
        self.send("AUTH PLAIN " + base64.b64encode(f"\0{login}\0{password}".encode()).decode("ascii"))

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise AssertionError("the server closed the connection")
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(text[4:] for text in lines)

    def answered(self) -> bool:
        """Whether a reply has arrived (without waiting for one)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def clients() -> Iterator[list[RawClient]]:
    """Raw clients a test opens; closed at the end even if it fails."""
    opened: list[RawClient] = []
    yield opened
    for client in opened:
        client.close()


def _credentials_file(folder: Path, iterations: int) -> Path:
    path = folder / f"analysts-{iterations}.txt"
    path.write_text(f"{MARIA}:{hash_password(PASSWORD, iterations=iterations)}\n"
                    f"{PEDRO}:{hash_password(PASSWORD, iterations=iterations)}\n")
    return path


@pytest.fixture(scope="module")
def slow_credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Credentials whose check takes about 1.5 s on this machine.  The
    measurement only sizes the hash (no assertion depends on it): the check
    must simply last longer than a few round trips to the server."""
    started = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"calibration", b"salt", 20_000)
    per_round = (time.perf_counter() - started) / 20_000
    return _credentials_file(tmp_path_factory.mktemp("slow"), max(20_000, int(1.5 / per_round)))


@pytest.fixture(scope="module")
def fast_credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _credentials_file(tmp_path_factory.mktemp("fast"), 1000)


def _desk(attack_desk: Any, credentials: Path, **submission: Any) -> Target:
    return attack_desk(submission={"enabled": True, "port": free_port(), "require_tls": False,
                                   "credentials_file": str(credentials), "failure_delay": 0.05,
                                   "max_failure_delay": 0.2, **submission})


def _login(port: int, login: str, password: str, *, source: str) -> int:
    """One AUTH PLAIN with smtplib's own client; the reply code."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
        client.ehlo()
        code, _ = client.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{login}\0{password}".encode()).decode())
        return code


# -- through the real listener -----------------------------------------------------------


def test_a_slow_password_check_holds_up_neither_the_pages_nor_other_clients(attack_desk, slow_credentials,
                                                                            clients):
    target = _desk(attack_desk, slow_credentials)
    port = target.settings.submission.port
    guesser = RawClient(port)
    clients.append(guesser)
    guesser.auth_plain(MARIA, "chute")  # ~1.5 s of PBKDF2 starts now
    health = httpx.get(f"{target.settings.web.base_url}/healthz", timeout=30)
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(OFFICE, 0)) as other:
        ehlo_code, _ = other.ehlo()
    assert health.status_code == 200 and ehlo_code == 250
    assert not guesser.answered(), "the page and the other client must be answered while the check runs"
    assert guesser.reply()[0] == 535


def test_checks_beyond_the_cap_are_told_to_come_back_at_once(attack_desk, slow_credentials, clients):
    target = _desk(attack_desk, slow_credentials, concurrent_checks=1)
    port = target.settings.submission.port
    first = RawClient(port)
    clients.append(first)
    first.auth_plain(MARIA, "chute")
    # A round trip through the same event loop: the first check is in its thread by now.
    assert httpx.get(f"{target.settings.web.base_url}/healthz", timeout=30).status_code == 200
    second = RawClient(port, source=OFFICE)
    clients.append(second)
    second.auth_plain(PEDRO, PASSWORD)
    code, text = second.reply()
    assert (code, text) == (454, BUSY[4:]), "no queue of thread work behind the running check"
    assert not first.answered()
    assert first.reply()[0] == 535
    assert _login(port, PEDRO, PASSWORD, source=OFFICE) == 235, "once the thread is free, the login works"


def test_after_failures_the_right_password_still_works_from_the_same_address(attack_desk, fast_credentials,
                                                                            clients):
    target = _desk(attack_desk, fast_credentials)
    port = target.settings.submission.port
    guesser = RawClient(port)
    clients.append(guesser)
    for _ in range(6):  # answered after 0.05, 0.1, 0.2, 0.2 ... s
        guesser.auth_plain(MARIA, "chute")
        assert guesser.reply()[0] == 535
    guesser.auth_plain(MARIA, PASSWORD)
    assert guesser.reply()[0] == 235, "a back-off, never a lock-out"


def test_guessing_one_account_slows_neither_another_address_nor_another_account(attack_desk, fast_credentials,
                                                                               clients, caplog):
    target = _desk(attack_desk, fast_credentials, failure_delay=30.0, max_failure_delay=60.0)
    port = target.settings.submission.port
    guesser = RawClient(port)
    clients.append(guesser)
    guesser.auth_plain(MARIA, "chute")
    wait_until(lambda: "failed SMTP AUTH for 'maria.lima@example.gov.br'" in caplog.text,
               what="the failure to be counted")
    # That failure is answered in 30 s.  Meanwhile:
    assert _login(port, MARIA, PASSWORD, source=OFFICE) == 235, "Maria from her office: at once"
    assert _login(port, PEDRO, PASSWORD, source=GUESSER) == 235, "another account from the same address"
    second = RawClient(port)
    clients.append(second)
    second.auth_plain(MARIA, PASSWORD)
    assert second.reply() == (454, ALREADY_CHECKING[4:]), "the guessed pair waits out its delay"
    assert not guesser.answered()


def test_an_unknown_account_gets_the_same_answer_as_a_wrong_password(attack_desk, fast_credentials, clients):
    target = _desk(attack_desk, fast_credentials)
    port = target.settings.submission.port
    answers = []
    for login in (MARIA, "ninguem@example.gov.br"):
        client = RawClient(port)
        clients.append(client)
        client.auth_plain(login, "chute")
        answers.append(client.reply())
    assert answers[0] == answers[1] and answers[0][0] == 535


def test_auth_is_still_refused_before_starttls_when_tls_is_required(attack_desk, fast_credentials, tmp_path,
                                                                     clients):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of Debian's base system"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    target = _desk(attack_desk, fast_credentials, require_tls=True, tls_cert=str(cert), tls_key=str(key))
    client = RawClient(target.settings.submission.port)
    clients.append(client)
    client.auth_plain(MARIA, PASSWORD)
    code, text = client.reply()
    assert code == 530 and "STARTTLS" in text, "no password in clear, not even to be refused"


def test_one_address_spraying_account_names_holds_one_check_and_maria_still_gets_in(attack_desk,
                                                                                   slow_credentials, clients):
    """Security review P5: each random account name is a new (address,
    account) pair, so no back-off applied, and 80 connections from one address
    kept both check slots full: Maria's right password got 454 from anywhere."""
    target = _desk(attack_desk, slow_credentials, failure_delay=30.0, max_failure_delay=60.0)
    port = target.settings.submission.port
    first = RawClient(port)
    clients.append(first)
    first.auth_plain(f"{uuid.uuid4().hex}@x.example", "chute")
    # A round trip through the same event loop: the first check is in its thread by now.
    assert httpx.get(f"{target.settings.web.base_url}/healthz", timeout=30).status_code == 200
    for _ in range(3):
        spray = RawClient(port)
        clients.append(spray)
        spray.auth_plain(f"{uuid.uuid4().hex}@x.example", "chute")
        assert spray.reply() == (454, ADDRESS_BUSY[4:]), "one check at a time from one address"
    assert _login(port, MARIA, PASSWORD, source=OFFICE) == 235, "the other slot is Maria's"
    assert not first.answered(), "the spray's first attempt is still pending (its failure is answered in 30 s)"


def test_a_password_already_verified_is_let_in_while_every_check_is_busy(attack_desk, slow_credentials, clients):
    target = _desk(attack_desk, slow_credentials, concurrent_checks=1, failure_delay=30.0, max_failure_delay=60.0)
    port = target.settings.submission.port
    assert _login(port, MARIA, PASSWORD, source=OFFICE) == 235  # checked once, the slow way
    guesser = RawClient(port)
    clients.append(guesser)
    guesser.auth_plain(PEDRO, "chute")
    assert httpx.get(f"{target.settings.web.base_url}/healthz", timeout=30).status_code == 200
    assert _login(port, PEDRO, PASSWORD, source=ELSEWHERE) == 454, "the only slot is the guesser's"
    assert _login(port, MARIA, PASSWORD, source=OFFICE) == 235, "remembered: no check, no slot needed"
    assert _login(port, PEDRO, PASSWORD, source=ELSEWHERE) == 454, "and the slot was the guesser's all along"
    assert not guesser.answered()


# -- the parts -----------------------------------------------------------------------------


class CountingPbkdf2:
    """hashlib.pbkdf2_hmac that records the rounds of each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, name: str, password: bytes, salt: bytes, rounds: int) -> bytes:
        self.calls.append(rounds)
        return hashlib.pbkdf2_hmac(name, password, salt, rounds)


def test_an_unknown_login_costs_one_hash_of_the_files_rounds_like_a_wrong_password():
    counting = CountingPbkdf2()
    credentials = Credentials({MARIA: hash_password(PASSWORD, iterations=1000),
                               PEDRO: hash_password(PASSWORD, iterations=3000)}, pbkdf2=counting)
    assert credentials.verify("ninguem@example.gov.br", "chute") is False
    unknown = counting.calls[:]
    counting.calls.clear()
    assert credentials.verify(PEDRO, "chute") is False
    assert unknown == counting.calls == [3000], "the dummy hash has the highest rounds of the file"
    counting.calls.clear()
    assert credentials.verify(MARIA, PASSWORD) is True and counting.calls == [1000]
    assert credentials.verify(MARIA, PASSWORD) is True and counting.calls == [1000], "remembered: no second hash"


class FakeTime:
    """A monotonic clock that ``sleep`` advances, recording each pause."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 3))
        self.now += seconds


def test_failures_double_the_pause_of_their_own_pair_only():
    fake = FakeTime()
    guard = AuthGuard(lambda login, password: password == PASSWORD, failure_delay=1.0, max_failure_delay=8.0,
                      clock=fake.clock, sleep=fake.sleep)

    async def attempts() -> list[bool]:
        results = [(await guard.check(GUESSER, MARIA, "chute")).success for _ in range(5)]
        fake.pauses.append(-1)  # a marker: what follows is other pairs and the right password
        results.append((await guard.check(GUESSER, PEDRO, PASSWORD)).success)
        results.append((await guard.check(OFFICE, MARIA, PASSWORD)).success)
        results.append((await guard.check(GUESSER, MARIA, PASSWORD)).success)
        return results

    assert asyncio.run(attempts()) == [False] * 5 + [True, True, True]
    # each failure answered after 1, 2, 4, 8, 8 s (no extra wait before the next:
    # the client could not ask sooner); then no pause for the others.
    assert [p for p in fake.pauses if p] == [1.0, 2.0, 4.0, 8.0, 8.0, -1]
    assert [guard.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_failures_are_forgotten_after_an_hour_and_never_pile_up_without_bound(monkeypatch):
    monkeypatch.setattr(logins, "MAX_TRACKED", 3)
    fake = FakeTime()
    guard = AuthGuard(lambda login, password: False, failure_delay=1.0, max_failure_delay=8.0,
                      clock=fake.clock, sleep=fake.sleep)

    async def attempts() -> None:
        for _ in range(3):
            await guard.check(GUESSER, MARIA, "chute")
        fake.now += logins.FORGET_AFTER + 1
        fake.pauses.clear()
        await guard.check(GUESSER, MARIA, "chute")  # starts afresh: answered after 1 s again
        for index in range(5):
            await guard.check(f"198.51.100.{index}", MARIA, "chute")

    asyncio.run(attempts())
    assert fake.pauses[0] == 1.0
    assert len(guard._failures) == 3, "the least recently failing pairs are forgotten first"
    assert (GUESSER, MARIA) not in guard._failures


def test_a_client_that_hangs_up_mid_check_keeps_its_slot_until_the_thread_ends():
    release = threading.Event()

    def verify(login: str, password: str) -> bool:
        release.wait(10)
        return False

    guard = AuthGuard(verify, failure_delay=0.0, concurrent_checks=1)

    async def scenario() -> tuple[str | None, int]:
        hung_up = asyncio.create_task(guard.check(GUESSER, MARIA, "chute"))
        await asyncio.sleep(0)  # its check is in a thread now
        hung_up.cancel()  # what aiosmtpd does when the client goes away
        meanwhile = await guard.check(OFFICE, PEDRO, PASSWORD)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await hung_up
        await _threads_done(guard)
        return meanwhile.message, guard.checks_running

    message, running = asyncio.run(scenario())
    assert message == BUSY, "the hung-up client's thread still holds the only slot"
    assert running == 0


async def _threads_done(guard: AuthGuard) -> None:
    """Wait (bounded) until the guard's worker threads have returned."""
    for _ in range(1000):  # the thread returns as soon as it is released
        if not guard.checks_running:
            return
        await asyncio.sleep(0.01)


def test_failures_from_one_address_slow_every_account_tried_from_it_after_a_few():
    fake = FakeTime()
    guard = AuthGuard(lambda login, password: password == PASSWORD, failure_delay=1.0, max_failure_delay=8.0,
                      clock=fake.clock, sleep=fake.sleep)

    async def attempts() -> list[bool]:
        for index in range(7):  # a new account each time: alone, each would be answered after 1 s
            await guard.check(GUESSER, f"{index}@x.example", "chute")
        fake.pauses.append(-1)
        fake.now -= 8.0  # another connection of the same address asks right after the 7th failure
        results = [(await guard.check(GUESSER, PEDRO, PASSWORD)).success]
        fake.pauses.append(-2)
        results.append((await guard.check(OFFICE, MARIA, PASSWORD)).success)
        return results

    assert asyncio.run(attempts()) == [True, True]
    # after ADDRESS_GRACE (3) failures the address's own delay counts: 1, 2, 4, 8 s;
    # the next account from it waits that out first; another address waits for nothing.
    assert logins.ADDRESS_GRACE == 3
    assert fake.pauses == [1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 8.0, -1, 8.0, -2]


def test_one_check_at_a_time_per_address_until_its_thread_ends():
    release = threading.Event()

    def verify(login: str, password: str) -> bool:
        if login.endswith("@x.example"):
            release.wait(10)
            return False
        return password == PASSWORD

    guard = AuthGuard(verify, failure_delay=0.0, concurrent_checks=2)

    async def scenario() -> tuple[str | None, bool, bool]:
        hung_up = asyncio.create_task(guard.check(GUESSER, "a@x.example", "chute"))
        await asyncio.sleep(0)  # its check is in a thread now
        hung_up.cancel()  # the client went away; its thread goes on
        same_address = await guard.check(GUESSER, "b@x.example", "chute")
        elsewhere = await guard.check(OFFICE, MARIA, PASSWORD)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await hung_up
        await _threads_done(guard)
        afterwards = await guard.check(GUESSER, PEDRO, PASSWORD)
        return same_address.message, elsewhere.success, afterwards.success

    assert asyncio.run(scenario()) == (ADDRESS_BUSY, True, True)


def test_a_remembered_password_is_answered_before_the_caps_without_a_check():
    release = threading.Event()
    checked: list[str] = []

    def verify(login: str, password: str) -> bool:
        checked.append(login)
        release.wait(10)
        return False

    guard = AuthGuard(verify, failure_delay=0.0, concurrent_checks=1,
                      remembered=lambda login, password: (login, password) == (MARIA, PASSWORD))

    async def scenario() -> tuple[str | None, bool]:
        running = asyncio.create_task(guard.check(GUESSER, "a@x.example", "chute"))
        await asyncio.sleep(0)  # the only slot, and GUESSER's one, are taken
        other = await guard.check(OFFICE, PEDRO, PASSWORD)
        maria = await guard.check(GUESSER, MARIA, PASSWORD)
        release.set()
        await running
        return other.message, maria.success

    assert asyncio.run(scenario()) == (BUSY, True)
    assert checked == ["a@x.example"], "no check for the remembered password"


def test_remembered_knows_only_passwords_already_verified_and_hashes_nothing():
    counting = CountingPbkdf2()
    credentials = Credentials({MARIA: hash_password(PASSWORD, iterations=1000)}, pbkdf2=counting)
    assert not credentials.remembered(MARIA, PASSWORD)
    assert credentials.verify(MARIA, PASSWORD)
    assert credentials.remembered(" Maria.Lima@Example.gov.br ", PASSWORD)
    assert not credentials.remembered(MARIA, "chute")
    assert not credentials.remembered(PEDRO, PASSWORD)
    assert counting.calls == [1000], "one hash, by verify"
