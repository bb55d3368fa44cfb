"""The ``sync`` replication gate: committed batches go on to release only once published.

It sits between the group-commit writer and the release stage. It takes every committed
batch waiting (so one message carries what accumulated during the previous publish),
publishes their rows through the ``Replicator`` and only then forwards the batches, in
order. While NATS is unreachable it holds them: nothing is released, the writer's channel
fills and the sequencer stops taking requests (backpressure). It never reorders, drops,
or releases anything itself.
"""

from __future__ import annotations

from typing import Any

import trio

from hcx.replication.primary import Replicator


class SyncGate:
    def __init__(self, replicator: Replicator, *, max_rows: int = 4096) -> None:
        self.replicator = replicator
        self.max_rows = max_rows

    async def run(
        self,
        committed: trio.MemoryReceiveChannel[list[Any]],
        released: trio.MemorySendChannel[list[Any]],
    ) -> None:
        async with committed, released:
            async for first in committed:
                batches = [first]
                rows = [entry.row for entry in first if entry.row is not None]
                while len(rows) < self.max_rows:
                    try:
                        more = committed.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batches.append(more)
                    rows.extend(entry.row for entry in more if entry.row is not None)
                if rows:
                    await self.replicator.publish(rows)
                for batch in batches:
                    await released.send(batch)
