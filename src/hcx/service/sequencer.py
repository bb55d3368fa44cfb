"""The sequencer task: the trio shell that feeds requests through the sequencing step.

It takes lists of requests in arrival order, stamps each with the service clock and hands
it to ``SequencingStep`` (which owns idempotency, refusals, ``engine.apply``, the record
and the chain); reads run against the engine in the same order. What it decides goes to
the group-commit writer in lists, while earlier lists commit (pipelining); it never
releases anything itself. In ``sync`` mode it waits for each command's commit before the
next, the baseline group commit is measured against.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from hcx.engine import Engine
from hcx.sequencing import Joined, JournalEntry, RefusedEarly, Reply, SequencingStep
from hcx.service.clock import Clock
from hcx.service.entries import Entry, Pending, QueryEntry, QueryItem, Submission


class Sequencer:
    def __init__(
        self,
        step: SequencingStep,
        clock: Clock,
        requests: trio.MemoryReceiveChannel[list[Submission | QueryItem]],
        to_writer: trio.MemorySendChannel[list[Entry]],
        *,
        max_batch: int = 512,
        synchronous: bool = False,
        on_applied: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self.step = step
        self.clock = clock
        self.requests = requests
        self.to_writer = to_writer
        self.max_batch = max_batch
        self.synchronous = synchronous
        self.on_applied = on_applied

    @property
    def engine(self) -> Engine:
        return self.step.engine

    async def run(self) -> None:
        async with self.requests, self.to_writer:
            async for items in self.requests:
                if self.synchronous:
                    await self._run_one_by_one(items)
                    continue
                entries: list[Entry] = []
                self._sequence(items, entries)
                while len(entries) < self.max_batch:
                    try:
                        more = self.requests.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    self._sequence(more, entries)
                if entries:
                    await self.to_writer.send(entries)

    async def _run_one_by_one(self, items: list[Submission | QueryItem]) -> None:
        for item in items:
            entries: list[Entry] = []
            self._sequence([item], entries)
            if not entries:
                continue
            committed = Pending()
            last = entries[-1]
            if isinstance(last, JournalEntry):
                last.waiters.append(committed)
            else:
                entries.append(QueryEntry(None, committed))
            await self.to_writer.send(entries)
            await committed.wait()

    def _sequence(self, items: list[Submission | QueryItem], entries: list[Entry]) -> None:
        # Bound once per list, not looked up per command: this loop is the hot path.
        step = self.step
        sequence = step.sequence
        now_ms = self.clock.now_ms
        on_applied = self.on_applied
        append = entries.append
        for item in items:
            if isinstance(item, QueryItem):
                append(QueryEntry(item.read(step.engine), item.waiter))
                continue
            decision = sequence(
                item.wallet, item.request_id, item.client_ts, item.command, now_ms(), item.waiter
            )
            if type(decision) is JournalEntry:
                append(decision)
                if on_applied is not None:
                    on_applied(decision.seq, decision.row.chain)
            elif type(decision) is Joined:
                decision.entry.waiters.append(item.waiter)
            elif type(decision) is RefusedEarly:
                # Released in order like a read: it reflects state that must be durable.
                append(QueryEntry(decision.reply, item.waiter))
            elif type(decision) is Reply:
                # The original is durable already: its stored result, at once.
                item.waiter.resolve(decision)
            else:
                # Refused before anything was read from the state: nothing to hold back.
                item.waiter.resolve(decision)
