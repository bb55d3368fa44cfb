"""The simulator's journal rows: recent ones in memory, and their group commit to a file.

Sequenced rows wait here in order until ``commit_every`` of them are pending (or
``flush``), then go to the journal in one ``Journal.append``; results reached the
caller before. ``read`` answers the sequencing step for any row a repeat may name:
pending ones from memory, committed ones from the file, or, with no file, from memory
for as long as a repeat can still reach them. Without a file the step makes no records
and the store keeps each command's ``Answer`` instead (a fork may start with rows of a
journaled parent before them). It never sequences or decides anything.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import cast

from hcx.durability.journal import Journal, Row
from hcx.sequencing import Answer

Kept = Row | Answer

# Without a file, rows older than the window are dropped this many additions at a time.
_PRUNE_EVERY = 4096


class RowStore:
    def __init__(
        self, journal: Journal | None, next_seq: int, *, commit_every: int, keep_ms: int
    ) -> None:
        self.journal = journal
        self.rows: list[Kept] = []
        self.first_seq = next_seq  # the seq of rows[0]
        self.commit_every = commit_every
        self.keep_ms = keep_ms
        self._since_prune = 0

    @property
    def pending(self) -> int:
        """Rows not yet committed (0 without a file: there is nothing to commit to)."""
        return len(self.rows) if self.journal is not None else 0

    def add(self, row: Kept) -> None:
        rows = self.rows
        rows.append(row)
        if self.journal is not None:
            if len(rows) >= self.commit_every:
                self.flush()
            return
        self._since_prune += 1
        if self._since_prune >= _PRUNE_EVERY:
            self._since_prune = 0
            self._prune(row.ts - self.keep_ms)

    def read(self, seq: int) -> Kept | None:
        index = seq - self.first_seq
        if index >= 0:
            return self.rows[index] if index < len(self.rows) else None
        return self.journal.read(seq) if self.journal is not None else None

    def flush(self) -> None:
        """Commit every pending row in one transaction (raises ``DurabilityError``)."""
        if self.journal is None or not self.rows:
            return
        # With a file, the step makes a row of every command.
        self.journal.append(cast(list[Row], self.rows))
        self.first_seq += len(self.rows)
        self.rows = []

    def recent(self, since_ts: int) -> list[Kept]:
        """Every row sequenced at or after ``since_ts`` that is still kept, in order: what
        a fork needs to answer repeats of requests made before it."""
        older: list[Kept] = []
        if self.journal is not None:
            first = self.journal.first_seq_from(since_ts)
            if first is not None:
                older = [
                    row
                    for seq in range(first, self.first_seq)
                    if (row := self.journal.read(seq)) is not None
                ]
        return older + [row for row in self.rows if row.ts >= since_ts]

    def _prune(self, before_ts: int) -> None:
        cut = bisect_left(self.rows, before_ts, key=lambda row: row.ts)
        if cut:
            del self.rows[:cut]
            self.first_seq += cut

    @classmethod
    def holding(cls, rows: list[Kept], next_seq: int, keep_ms: int) -> RowStore:
        """A store without a file that starts with ``rows`` (contiguous, ending just
        before ``next_seq``)."""
        store = cls(None, next_seq, commit_every=1, keep_ms=keep_ms)
        store.rows = list(rows)
        store.first_seq = next_seq - len(rows)
        return store
