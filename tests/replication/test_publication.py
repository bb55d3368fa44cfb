"""The primary publishes its committed journal to JetStream: exactly the rows it stores,
in order; ``sync`` holds every answer until the stream has it; the start reconciles the
journal with the stream and refuses a stream that holds another history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from hcx.replication.attach import open_replication
from hcx.replication.errors import Deposed, StreamDisagrees
from hcx.replication.primary import Replicator
from hcx.sequencing import Reply
from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.harness.journal_driver import Request, stream
from tests.replication.natsd import NatsServer
from tests.replication.streamread import journal_rows, stream_rows


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def config(db: Path, url: str | None, mode: str = "async") -> ServiceConfig:
    return ServiceConfig(db=str(db), nats_urls=(url,) if url else (), replication=mode)  # type: ignore[arg-type]


async def run_requests(cfg: ServiceConfig, requests: list[Request]) -> list[object]:
    async with (
        open_replication(cfg) as replication,
        open_exchange(cfg, stage=replication.stage, publishers=replication.publishers) as ex,
    ):
        answers: list[object] = []

        async def worker(share: list[Request]) -> None:
            for r in share:
                answers.append(await ex.submit(r.wallet, r.request_id, now_ms(), r.command))

        setup, trading = requests[:15], requests[15:]
        answers.extend(
            await ex.submit_many([(r.wallet, r.request_id, now_ms(), r.command) for r in setup])
        )
        async with trio.open_nursery() as nursery:
            for k in range(4):
                nursery.start_soon(worker, trading[k::4])
    return answers


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_the_stream_holds_exactly_the_journal(
    tmp_path: Path, nats_server: NatsServer, mode: str
) -> None:
    db = tmp_path / "primary.db"
    answers = await run_requests(config(db, nats_server.url, mode), stream(1, 400))
    assert sum(isinstance(a, Reply) for a in answers) == 400
    rows = journal_rows(str(db))
    assert len(rows) == 400
    assert await trio.to_thread.run_sync(stream_rows, nats_server.url) == rows


async def test_a_start_republishes_what_the_stream_lacks(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    db = tmp_path / "primary.db"
    requests = stream(2, 300)
    await run_requests(config(db, None), requests[:200])
    await run_requests(config(db, nats_server.url, "sync"), requests)
    rows = journal_rows(str(db))
    assert len(rows) == 300
    assert await trio.to_thread.run_sync(stream_rows, nats_server.url) == rows


async def test_a_stream_ahead_of_the_journal_refuses_the_start(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    await run_requests(config(tmp_path / "a.db", nats_server.url), stream(3, 50))
    with pytest.raises(StreamDisagrees) as caught:
        await run_requests(config(tmp_path / "b.db", nats_server.url), [])
    assert caught.value.seq == 1
    assert "up to 50" in str(caught.value)


async def test_a_stream_of_another_history_refuses_the_start(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    await run_requests(config(tmp_path / "a.db", nats_server.url), stream(4, 50))
    # Another journal, as long, of other requests (another seed): the chain differs.
    await run_requests(config(tmp_path / "b.db", None), stream(5, 60))
    with pytest.raises(StreamDisagrees) as caught:
        await run_requests(config(tmp_path / "b.db", nats_server.url), [])
    assert caught.value.seq == 50
    assert "another chain" in str(caught.value)


async def test_a_second_writer_fences_the_first_off(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    db = tmp_path / "a.db"
    await run_requests(config(db, None), stream(6, 40))
    rows = journal_rows(str(db))
    first = Replicator([nats_server.url], "hcx", mode="sync")
    second = Replicator([nats_server.url], "hcx", mode="sync")
    try:
        await first.start(str(tmp_path / "empty.db"))
        await first.publish(rows[:10])
        await second.start(str(db))  # the same history, longer: it republishes 11..40
        with pytest.raises(Deposed):
            await first.publish(rows[10:20])
    finally:
        await first.aclose()
        await second.aclose()
    assert await trio.to_thread.run_sync(stream_rows, nats_server.url) == rows


async def test_rows_published_already_are_never_published_again(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """A batch that straddles what the stream holds (released after a start's
    republication already sent part of it) adds only its new rows."""
    db = tmp_path / "a.db"
    await run_requests(config(db, None), stream(8, 30))
    rows = journal_rows(str(db))
    replicator = Replicator([nats_server.url], "hcx", mode="sync")
    try:
        await replicator.start(str(tmp_path / "empty.db"))
        await replicator.publish(rows[:10])
        await replicator.publish(rows[5:20])
        await replicator.publish(rows[:20])  # nothing new: nothing sent
    finally:
        await replicator.aclose()
    assert await trio.to_thread.run_sync(stream_rows, nats_server.url) == rows[:20]


async def test_sync_releases_nothing_while_nats_is_down_and_everything_after(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    cfg = config(tmp_path / "p.db", nats_server.url, "sync")
    requests = stream(7, 60)
    async with (
        open_replication(cfg) as replication,
        open_exchange(cfg, stage=replication.stage, publishers=replication.publishers) as ex,
    ):
        await ex.submit_many([(r.wallet, r.request_id, now_ms(), r.command) for r in requests[:30]])
        await trio.to_thread.run_sync(nats_server.stop)
        answers: list[object] = []

        async def submit_rest() -> None:
            answers.extend(
                await ex.submit_many(
                    [(r.wallet, r.request_id, now_ms(), r.command) for r in requests[30:]]
                )
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(submit_rest)
            try:
                # Past the publish timeout (2 s), so the outage has been noticed.
                await trio.sleep(3.0)
                answered_while_down = len(answers)
                committed_while_down = ex.writer.stats.rows
                assert replication.replicator is not None
                stats = replication.replicator.stats
                unreachable = stats.unreachable_since is not None
            finally:
                await trio.to_thread.run_sync(nats_server.start)
        # Committed locally, but not one answer while the stream could not have it.
        assert answered_while_down == 0
        assert committed_while_down == 60
        assert unreachable
        assert len(answers) == 30 and all(isinstance(a, Reply) for a in answers)
    rows = journal_rows(cfg.db)
    assert await trio.to_thread.run_sync(stream_rows, nats_server.url) == rows
