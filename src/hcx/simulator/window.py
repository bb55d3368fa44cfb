"""The window of request keys of a simulator without a journal file, in dicts; it only
remembers which seqs a key names, and never decides, reads records or leaves the process.

``IdempotencyWindow`` keeps the server's keys compact in mapped arrays that a start-up
child can build and hand over; a window nobody writes out or hands over does better with
dicts: a new generation is an empty dict, where a new mapped table cost a system call and
its first page faults (with the clock moved in big steps, a table for every few calls).
Generations and their ageing are ``IdempotencyWindow``'s: half a window each, dropped once
every key in one is past ``ts + window + future``. A key hash held twice (a collision)
keeps every seq, so the caller confirms each candidate as before.
"""

from __future__ import annotations

from typing import Any


class MemoryWindow:
    def __init__(self, window_ms: int, future_ms: int = 1_000) -> None:
        self.window_ms = window_ms
        self.future_ms = future_ms
        self.span_ms = max(window_ms // 2, 1_000)
        # (start ts, {key: seq, or [seqs] in order for a key held twice}), oldest first.
        self._generations: list[tuple[int, dict[int, Any]]] = []
        self._end = 0  # the first ts past the newest generation (none yet: any ts)

    def add(self, key: int, seq: int, ts_ms: int) -> None:
        if ts_ms >= self._end or not self._generations:
            self._rotate(ts_ms)
        table = self._generations[-1][1]
        held = table.setdefault(key, seq)
        if held != seq:
            table[key] = [*held, seq] if type(held) is list else [held, seq]

    def candidates(self, key: int) -> list[int]:
        """Seqs of remembered requests whose key hash equals ``key``: newest generation
        first, in the order they were added within one (as ``IdempotencyWindow``; the
        caller confirms each, so the order never decides an answer)."""
        out: list[int] = []
        for _, table in reversed(self._generations):
            held = table.get(key)
            if held is not None:
                if type(held) is list:
                    out.extend(held)
                else:
                    out.append(held)
        return out

    def _rotate(self, ts_ms: int) -> None:
        generations = self._generations
        keep_after = ts_ms - self.window_ms - self.future_ms - self.span_ms
        while generations and generations[0][0] < keep_after:
            generations.pop(0)
        start = ts_ms if not generations else max(ts_ms, generations[-1][0] + self.span_ms)
        generations.append((start, {}))
        self._end = start + self.span_ms

    def copy(self) -> MemoryWindow:
        """An independent window holding the same keys (for a fork)."""
        twin = MemoryWindow(self.window_ms, self.future_ms)
        # Lists of seqs are replaced, never changed in place: sharing them is safe.
        twin._generations = [(start, dict(table)) for start, table in self._generations]
        twin._end = self._end
        return twin

    def __len__(self) -> int:
        return sum(len(table) for _, table in self._generations)
