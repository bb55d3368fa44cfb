"""Token buckets: per connection, per wallet, and for failed logins per address."""

from __future__ import annotations

import collections
import contextlib
import time


class TokenBucket:
    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def take(self, count: float = 1.0) -> float:
        """0 if ``count`` tokens were taken, else the ms to wait before they would be."""
        now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= count:
            self._tokens = tokens - count
            return 0.0
        self._tokens = tokens
        return (count - tokens) / self.rate * 1000.0


class BucketMap:
    """One bucket per key (wallet, address), created on first use, bounded in number."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, count: float = 1.0) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                # Bounded memory over perfect memory: everyone starts again with a full bucket.
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take(count)


class AuthThrottle:
    """Failed logins per remote address over the last minute: past ``per_minute`` of
    them, an address waits until the oldest is a minute old."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._failures: dict[str, collections.deque[float]] = {}

    def wait_ms(self, remote: str) -> float:
        """0 if ``remote`` may try now, else the ms until it may."""
        failures = self._failures.get(remote)
        if not failures:
            return 0.0
        now = time.monotonic()
        while failures and failures[0] < now - 60.0:
            failures.popleft()
        if len(failures) < self.per_minute:
            return 0.0
        return (failures[0] + 60.0 - now) * 1000.0

    def begin(self, remote: str) -> float:
        """Count an attempt against ``remote`` before its key is checked: the check is slow
        and awaited, so attempts racing in on many connections must not all pass the limit
        first. Returns the attempt's stamp for ``end``."""
        if len(self._failures) > self.max_keys:
            self._failures.clear()
        stamp = time.monotonic()
        self._failures.setdefault(remote, collections.deque()).append(stamp)
        return stamp

    def end(self, remote: str, stamp: float, *, ok: bool) -> None:
        """A failed attempt stays counted; a successful one is taken back."""
        if not ok:
            return
        failures = self._failures.get(remote)
        if failures is not None:
            with contextlib.suppress(ValueError):  # already pruned or cleared
                failures.remove(stamp)
