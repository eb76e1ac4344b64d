"""The pool of kernel random bytes behind Message-IDs, VERP tokens and MIME
boundaries: each byte handed out once, in every thread, and never the same
in a forked child as in its parent."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from gateway.mail import randomness


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    """No test hands its (possibly made-up) pool to the next."""
    randomness._forget()
    yield
    randomness._forget()


def test_bytes_come_from_the_kernel_a_pool_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom
    monkeypatch.setattr(randomness.os, "urandom", lambda n: (calls.append(n), real(n))[1])
    drawn = [randomness.token_bytes(10) for _ in range(500)]
    assert calls == [4096, 4096]  # 5,000 bytes: a pool, then a fresh one from the draw that did not fit
    assert len(set(drawn)) == 500 and all(len(d) == 10 for d in drawn)
    assert len(randomness.token_bytes(10_000)) == 10_000 and calls[-1] == 10_000  # more than a pool at once


def test_no_byte_is_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool of known bytes: the draws, joined, are the pools in order."""
    pools = [bytes(range(256)) * 16, bytes(reversed(range(256))) * 16]
    monkeypatch.setattr(randomness.os, "urandom", lambda n: pools.pop(0)[:n])
    first = b"".join(randomness.token_bytes(16) for _ in range(256))
    assert first == bytes(range(256)) * 16
    assert randomness.token_hex(2) == "fffe"


def test_threads_never_share_a_draw() -> None:
    drawn: list[bytes] = []

    def draw() -> None:
        mine = [randomness.token_bytes(8) for _ in range(2_000)]
        drawn.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(drawn) == 8_000 and len(set(drawn)) == 8_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_hand_out_its_parents_bytes() -> None:
    randomness.token_bytes(1)  # the parent has a pool with bytes left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first draw, to the parent
        try:
            os.write(write, randomness.token_bytes(32))
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    parents_next = b"".join(randomness.token_bytes(32) for _ in range(127))  # the rest of the parent's pool
    assert len(child) == 32
    assert child not in parents_next


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_another_thread_draws_does_not_hang() -> None:
    """The lock held by a thread of the parent at the fork is never
    released in the child: the child gets a lock of its own."""
    read, write = os.pipe()
    held = randomness._lock
    held.acquire()  # another thread in the middle of a draw
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write, randomness.token_bytes(8))
            finally:
                os._exit(0)
    finally:
        held.release()
    os.close(write)
    for _ in range(100):  # up to 10 s
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the parent's lock")
    assert len(os.read(read, 64)) == 8
    os.close(read)
