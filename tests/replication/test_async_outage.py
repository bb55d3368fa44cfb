"""``async`` mode with NATS stopped under load: the primary keeps answering, holds at
most ``max_held_rows`` unpublished rows in memory (the rest it reads back from its
journal), and once NATS is back publishes everything, the stream equal to the journal."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from hcx.replication.attach import open_replication
from hcx.sequencing import Reply
from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.harness.journal_driver import stream
from tests.replication.natsd import NatsServer
from tests.replication.streamread import journal_rows, stream_rows

HELD = 64


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_async_outage_holds_bounded_memory_and_publishes_everything_after(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    cfg = ServiceConfig(db=str(tmp_path / "p.db"), nats_urls=(nats_server.url,))
    requests = stream(8, 1_200)
    async with (
        open_replication(cfg) as replication,
        open_exchange(cfg, stage=replication.stage, publishers=replication.publishers) as ex,
    ):
        replicator = replication.replicator
        assert replicator is not None
        replicator.max_held_rows = HELD
        before = [(r.wallet, r.request_id, now_ms(), r.command) for r in requests[:100]]
        assert all(isinstance(a, Reply) for a in await ex.submit_many(before))
        await trio.to_thread.run_sync(nats_server.stop)
        answers: list[object] = []
        try:
            # In pieces, so every piece is released (and held or spilled) on its own.
            for start in range(100, len(requests), 20):
                piece = requests[start : start + 20]
                answers.extend(
                    await ex.submit_many(
                        [(r.wallet, r.request_id, now_ms(), r.command) for r in piece]
                    )
                )
            # Past the publish timeout (2 s), so the outage has been noticed.
            await trio.sleep(3.0)
            stats = replicator.stats
            unreachable = stats.unreachable_since is not None
            lag_while_down = stats.lag_records
            spills = stats.spills
        finally:
            await trio.to_thread.run_sync(nats_server.start)
        with trio.fail_after(60):
            while stats.lag_records:
                await trio.sleep(0.05)
    # Answered while NATS was away (async), and never more than HELD rows in memory.
    assert len(answers) == 1_100 and all(isinstance(a, Reply) for a in answers)
    assert unreachable
    assert lag_while_down >= 1_000
    assert spills >= 1
    assert 0 < stats.held_rows_max <= HELD
    rows = journal_rows(cfg.db)
    assert len(rows) == 1_200
    assert await trio.to_thread.run_sync(stream_rows, nats_server.url) == rows
