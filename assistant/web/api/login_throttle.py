"""Login attempts slowed per client address and per user name, with a growing delay.

The first few failures are free (typos happen); after that each failure doubles the
wait before the next attempt from that address, or for that user name, is even checked
(2 s, 4 s, 8 s … up to 15 min). A success clears both. Spreading guesses over many
addresses still meets the per-user delay; many user names from one address meet the
per-address delay.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

FREE_FAILURES = 3
BASE_DELAY = 2.0
MAX_DELAY = 900.0


class LoginThrottle:
    def __init__(self, max_entries: int = 20_000, clock: Callable[[], float] = time.monotonic):
        # (kind, ident) -> (failures, not-before time)
        self._entries: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self._clock = clock

    def _keys(self, ip: str, user: str) -> list[tuple[str, str]]:
        keys = [("ip", ip)]
        if user:
            keys.append(("user", user.strip().lower()[:200]))
        return keys

    def wait(self, ip: str, user: str = "") -> int:
        """Seconds before an attempt from ``ip`` for ``user`` may be checked (0: now)."""
        now = self._clock()
        with self._lock:
            until = max(self._entries.get(k, (0, 0.0))[1] for k in self._keys(ip, user))
        return max(0, math.ceil(until - now))

    def failed(self, ip: str, user: str = "") -> int:
        """Record a failure; return the delay it sets (seconds)."""
        now = self._clock()
        delay = 0.0
        with self._lock:
            for key in self._keys(ip, user):
                count = self._entries.pop(key, (0, 0.0))[0] + 1
                step = 0.0 if count < FREE_FAILURES else BASE_DELAY * 2 ** (count - FREE_FAILURES)
                step = min(step, MAX_DELAY)
                delay = max(delay, step)
                self._entries[key] = (count, now + step)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return math.ceil(delay)

    def succeeded(self, ip: str, user: str = "") -> None:
        with self._lock:
            for key in self._keys(ip, user):
                self._entries.pop(key, None)
