"""Where the service's time comes from: the wall clock, or a simulator's clock.

The engine never reads a clock; the sequencer stamps each envelope with ``now_ms()``.
Both clocks never go backwards, so journal timestamps are ordered like seqs.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        if now < self._last:
            # NTP stepped back: hold time still rather than reorder the journal.
            return self._last
        self._last = now
        return now


class SimClock:
    """A clock the embedding program advances; deterministic for simulations."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += ms
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a clock cannot go backwards")
        self._now = now_ms
