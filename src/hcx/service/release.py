"""The durability boundary: nothing reaches a client before its command is committed.

The release stage receives batches only from the group-commit writer, after their
COMMIT returned, and in sequence order. Here, and only here, results are handed to their
waiters and outputs to the publishers (market data, private channels, standbys). A
read's answer is released in the same stream, so it never shows an effect that is not
yet durable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from hcx.service.entries import Entry, JournalEntry, Reply
from hcx.service.sequencer import Sequencer

Publisher = Callable[[list[JournalEntry]], None]


class Releaser:
    def __init__(
        self,
        committed: trio.MemoryReceiveChannel[list[Entry]],
        sequencer: Sequencer,
        publishers: list[Publisher],
    ) -> None:
        self.committed = committed
        self.sequencer = sequencer
        self.publishers = publishers
        self.released_seq = sequencer.next_seq - 1

    async def run(self) -> None:
        async with self.committed:
            async for entries in self.committed:
                self.release(entries)

    def release(self, entries: list[Any]) -> None:
        in_flight = self.sequencer.in_flight
        journaled: list[JournalEntry] = []
        for entry in entries:
            if type(entry) is JournalEntry:
                # Durable now: repeats read it back from the journal from here on.
                in_flight.pop(entry.seq, None)
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
