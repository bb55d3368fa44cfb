"""Token buckets: per connection, per wallet, and for failed logins per address."""

from __future__ import annotations

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
