"""Crash safety under injected storage faults (see ``tests.harness.faulty_vfs``).

Each scenario drives an exchange through a VFS that fails one fsync, fills the disk or
cuts the power at a seeded point, then reads the file back with the ordinary VFS and
checks (``tests.harness.fault_scenarios.verify`` and ``retry_all``):

- the fault leaves ``open_exchange`` as a ``DurabilityError`` (not wrapped in a group);
- nothing was released (reply or publication) beyond the last COMMIT that returned;
- the journal replays; every released reply and publication is in it, byte for byte;
- money is conserved in the recovered engine;
- re-sending every request after the restart returns the original answers and leaves
  each request in the journal exactly once.

Two regressions found this way follow (a snapshot of a history a crash lost; snapshot
writers pruning each other's files). The last tests prove that the checks can fail: a
writer that releases before its commit, and a journal that commits without fsync, are
both caught.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

from hcx.durability.errors import DurabilityError
from hcx.durability.group_commit import GroupCommitWriter
from hcx.durability.journal import Journal, Row
from hcx.durability.replay import recover
from hcx.durability.snapshots import (
    list_snapshots,
    prune,
    snapshot_dir,
    write_snapshot_file,
)
from hcx.engine import EngineConfig
from hcx.engine.commands import Deposit
from hcx.sequencing import Reply
from hcx.service.config import DurabilityMode, ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.harness.fault_scenarios import (
    CommitTracker,
    Run,
    Verdict,
    now_ms,
    retry_all,
    run_until_fault,
    service_config,
    verify,
)
from tests.harness.faulty_vfs import FaultPlan, FaultyVFS

MODES: tuple[DurabilityMode, ...] = ("group", "sync")
SEEDS = range(3)


async def _judge(run: Run) -> Verdict:
    assert isinstance(run.error, DurabilityError), f"the fault did not stop the exchange: {run}"
    assert run.vfs.fired
    assert not run.body_finished
    verdict = verify(run)
    await retry_all(run, verdict)
    assert verdict.problems == []
    assert verdict.lost == verdict.duplicated == 0
    assert verdict.replies_checked > 0
    return verdict


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
async def test_fsync_failure_releases_nothing_that_is_not_durable(
    tmp_path: Path, mode: DurabilityMode, seed: int
) -> None:
    rng = random.Random(f"fsync-{mode}-{seed}")
    # die_on_fault=False lets later fsyncs succeed: a writer that retried would go on.
    plan = FaultPlan(fail_sync_after=rng.randrange(0, 40), die_on_fault=rng.random() < 0.5)
    run = await run_until_fault(str(tmp_path / "j.db"), mode, plan, seed=seed)
    # fsyncgate: the kernel may have dropped the dirty pages; or it may have kept them.
    if rng.random() < 0.5:
        run.vfs.power_loss()
    await _judge(run)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
async def test_disk_full_releases_nothing_that_is_not_durable(
    tmp_path: Path, mode: DurabilityMode, seed: int
) -> None:
    rng = random.Random(f"full-{mode}-{seed}")
    plan = FaultPlan(fail_write_after=rng.randrange(0, 150), die_on_fault=rng.random() < 0.5)
    run = await run_until_fault(str(tmp_path / "j.db"), mode, plan, seed=seed)
    assert run.vfs.fault is not None and "disk full" in run.vfs.fault
    await _judge(run)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
async def test_power_loss_keeps_every_released_reply(
    tmp_path: Path, mode: DurabilityMode, seed: int
) -> None:
    rng = random.Random(f"power-{mode}-{seed}")
    plan = FaultPlan(cut_power_after=rng.randrange(0, 250))
    run = await run_until_fault(str(tmp_path / "j.db"), mode, plan, seed=seed)
    # Some runs lose every unsynced write, others keep a random (torn) subset of them.
    run.vfs.power_loss(rng, keep_probability=rng.choice((0.0, 0.5)))
    await _judge(run)


async def test_power_cut_at_a_random_moment(tmp_path: Path) -> None:
    """The cut comes from a timer, not an I/O count: wherever the writer happens to be."""
    vfs = FaultyVFS()

    async def cut_later() -> None:
        while not vfs.armed:  # the setup is done
            await trio.sleep(0.001)
        await trio.sleep(random.Random(7).uniform(0.01, 0.05))
        vfs.cut_power()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(cut_later)
        run = await run_until_fault(
            str(tmp_path / "j.db"), "group", FaultPlan(), seed=11, count=5_000, vfs=vfs
        )
    vfs.power_loss()
    await _judge(run)


async def test_after_a_fault_no_submit_returns_a_reply(tmp_path: Path) -> None:
    db = str(tmp_path / "j.db")
    vfs = FaultyVFS()
    tracker = CommitTracker()
    late: list[object] = []
    reached_end = False
    config = service_config(db, "group", checkpoint_interval_s=60)
    with trio.fail_after(10), pytest.raises(DurabilityError):
        async with open_exchange(config, vfs=vfs.name, commit_hook=tracker) as exchange:
            tracker.journal = exchange.writer.journal
            ok = await exchange.submit("admin", "first", now_ms(), Deposit("alice", 10**6))
            assert isinstance(ok, Reply) and ok.seq == 1

            async def keep_submitting(task: int) -> None:
                for n in range(1_000):
                    late.append(
                        await exchange.submit(
                            "admin", f"late-{task}-{n}", now_ms(), Deposit("b", 1)
                        )
                    )

            # Let fsyncs succeed again after the failure: only the crash stops replies.
            vfs.arm(FaultPlan(fail_sync_after=0, die_on_fault=False))
            async with trio.open_nursery() as nursery:
                for task in range(4):
                    nursery.start_soon(keep_submitting, task)
            reached_end = True
    assert (tracker.committed_through, tracker.failed_from) == (1, 2)
    assert late == [] and not reached_end
    # The exchange is gone: a submit now fails instead of waiting or answering.
    with pytest.raises((trio.ClosedResourceError, trio.BrokenResourceError)):
        await exchange.submit("admin", "after", now_ms(), Deposit("alice", 1))
    journal = Journal(db)
    try:
        recovered = recover(journal, snapshot_dir(db), EngineConfig())
        assert recovered.engine.balance("alice").total == 10**6
    finally:
        journal.close()


@pytest.mark.parametrize("second_crash", [11, 12])
async def test_a_snapshot_of_a_lost_timeline_is_never_loaded(
    tmp_path: Path, second_crash: int
) -> None:
    """A snapshot forked at seq S before S committed survives a crash that loses S. After
    a restart (here with another ``snapshot_every``) the journal's new seq S is another
    command. Recovery must neither restore the lost timeline's state from that snapshot
    (journal ending at S: silently wrong state) nor refuse to start (a tail after S: the
    chain no longer follows)."""
    db = str(tmp_path / "j.db")

    async def crash_at(seq: int, wallet: str, snapshot_every: int) -> None:
        vfs = FaultyVFS()
        config = ServiceConfig(
            db=db, durability="sync", snapshot_every=snapshot_every, checkpoint_interval_s=60
        )
        with pytest.raises(DurabilityError):
            async with open_exchange(config, vfs=vfs.name) as exchange:
                while exchange.sequencer.step.next_seq < seq:
                    n = exchange.sequencer.step.next_seq
                    answer = await exchange.submit(
                        "admin", f"{wallet}-{n}", now_ms(), Deposit(wallet, n)
                    )
                    assert isinstance(answer, Reply)
                vfs.arm(FaultPlan(fail_sync_after=0))
                await exchange.submit("admin", f"{wallet}-{seq}", now_ms(), Deposit(wallet, 7))
        vfs.power_loss()  # the failed fsync's pages never reach the disk

    await crash_at(10, "alice", snapshot_every=10)  # forks a snapshot at 10; 10 is lost
    with trio.fail_after(5):
        while not list_snapshots(snapshot_dir(db)):
            await trio.sleep(0.01)
    await crash_at(second_crash, "bob", snapshot_every=1_000)  # now seq 10 is bob's
    journal = Journal(db)
    try:
        from_scratch = recover(journal, None, EngineConfig())
        recovered = recover(journal, snapshot_dir(db), EngineConfig())
        assert recovered.last_seq == from_scratch.last_seq == second_crash - 1
        assert recovered.engine.digest() == from_scratch.engine.digest()
        assert recovered.engine.balance("alice").total == sum(range(1, 10))
    finally:
        journal.close()


def test_pruning_spares_a_snapshot_another_child_is_still_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the campaign: snapshot children overlap under load, and the one reaped
    first pruned the temporary file of one still writing, which then failed."""
    directory = tmp_path / "j.db.snapshots"
    for seq in (25, 50):
        write_snapshot_file(directory, b"snapshot", seq)
    rename = os.replace

    def others_reaped_meanwhile(source: str | Path, target: str | Path) -> None:
        prune(directory, keep=2)
        rename(source, target)

    monkeypatch.setattr(os, "replace", others_reaped_meanwhile)
    write_snapshot_file(directory, b"snapshot", 75)
    assert [p.name for p in list_snapshots(directory)][:1] == [f"{75:020d}.snap"]


# --- the checks above can fail ------------------------------------------------------


async def _release_then_commit(self: GroupCommitWriter) -> None:
    """A broken writer: forwards each batch to the release stage before committing it."""
    async with self.entries, self.committed:
        async for first in self.entries:
            batch = list(first)
            rows = [row for row in (entry.row for entry in batch) if row is not None]
            await self.committed.send(batch)
            if rows:
                await self._commit_rows(rows)


async def test_the_checks_catch_a_release_before_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GroupCommitWriter, "run", _release_then_commit)
    problems = []
    for seed in range(3):
        plan = FaultPlan(fail_sync_after=5 + 5 * seed)
        run = await run_until_fault(str(tmp_path / f"j{seed}.db"), "group", plan, seed=seed)
        assert isinstance(run.error, DurabilityError)
        problems.extend(verify(run).problems)
    assert any("before its commit" in p or "beyond the last good commit" in p for p in problems)


class UnsyncedCommits(CommitTracker):
    """A broken journal: commits with ``synchronous=OFF``, so COMMIT returns before
    anything is on disk."""

    def __call__(self, rows: Sequence[Row]) -> None:
        assert self.journal is not None
        self.journal.connection.execute("PRAGMA synchronous=OFF")
        super().__call__(rows)


async def test_the_checks_catch_a_commit_without_fsync(tmp_path: Path) -> None:
    db = str(tmp_path / "j.db")
    # No checkpoints: their fsync of the WAL would make the commits durable after all.
    config = service_config(db, "group", checkpoint_interval_s=60)
    plan = FaultPlan(cut_power_after=150)
    run = await run_until_fault(db, "group", plan, seed=1, config=config, tracker=UnsyncedCommits())
    assert isinstance(run.error, DurabilityError) and len(run.replies) > 20
    run.vfs.power_loss()
    verdict = verify(run)
    assert verdict.lost > 0 and verdict.problems
