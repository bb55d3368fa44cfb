"""The window of remembered request keys, for exactly-once execution without an index.

Every (wallet, request_id) sequenced within the receive window is remembered as a 64-bit
key hash and the ``seq`` of its record, in open-addressing tables held in ``array('q')``
(16 bytes a slot, at most half full: 32 bytes a key, where a dict of ints would cost
about 100). A hash only nominates candidates: the caller confirms a hit against the
stored record, so a collision can never return another request's result.

Tables are generations of half a window each. A key must be found for as long as a repeat
of it can still pass the ``ts`` check, i.e. until ``ts + window + future`` by the
sequencer's clock; a generation is dropped once all of its keys are past that. A new
generation is sized from the last one's count, so steady load never rehashes.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable

_MIN_SLOTS = 1 << 12


def request_key(wallet: str, request_id: str) -> int:
    """A stable signed 64-bit hash of the idempotency key (never 0: 0 marks empty)."""
    # Length-prefixed, so no choice of wallet and request id can spell another pair.
    text = f"{len(wallet)}:{wallet}{request_id}"
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "little", signed=True)
    return key or 1


class _Table:
    __slots__ = ("count", "keys", "mask", "seqs")

    def __init__(self, slots: int) -> None:
        self.keys = array("q", bytes(8 * slots))
        self.seqs = array("q", bytes(8 * slots))
        self.mask = slots - 1
        self.count = 0

    def insert(self, key: int, seq: int) -> None:
        if (self.count + 1) * 2 > self.mask + 1:
            self._grow()
        keys, mask = self.keys, self.mask
        slot = key & mask
        while keys[slot]:
            slot = (slot + 1) & mask
        keys[slot] = key
        self.seqs[slot] = seq
        self.count += 1

    def find(self, key: int, out: list[int]) -> None:
        keys, mask = self.keys, self.mask
        slot = key & mask
        while True:
            found = keys[slot]
            if not found:
                return
            if found == key:
                out.append(self.seqs[slot])
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        # ``insert``'s probe inlined: a window rebuilt at start grows its first table
        # from the minimum size, and the re-inserts were half of that rebuild's time.
        bigger = _Table(2 * (self.mask + 1))
        keys, seqs, mask = bigger.keys, bigger.seqs, bigger.mask
        for key, seq in zip(self.keys, self.seqs, strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                seqs[slot] = seq
        self.keys, self.seqs, self.mask = keys, seqs, mask

    def nbytes(self) -> int:
        return 2 * self.keys.itemsize * len(self.keys)


class IdempotencyWindow:
    def __init__(self, window_ms: int, future_ms: int = 1_000) -> None:
        self.window_ms = window_ms
        self.future_ms = future_ms
        self.span_ms = max(window_ms // 2, 1_000)
        # (start ts, table), oldest first.
        self._generations: list[tuple[int, _Table]] = []

    def add(self, key: int, seq: int, ts_ms: int) -> None:
        generations = self._generations
        if not generations or ts_ms >= generations[-1][0] + self.span_ms:
            self._rotate(ts_ms)
        generations[-1][1].insert(key, seq)

    def add_all(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """``add`` for every ``(seq, ts, key)``, in ts order: the rebuild at start, where
        the window can hold millions of keys, so the newest table is looked up only when
        a generation turns over."""
        generations = self._generations
        span = self.span_ms
        end = generations[-1][0] + span if generations else None
        insert = generations[-1][1].insert if generations else None
        for seq, ts, key in rows:
            if insert is None or end is None or ts >= end:
                self._rotate(ts)
                end = generations[-1][0] + span
                insert = generations[-1][1].insert
            insert(key, seq)

    def candidates(self, key: int) -> list[int]:
        """Seqs of remembered requests whose key hash equals ``key``, newest first."""
        out: list[int] = []
        for _, table in reversed(self._generations):
            table.find(key, out)
        return out

    def _rotate(self, ts_ms: int) -> None:
        generations = self._generations
        keep_after = ts_ms - self.window_ms - self.future_ms - self.span_ms
        while generations and generations[0][0] < keep_after:
            generations.pop(0)
        last_count = generations[-1][1].count if generations else 0
        slots = _MIN_SLOTS
        while slots < 2 * last_count + 2:
            slots <<= 1
        start = ts_ms if not generations else max(ts_ms, generations[-1][0] + self.span_ms)
        generations.append((start, _Table(slots)))

    def __len__(self) -> int:
        return sum(table.count for _, table in self._generations)

    def nbytes(self) -> int:
        return sum(table.nbytes() for _, table in self._generations)
