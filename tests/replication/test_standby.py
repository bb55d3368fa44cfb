"""The standby: the stream's rows, verified, into its own journal; a bad record stops it
at its seq with nothing of it written; a former primary's unpublished tail is set aside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from hcx.cli import replay
from hcx.durability.journal import Journal, Row
from hcx.durability.records import crc_of
from hcx.durability.snapshots import list_snapshots, read_snapshot, snapshot_dir
from hcx.replication.bridge import AsyncioThread
from hcx.replication.errors import Deposed, Rejected, unwrap
from hcx.replication.follower import Follower
from hcx.replication.lease import Lease
from hcx.replication.primary import Replicator
from hcx.replication.standby import connect, fence_after_catch_up, follow
from hcx.replication.stream import JournalStream
from hcx.service.config import ServiceConfig
from tests.harness.journal_driver import stream
from tests.replication.natsd import NatsServer
from tests.replication.streamread import journal_rows, stream_rows
from tests.replication.test_publication import config, run_requests


async def follow_until(cfg: ServiceConfig, seq: int, limit_s: float = 30.0) -> Follower:
    stop = trio.Event()
    seen: list[Follower] = []

    async def watch() -> None:
        while not seen or seen[0].stats.applied_seq < seq:
            await trio.sleep(0.02)
        stop.set()

    try:
        with trio.fail_after(limit_s):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                await follow(cfg, stop=stop, on_follower=seen.append)
    except BaseExceptionGroup as group:
        raise unwrap(group) from None
    return seen[0]


async def publish(url: str, rows: list[Row], tmp_path: Path) -> None:
    replicator = Replicator([url], "hcx", mode="sync")
    try:
        await replicator.start(str(tmp_path / "publisher-empty.db"))
        await replicator.publish(rows)
    finally:
        await replicator.aclose()


async def test_a_standby_holds_the_primarys_journal_and_verifies_it(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    primary = tmp_path / "primary.db"
    await run_requests(config(primary, nats_server.url, "sync"), stream(11, 300))
    standby = config(tmp_path / "standby.db", nats_server.url)
    follower = await follow_until(standby, 300)
    assert follower.stats.rows == 300
    assert journal_rows(standby.db) == journal_rows(str(primary))
    assert await trio.to_thread.run_sync(lambda: replay(standby.db, verify=True)) == 0
    # It restarts from its own journal and catches up on what came since.
    await run_requests(config(primary, nats_server.url, "sync"), stream(11, 400))
    follower = await follow_until(standby, 400)
    assert follower.stats.rows == 100
    assert journal_rows(standby.db) == journal_rows(str(primary))


async def test_a_record_that_does_not_verify_stops_the_standby_at_its_seq(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    source = tmp_path / "source.db"
    await run_requests(config(source, None), stream(12, 30))
    rows = journal_rows(str(source))
    bad = rows[20]
    # A changed record with a matching CRC: the chain names it.
    record = bad.record.replace(b"trader", b"trad3r", 1)
    assert record != bad.record
    rows[20] = bad._replace(record=record, crc=crc_of(record))
    await publish(nats_server.url, rows, tmp_path)
    standby = config(tmp_path / "standby.db", nats_server.url)
    with pytest.raises(Rejected) as caught:
        await follow_until(standby, 30)
    assert caught.value.seq == 21
    assert len(journal_rows(standby.db)) == 20


async def test_a_former_primary_sets_its_unpublished_tail_aside(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    old = tmp_path / "old.db"
    await run_requests(config(old, None), stream(13, 60))
    rows = journal_rows(str(old))
    await publish(nats_server.url, rows[:40], tmp_path)
    follower = await follow_until(config(old, nats_server.url), 40)
    assert follower.stats.applied_seq == 40
    assert journal_rows(str(old)) == rows[:40]
    asides = sorted(p for p in tmp_path.iterdir() if p.name.startswith("old.db.aside-41-"))
    # The copy, and beside it the snapshots past seq 40 (the final one at 60) with their
    # window files: none of them is of the history the standby now follows.
    assert len(asides) == 2 and asides[1].name == asides[0].name + ".snapshots"
    assert sorted(p.name for p in asides[1].iterdir()) == [
        f"{60:020d}.snap",
        f"{60:020d}.window",
    ]
    live = snapshot_dir(str(old))
    assert not [p for p in live.iterdir() if p.stem.isdigit() and int(p.stem) > 40]
    # Set aside whole, never deleted: the copy still holds every record.
    assert journal_rows(str(asides[0])) == rows


async def test_a_standbys_snapshots_hold_the_state_and_chain_at_their_seq(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """Taken while the engine is at the row's seq (not at its batch's end), each snapshot
    carries that seq's chain value and digest, so a restart can start from it."""
    primary = tmp_path / "primary.db"
    await run_requests(config(primary, nats_server.url, "sync"), stream(11, 300))
    standby = attrs.evolve(
        config(tmp_path / "standby.db", nats_server.url), snapshot_every=37, snapshots_kept=20
    )
    await follow_until(standby, 300)
    paths = list_snapshots(snapshot_dir(standby.db))
    seqs = sorted(read_snapshot(path)[0].seq for path in paths)
    # The due ones (every 37th seq) and the final one at the end.
    assert seqs == [*range(37, 300, 37), 300]
    journal = Journal(standby.db)
    try:
        for path in paths:
            info, _ = read_snapshot(path)
            row = journal.read(info.seq)
            assert row is not None and info.chain == row.chain, info.seq
    finally:
        journal.close()
    # A full replay checks every snapshot's digest against the state at its seq.
    assert await trio.to_thread.run_sync(lambda: replay(standby.db, verify=True)) == 0


@asynccontextmanager
async def old_primary_and_standby(
    tmp_path: Path, url: str, rows: list[Row], published: int
) -> AsyncIterator[tuple[Replicator, Follower]]:
    """An old primary (holder ``old-node``) that published ``rows[:published]``, and a
    standby follower connected to the same stream, not yet following; both closed after."""
    old = Replicator([url], "hcx", mode="sync", holder="old-node")
    bridge = AsyncioThread("test-standby")
    js = JournalStream([url], "hcx")
    follower = Follower(config(tmp_path / "standby.db", url), bridge, js)
    try:
        await old.start(str(tmp_path / "old-primary.db"))
        await old.publish(rows[:published])
        await connect(bridge, js)
        await follower.open()
        yield old, follower
    finally:
        await follower.unsubscribe()
        follower.close(final_snapshot=False)
        await old.aclose()
        await bridge.call(js.close)
        bridge.close()


async def test_a_promotion_fences_after_what_an_old_primary_appended_late(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """An old primary still alive appends after the promoting standby caught up: the
    standby's fence is refused, it catches up again (verifying the late rows) and fences
    after them; the old primary's next publication is then refused."""
    source = tmp_path / "source.db"
    await run_requests(config(source, None), stream(14, 60))
    rows = journal_rows(str(source))
    async with old_primary_and_standby(tmp_path, nats_server.url, rows, 40) as (old, follower):
        await follower.follow(catch_up=True)
        assert follower.stats.applied_seq == 40
        await old.publish(rows[40:50])
        lease = Lease(follower.bridge, follower.stream, "standby-node")
        assert not await fence_after_catch_up(follower, lease)
        await follower.follow(catch_up=True)
        assert follower.stats.applied_seq == 50
        assert await fence_after_catch_up(follower, lease)
        with pytest.raises(Deposed):
            await old.publish(rows[50:])
        assert journal_rows(str(tmp_path / "standby.db")) == rows[:50]
        assert stream_rows(nats_server.url) == rows[:50]


@pytest.mark.parametrize("how", ["restart", "retry"])
async def test_an_old_primary_appends_nothing_after_a_standbys_fence(
    tmp_path: Path, nats_server: NatsServer, how: str
) -> None:
    """The fence repeats the old primary's last row, chain and all. Neither a restart of
    the old primary on its journal (which reconciles against the stream's end) nor its
    retry of a publication whose answer it lost may take that row for its own and
    append its tail after it: it is deposed, and the stream ends at the fence."""
    source = tmp_path / "source.db"
    await run_requests(config(source, None), stream(15, 60))
    rows = journal_rows(str(source))
    async with old_primary_and_standby(tmp_path, nats_server.url, rows, 40) as (old, follower):
        if how == "retry":
            # Row 40's answer lost: the old primary still thinks it is unpublished.
            old.stats.published_seq = 39
        await follower.follow(catch_up=True)
        lease = Lease(follower.bridge, follower.stream, "standby-node")
        assert await fence_after_catch_up(follower, lease)
        with pytest.raises(Deposed, match="fenced by node standby-node"):
            if how == "restart":
                back = Replicator([nats_server.url], "hcx", mode="sync", holder="old-node")
                try:
                    await back.start(str(source))
                finally:
                    await back.aclose()
            else:
                await old.publish(rows[39:])
        assert stream_rows(nats_server.url) == rows[:40]
