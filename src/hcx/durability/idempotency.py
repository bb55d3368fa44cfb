"""The window of remembered request keys, for exactly-once execution without an index.

Every (wallet, request_id) sequenced within the receive window is remembered as a 64-bit
key hash and the ``seq`` of its record, in open-addressing tables of signed 64-bit
arrays (16 bytes a slot, at most half full: 32 bytes a key, where a dict of ints would
cost about 100). A hash only nominates candidates: the caller confirms a hit against the
stored record, so a collision can never return another request's result.

Tables are generations of half a window each. A key must be found for as long as a repeat
of it can still pass the ``ts`` check, i.e. until ``ts + window + future`` by the
sequencer's clock; a generation is dropped once all of its keys are past that. A new
generation is sized from the last one's count, so steady load never grows a table; a
rising load does, a few slots per insert (no stall: see ``_Table``).
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from collections.abc import Callable, Iterable

_MIN_SLOTS = 1 << 12
# Old slots carried over into a growing table's new arrays per insert: enough that the
# move ends (after an eighth of the old slot count in inserts) long before the new
# arrays fill to half, few enough to cost about a microsecond an insert while it lasts.
_MOVE_STEP = 8


def request_key(wallet: str, request_id: str) -> int:
    """A stable signed 64-bit hash of the idempotency key (never 0: 0 marks empty)."""
    # Length-prefixed, so no choice of wallet and request id can spell another pair.
    text = f"{len(wallet)}:{wallet}{request_id}"
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "little", signed=True)
    return key or 1


def _pages(size: int) -> mmap.mmap:
    """Anonymous pages the kernel maps on first touch, private to this process: a forked
    snapshot child sees the tables as they were at the fork, not the parent's later
    inserts (``mmap``'s default, shared pages, would hand it those half-written)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)


def _zeroed(slots: int) -> memoryview:
    """``slots`` signed 64-bit zeros: a table of millions of slots is allocated in
    microseconds, where zero-filling an ``array`` stalled the sequencer for tens of
    milliseconds at each new generation."""
    return memoryview(_pages(8 * slots)).cast("q")


def _filled(read_into: Callable[[memoryview], None], slots: int) -> memoryview:
    """``slots`` signed 64-bit values, their bytes written by ``read_into``."""
    pages = _pages(8 * slots)
    read_into(memoryview(pages))
    return memoryview(pages).cast("q")


# A window's header (window ms, future ms, generations, last seq), then each generation's
# (start ts, key count, slots) followed by its key and seq arrays, native byte order: the
# child that builds a window at start and the parent that reads it run on one machine,
# and a window stored beside a snapshot is read where it was written (its file says so).
_HEADER = struct.Struct("=qqqq")
_TABLE_HEADER = struct.Struct("=qqq")


class _Slots:
    """One pair of open-addressing arrays: key hashes (0 = empty) and their seqs."""

    __slots__ = ("keys", "mask", "seqs")

    # The arrays are given, never made here: mypyc's native classes have no bare
    # ``__new__`` to fill one in by hand.
    def __init__(self, keys: memoryview, seqs: memoryview) -> None:
        self.keys = keys
        self.seqs = seqs
        self.mask = len(keys) - 1


def _empty_slots(slots: int) -> _Slots:
    return _Slots(_zeroed(slots), _zeroed(slots))


class _Table:
    """Linear probing over ``_Slots``, kept at most half full. Growing never stops the
    caller for a rehash: the new arrays take every new key at once, and each insert
    carries ``_MOVE_STEP`` old slots over until none is left (a rehash in one go took
    30 ms at 130,000 keys, and grows with the table). While that
    goes on, lookups search both, the old arrays only from the first slot not yet moved."""

    __slots__ = ("count", "keys", "mask", "moved", "old", "seqs")

    def __init__(self, slots: int, arrays: _Slots | None = None, count: int = 0) -> None:
        """``slots`` empty slots, or ``arrays`` as they are, holding ``count`` keys."""
        if arrays is None:
            arrays = _empty_slots(slots)
        self.keys, self.seqs, self.mask = arrays.keys, arrays.seqs, arrays.mask
        self.count = count
        self.old: _Slots | None = None
        self.moved = 0

    def insert(self, key: int, seq: int) -> None:
        if self.old is not None:
            self._move_some()
        elif (self.count + 1) * 2 > self.mask + 1:
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
                break
            if found == key:
                out.append(self.seqs[slot])
            slot = (slot + 1) & mask
        old = self.old
        if old is not None:
            # Slots below ``moved`` are in the new arrays already; their probe chains
            # are left whole here so the ones above stay reachable.
            keys, mask, moved = old.keys, old.mask, self.moved
            slot = key & mask
            while True:
                found = keys[slot]
                if not found:
                    return
                if found == key and slot >= moved:
                    out.append(old.seqs[slot])
                slot = (slot + 1) & mask

    def _grow(self) -> None:
        old = _Slots(self.keys, self.seqs)
        arrays = _empty_slots(2 * (self.mask + 1))
        self.keys, self.seqs, self.mask = arrays.keys, arrays.seqs, arrays.mask
        self.old, self.moved = old, 0

    def _move_some(self) -> None:
        self._move_until(self.moved + _MOVE_STEP)

    def finish_moving(self) -> None:
        """Carry every old slot left over at once: for the rebuild at start, which
        nobody waits on slot by slot, and before writing a table out."""
        if self.old is not None:
            self._move_until(self.old.mask + 1)

    def _move_until(self, end: int) -> None:
        old = self.old
        assert old is not None
        start, end = self.moved, min(end, old.mask + 1)
        keys, seqs, mask = self.keys, self.seqs, self.mask
        for key, seq in zip(old.keys[start:end], old.seqs[start:end], strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                seqs[slot] = seq
        if end > old.mask:
            self.old, self.moved = None, 0
        else:
            self.moved = end

    def nbytes(self) -> int:
        held = self.keys.nbytes + self.seqs.nbytes
        if self.old is not None:
            held += self.old.keys.nbytes + self.old.seqs.nbytes
        return held


class IdempotencyWindow:
    def __init__(self, window_ms: int, future_ms: int = 1_000) -> None:
        self.window_ms = window_ms
        self.future_ms = future_ms
        self.span_ms = max(window_ms // 2, 1_000)
        # (start ts, table), oldest first.
        self._generations: list[tuple[int, _Table]] = []
        # The seq of the last key added: a stored window names the journal prefix it holds.
        self.last_seq = 0

    def add(self, key: int, seq: int, ts_ms: int) -> None:
        generations = self._generations
        if not generations or ts_ms >= generations[-1][0] + self.span_ms:
            self._rotate(ts_ms)
        generations[-1][1].insert(key, seq)
        self.last_seq = seq

    def add_all(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """``add`` for every ``(seq, ts, key)``, in ts order: the rebuild at start, where
        the window can hold millions of keys, so the newest table is looked up only when
        a generation turns over, and a table that grows moves its old slots at once."""
        generations = self._generations
        span = self.span_ms
        end = generations[-1][0] + span if generations else None
        table = generations[-1][1] if generations else None
        last_seq = self.last_seq
        for seq, ts, key in rows:
            if table is None or end is None or ts >= end:
                self._rotate(ts)
                end = generations[-1][0] + span
                table = generations[-1][1]
            table.insert(key, seq)
            if table.old is not None:
                table.finish_moving()
            last_seq = seq
        self.last_seq = last_seq

    def candidates(self, key: int) -> list[int]:
        """Seqs of remembered requests whose key hash equals ``key``, newest first."""
        out: list[int] = []
        for _, table in reversed(self._generations):
            table.find(key, out)
        return out

    def forget_before(self, ts_ms: int) -> None:
        """Drop every generation whose keys were all sequenced before ``ts_ms``."""
        generations = self._generations
        keep_after = ts_ms - self.span_ms
        while generations and generations[0][0] < keep_after:
            generations.pop(0)

    def _rotate(self, ts_ms: int) -> None:
        generations = self._generations
        self.forget_before(ts_ms - self.window_ms - self.future_ms)
        last_count = generations[-1][1].count if generations else 0
        slots = _MIN_SLOTS
        while slots < 2 * last_count + 2:
            slots <<= 1
        start = ts_ms if not generations else max(ts_ms, generations[-1][0] + self.span_ms)
        generations.append((start, _Table(slots)))

    def __len__(self) -> int:
        return sum(table.count for _, table in self._generations)

    def write_to(self, write: Callable[[bytes | memoryview], object]) -> None:
        """The window as bytes, for ``read_from`` (a table still growing finishes
        moving its old slots first)."""
        generations = self._generations
        write(_HEADER.pack(self.window_ms, self.future_ms, len(generations), self.last_seq))
        for start, table in generations:
            table.finish_moving()
            write(_TABLE_HEADER.pack(start, table.count, table.mask + 1))
            write(table.keys.cast("B"))
            write(table.seqs.cast("B"))

    @classmethod
    def read_from(cls, read_into: Callable[[memoryview], None]) -> IdempotencyWindow:
        """A window written by ``write_to``; ``read_into`` fills a buffer exactly."""
        header = bytearray(_HEADER.size)
        read_into(memoryview(header))
        window_ms, future_ms, count, last_seq = _HEADER.unpack(header)
        if window_ms < 0 or future_ms < 0 or not 0 <= count <= 1 << 16:
            raise ValueError(f"a window header of ({window_ms}, {future_ms}, {count})")
        window = cls(window_ms, future_ms)
        window.last_seq = last_seq
        table_header = bytearray(_TABLE_HEADER.size)
        for _ in range(count):
            read_into(memoryview(table_header))
            start, keys, slots = _TABLE_HEADER.unpack(table_header)
            if slots < 1 or slots & (slots - 1) or not 0 <= keys * 2 <= slots:
                raise ValueError(f"a window table of {keys} keys in {slots} slots")
            arrays = _Slots(_filled(read_into, slots), _filled(read_into, slots))
            table = _Table(slots, arrays, keys)
            window._generations.append((start, table))
        return window

    def nbytes(self) -> int:
        return sum(table.nbytes() for _, table in self._generations)
