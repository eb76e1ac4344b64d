"""The tests' port chooser: processes never pick the same port, and never
one the kernel may hand out as a client's local port in the meantime."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from tests.helpers import servers


def test_each_chooser_takes_whole_slices_nobody_else_holds_outside_the_ephemeral_range(tmp_path: Path) -> None:
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    # Three choosers in one process stand for three processes: flock locks
    # belong to the open file, so each keeps the others out of its slice.
    choosers = [servers._ports(tmp_path) for _ in range(3)]
    taken = [set(itertools.islice(chooser, servers._SLICE + 1)) for chooser in choosers]  # into a second slice
    for one, other in itertools.combinations(taken, 2):
        assert not one & other
    for ports in taken:
        assert len(ports) == servers._SLICE + 1
        assert all(port < low or port > high for port in ports)
    assert len(list(tmp_path.glob("*.lock"))) == 6
    for chooser in choosers:
        chooser.close()


def test_a_port_someone_holds_is_passed_over_and_running_out_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "_PORTS", iter([]))
    with pytest.raises(AssertionError, match="no free port left"):
        servers.free_port()
    with socket.socket() as released:
        released.bind(("127.0.0.1", 0))
        free = released.getsockname()[1]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setattr(servers, "_PORTS", iter([taken, free]))
        assert servers.free_port() == free
