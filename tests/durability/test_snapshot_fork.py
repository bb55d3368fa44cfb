"""A snapshot that cannot fork (no process or memory to spare for the moment) is skipped:
the sequencer goes on, everything is answered and journaled, and the next start recovers
it all from the journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hcx.durability.snapshots import list_snapshots, snapshot_dir
from hcx.sequencing import Reply
from hcx.service import snapshotter
from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.durability.market import listing, now_ms, order


async def test_a_failed_fork_skips_the_snapshot_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(snapshotter.os, "fork", no_fork)
    config = ServiceConfig(db=str(tmp_path / "j.db"), snapshot_every=5)
    async with open_exchange(config) as exchange:
        for answer in await exchange.submit_many(listing()):  # type: ignore[arg-type]
            assert isinstance(answer, Reply)
        answers = [
            await exchange.submit("alice", f"o{n}", now_ms(), order("buy", "90")) for n in range(20)
        ]
        assert all(isinstance(answer, Reply) for answer in answers)
        last = exchange.sequencer.step.next_seq - 1
        digest = await exchange.query(lambda engine: engine.digest())
    # The final snapshot at shutdown forks nothing; only the due ones were skipped.
    skipped = [p for p in list_snapshots(snapshot_dir(config.db)) if int(p.stem) < last]
    assert skipped == []
    monkeypatch.setattr(snapshotter.os, "fork", os.fork)
    async with open_exchange(config) as exchange:
        assert exchange.sequencer.step.next_seq == last + 1
        assert await exchange.query(lambda engine: engine.digest()) == digest
