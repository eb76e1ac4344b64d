"""A sliding-window counter in memory, for the look-up form.

In memory is enough: the limit protects requesters' mailboxes from a
flood of tracking-link mails and the protocol space from enumeration;
after a restart the windows start over, which costs at most one more
window of attempts.  Keys are bounded so a spray of addresses cannot
grow it without end.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(self, limit: int, seconds: float, *, max_keys: int = 50_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def hit(self, key: str) -> float | None:
        """Count one attempt; None if allowed, else seconds until the next one is."""
        now = self._monotonic()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.seconds:
                hits.popleft()
            self._hits[key] = hits  # most recently used last
            if len(hits) >= self.limit:
                return max(1.0, hits[0] + self.seconds - now)
            hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return None
