"""Token-bucket rate limits keyed by something the client cannot choose (a key, an IP).

Limits are never keyed by a session id the client sends: changing it would reset them.
Buckets live in memory (one process serves the UI and the API); the table is bounded
so a flood of distinct IPs cannot grow it without limit.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from index.errors import ConfigError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE_RE = re.compile(
    r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes"
    r"|h|hr|hour|hours|d|day|days)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period`` seconds; also the burst size of the bucket."""

    count: int
    period: float

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        for name, secs in (("day", 86400.0), ("hour", 3600.0), ("min", 60.0), ("s", 1.0)):
            if self.period == secs:
                return f"{self.count}/{name}"
        return f"{self.count}/{self.period:g}s"


def parse_rate(text: str) -> Rate:
    """Parse ``30/min``, ``5/s``, ``1000/hour``, ``100/10s``; raise ConfigError with the fix."""
    m = _RATE_RE.match(text or "")
    if not m:
        raise ConfigError(
            f"Rate {text!r} is not valid; write it like 30/min, 5/s, 1000/hour or 100/10s.",
            f"Giới hạn tốc độ {text!r} không hợp lệ; hãy viết dạng 30/min, 5/s, 1000/hour hoặc 100/10s.",
            code="bad_rate",
        )
    count = int(m.group(1))
    seconds = _UNITS[m.group(3)[0].lower()] * int(m.group(2) or 1)
    if count <= 0 or seconds <= 0:
        raise ConfigError(
            f"Rate {text!r} must allow at least one request per period, e.g. 30/min.",
            f"Giới hạn tốc độ {text!r} phải cho phép ít nhất một yêu cầu mỗi khoảng thời gian, ví dụ 30/min.",
            code="bad_rate",
        )
    return Rate(count, seconds)


class TokenBucket:
    """Holds up to ``rate.count`` tokens, refilled continuously at ``rate.per_second``."""

    __slots__ = ("rate", "tokens", "updated")

    def __init__(self, rate: Rate, now: float):
        self.rate = rate
        self.tokens = float(rate.count)
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens (at most a full bucket); return 0.0 when granted, else the
        seconds until they are available."""
        cost = min(cost, float(self.rate.count))
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.rate.count), self.tokens + elapsed * self.rate.per_second)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate.per_second


class RateLimiter:
    """A bounded table of token buckets; thread-safe (sync routes run in a thread pool)."""

    def __init__(self, max_buckets: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_buckets
        self._clock = clock

    def hit(self, kind: str, ident: str, rate: Rate, cost: float = 1.0) -> int:
        """Charge ``cost`` units for ``(kind, ident)``; return 0 if allowed, else Retry-After seconds."""
        key = (kind, ident)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate:
                bucket = TokenBucket(rate, now)
                self._buckets[key] = bucket
                while len(self._buckets) > self._max:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            wait = bucket.take(now, cost)
        return 0 if wait <= 0 else max(1, math.ceil(wait))

    def __len__(self) -> int:
        return len(self._buckets)
