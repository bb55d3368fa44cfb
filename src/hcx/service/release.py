"""The durability boundary: nothing reaches a client before its command is committed.

The release stage receives batches only from the group-commit writer, after their
COMMIT returned, and in sequence order. Here, and only here, results are handed to their
waiters and outputs to the publishers (market data, private channels, standbys). A
read's answer is released in the same stream, so it never shows an effect that is not
yet durable. It never sequences, commits or reads the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from hcx.sequencing import JournalEntry, Reply
from hcx.service.entries import Entry

Publisher = Callable[[list[JournalEntry]], None]


class Releaser:
    def __init__(
        self,
        committed: trio.MemoryReceiveChannel[list[Entry]],
        released_seq: int,
        settle: Callable[[int], None],
        publishers: list[Publisher],
    ) -> None:
        self.committed = committed
        self.released_seq = released_seq
        # Told each seq as it is durable, so that repeats read it back from the journal.
        self.settle = settle
        self.publishers = publishers
        # Set once the writer has closed its channel and everything it sent is released.
        self.finished = trio.Event()

    async def run(self) -> None:
        try:
            async with self.committed:
                async for entries in self.committed:
                    self.release(entries)
        finally:
            self.finished.set()

    def release(self, entries: list[Any]) -> None:
        settle = self.settle
        journaled: list[JournalEntry] = []
        for entry in entries:
            if type(entry) is JournalEntry:
                settle(entry.seq)
                journaled.append(entry)
                reply = Reply(entry.seq, entry.output.result)
                for waiter in entry.waiters:
                    waiter.resolve(reply)
            else:
                # A read sees the commands sequenced before it: publish their events
                # first, so a book snapshot is followed by the updates after it only,
                # and an answer never overtakes the events it already reflects.
                if journaled:
                    self._publish(journaled)
                    journaled = []
                entry.waiter.resolve(entry.answer)
        if journaled:
            self._publish(journaled)

    def _publish(self, journaled: list[JournalEntry]) -> None:
        self.released_seq = journaled[-1].seq
        for publish in self.publishers:
            publish(journaled)
