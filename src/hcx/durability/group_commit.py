"""The group-commit writer: many sequenced commands, one transaction, one fsync.

It takes lists of entries from the journal channel, drains whatever else is already
waiting (up to ``max_batch`` entries), commits their rows in one transaction on the
journal's own thread, and only then forwards the same entries, in order, to the release
stage. Batches are committed in the order they were sequenced, so when a batch is
durable every earlier one is too.

The commit runs through ``trio.to_thread.run_sync`` with a ``CapacityLimiter(1)`` and
``abandon_on_cancel=False``: a commit in progress is never left running behind a
cancelled task. A journal in memory (``memory`` durability: no disk, no fsync) committed
by its own ``append`` is committed inline, on the trio thread: the hand-off to a thread
and back cost more than the inserts, which contended with the sequencer for the GIL
(docs/benchmarks.md). Any exception is re-raised as ``DurabilityError`` and ends the
nursery; nothing of the failing batch or after it is forwarded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from hcx.durability.errors import DurabilityError
from hcx.durability.journal import Journal, Row


@attrs.define
class CommitStats:
    batches: int = 0
    rows: int = 0
    # Called with (rows in batch, seconds the commit took) after each commit.
    observer: Callable[[int, float], None] | None = None


class GroupCommitWriter:
    def __init__(
        self,
        journal: Journal,
        entries: trio.MemoryReceiveChannel[list[Any]],
        committed: trio.MemorySendChannel[list[Any]],
        *,
        max_batch: int = 512,
        limiter: trio.CapacityLimiter | None = None,
        commit: Callable[[Sequence[Row]], None] | None = None,
    ) -> None:
        self.journal = journal
        self.entries = entries
        self.committed = committed
        self.max_batch = max_batch
        self.limiter = limiter or trio.CapacityLimiter(1)
        self.commit = commit or journal.append
        self.stats = CommitStats()

    async def run(self) -> None:
        async with self.entries, self.committed:
            async for first in self.entries:
                batch = list(first)
                while len(batch) < self.max_batch:
                    try:
                        batch.extend(self.entries.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                rows = [entry.row for entry in batch if entry.row is not None]
                if rows:
                    await self._commit_rows(rows)
                await self.committed.send(batch)

    async def _commit_rows(self, rows: list[Row]) -> None:
        started = trio.current_time()
        try:
            # Decided per batch: a hook or a test's gate may replace ``commit`` at any
            # time, and only the in-memory journal's own append never blocks.
            if self.journal.in_memory and self.commit == self.journal.append:
                self.commit(rows)
            else:
                await trio.to_thread.run_sync(
                    self.commit, rows, limiter=self.limiter, abandon_on_cancel=False
                )
        except DurabilityError:
            raise
        except BaseException as exc:
            if isinstance(exc, trio.Cancelled | KeyboardInterrupt):
                raise
            raise DurabilityError(f"journal writer failed: {exc!r}") from exc
        self.stats.batches += 1
        self.stats.rows += len(rows)
        if self.stats.observer is not None:
            self.stats.observer(len(rows), trio.current_time() - started)
