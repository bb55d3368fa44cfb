"""The two ways durability can fail: while running, and while reading back."""

from __future__ import annotations


class DurabilityError(RuntimeError):
    """The journal could not make a batch durable. Fatal: the process must stop, because
    acting on state that is not on disk would break every promise made to clients."""


class JournalCorrupt(RuntimeError):
    """The journal does not replay to what it recorded; ``seq`` is the first bad record."""

    def __init__(self, seq: int, why: str) -> None:
        super().__init__(f"journal record seq {seq}: {why}")
        self.seq = seq
        self.why = why
