"""The processing worker says it is alive (store.processors) only while it
processes: after a pass that worked, at most every ``alive_every`` seconds;
a failed pass says nothing; a failure to say it never stops processing."""

from __future__ import annotations

import threading

from gateway.workers.processing import process_loop


class _Backlog:
    """Passes that fail as told, the loop stopped after ``passes``."""

    def __init__(self, stop: threading.Event, failing: set[int], passes: int) -> None:
        self.accepted = threading.Event()
        self.stop, self.failing, self.passes, self.done = stop, failing, passes, 0

    def drain(self, limit: int | None = None, stop: threading.Event | None = None) -> int:
        self.done += 1
        if self.done >= self.passes:
            self.stop.set()
        if self.done in self.failing:
            raise OSError("disk full")
        return 0


def _run(failing: set[int], passes: int, alive_every: float, alive) -> _Backlog:
    stop = threading.Event()
    backlog = _Backlog(stop, failing, passes)
    process_loop(backlog, stop, interval=0.0, alive=lambda: alive(backlog), alive_every=alive_every)
    return backlog


def test_alive_after_each_good_pass_and_never_after_a_failed_one(monkeypatch) -> None:
    monkeypatch.setattr("gateway.workers.processing._FIRST_PAUSE", 0.0)  # no waiting after the failed passes
    said: list[int] = []
    backlog = _run({2, 3}, passes=5, alive_every=0.0, alive=lambda b: said.append(b.done))
    assert backlog.done == 5 and said == [1, 4], "not after 2 and 3, which failed, nor 5: stopping by then"


def test_alive_at_most_every_so_often() -> None:
    said: list[int] = []
    _run(set(), passes=50, alive_every=3600.0, alive=lambda b: said.append(b.done))
    assert said == [1]


def test_a_failure_to_say_alive_is_tried_again_and_stops_nothing() -> None:
    calls: list[int] = []

    def alive(_backlog: _Backlog) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("database is locked")

    backlog = _run(set(), passes=4, alive_every=3600.0, alive=alive)
    assert backlog.done == 4 and len(calls) == 2, "tried again after the next pass, then every hour"
