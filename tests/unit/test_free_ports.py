"""The tests' port chooser: workers never pick the same port, and never one
the kernel may hand out as a client's local port in the meantime."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from tests.helpers import servers


def _slice(monkeypatch: pytest.MonkeyPatch, worker: str, count: str) -> set[int]:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", count)
    return set(servers._ports())


def test_workers_choose_from_slices_that_do_not_meet_below_the_ephemeral_range(
        monkeypatch: pytest.MonkeyPatch) -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    slices = [_slice(monkeypatch, f"gw{n}", "3") for n in range(3)]
    for one, other in itertools.combinations(slices, 2):
        assert not one & other
    for ports in slices:
        assert len(ports) > 1000 and max(ports) < low and min(ports) >= 10_000


def test_a_port_someone_holds_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "_PORTS", iter([]))
    with pytest.raises(AssertionError, match="no free port left"):
        servers.free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setattr(servers, "_PORTS", iter([taken, taken + 1 if taken < 65535 else taken - 1]))
        chosen = servers.free_port()
    assert chosen != taken
