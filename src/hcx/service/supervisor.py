"""The supervisor: one nursery running the sequencer, the writer and the release stage.

``open_exchange`` recovers the engine from the journal, rebuilds the idempotency window,
connects the tasks with memory channels of the configured capacities and yields an
``Exchange`` to submit commands and reads through. Leaving the context drains the
pipeline (every accepted command is committed and answered), writes a final snapshot and
closes the journal. A ``DurabilityError`` or ``EngineFault`` in any task cancels all of
them: nothing after the fault is released, and the error leaves the context as itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import apsw
import attrs
import trio

from hcx.durability.errors import DurabilityError
from hcx.durability.group_commit import GroupCommitWriter
from hcx.durability.journal import MEMORY, Journal, Row
from hcx.durability.replay import Recovered, recover
from hcx.durability.snapshots import list_snapshots, snapshot_dir
from hcx.durability.window_build import WindowBuild, WindowPlan
from hcx.engine import Engine
from hcx.engine.commands import Command
from hcx.service.clock import Clock, WallClock
from hcx.service.config import ServiceConfig
from hcx.service.entries import Entry, Pending, QueryItem, Refusal, Reply, Submission
from hcx.service.release import Publisher, Releaser
from hcx.service.sequencer import EngineFault, Sequencer
from hcx.service.snapshotter import Snapshotter

log = logging.getLogger("hcx")
T = TypeVar("T")
POISON_PREFIX = "poison:"
FUTURE_KEY = "max_future_ms"


@attrs.define
class Exchange:
    """A running exchange: submit commands and reads; they are answered once durable."""

    config: ServiceConfig
    clock: Clock
    recovered: Recovered
    sequencer: Sequencer
    writer: GroupCommitWriter
    releaser: Releaser
    _requests: trio.MemorySendChannel[list[Submission | QueryItem]]

    async def submit(
        self, wallet: str, request_id: str, client_ts: int, command: Command
    ) -> Reply | Refusal:
        waiter = Pending()
        await self._requests.send([Submission(wallet, request_id, client_ts, command, waiter)])
        answer: Reply | Refusal = await waiter.wait()
        return answer

    async def submit_many(
        self, items: Sequence[tuple[str, str, int, Command]]
    ) -> list[Reply | Refusal]:
        waiters = [Pending() for _ in items]
        await self._requests.send(
            [Submission(*item, waiter) for item, waiter in zip(items, waiters, strict=True)]
        )
        return [await waiter.wait() for waiter in waiters]

    async def send(self, items: list[Submission | QueryItem]) -> None:
        """Hand over prepared items whose waiters the caller provides (the gateway)."""
        await self._requests.send(items)

    async def query(self, read: Callable[[Engine], T]) -> T:
        waiter = Pending()
        await self._requests.send([QueryItem(read, waiter)])
        answer: T = await waiter.wait()
        return answer

    def add_publisher(self, publish: Publisher) -> None:
        self.releaser.publishers.append(publish)

    @property
    def engine(self) -> Engine:
        """The live engine: read it only between awaits (it changes as commands apply)."""
        return self.sequencer.engine


def _window_plan(journal: Journal, config: ServiceConfig, last_ts: int) -> WindowPlan:
    """Every key a repeat can still reach. A request sequenced at ts carried a client ts
    of at most ts + future (the largest ``future_ms`` this journal was ever run with); a
    repeat passes the stale check only while that client ts is within the window of the
    sequencer's time, which never goes below the journal's last ts. So records from
    last ts - window - future on are enough, whatever the clock does after the start."""
    future_ms = _largest_future_ms(journal, config.future_ms)
    # The same bound decides when the window lets a generation of keys go.
    return WindowPlan(last_ts - config.recv_window_ms - future_ms, config.recv_window_ms, future_ms)


def _tail_to_replay(last_seq: int, snapshots: Path | None) -> int:
    """Records after the newest snapshot (replay may find that one bad and go back)."""
    newest = 0
    for path in list_snapshots(snapshots) if snapshots is not None else []:
        seq = int(path.stem) if path.stem.isdigit() else 0
        if seq <= last_seq:
            newest = seq
            break
    return last_seq - newest


def _last_ts(journal: Journal, last_seq: int) -> int:
    """The last record's ts as its row holds it, before replay has checked the row."""
    row = journal.read(last_seq) if last_seq else None
    return row[1] if row is not None and type(row[1]) is int else 0


def _largest_future_ms(journal: Journal, future_ms: int) -> int:
    """The largest ``future_ms`` of this run and every earlier one (recorded before the
    first command of a run is sequenced), so lowering it across a restart cannot drop
    keys that requests sequenced under the old value still need."""
    stored = journal.get_meta(FUTURE_KEY)
    largest = max(int(stored) if stored is not None else 0, future_ms)
    if stored is None or largest != int(stored):
        journal.set_meta(FUTURE_KEY, str(largest).encode())
    return largest


def _poisoned(journal: Journal) -> set[tuple[str, str]]:
    rows: Any = journal.connection.execute(
        "SELECT key FROM meta WHERE key LIKE ?", (POISON_PREFIX + "%",)
    )
    found = set()
    for (key,) in rows:
        wallet, _, request_id = key[len(POISON_PREFIX) :].partition("\x00")
        found.add((wallet, request_id))
    return found


def record_poison(db: str, fault: EngineFault) -> None:
    """Remember a request that crashed the engine, on a fresh connection."""
    journal = Journal(db)
    try:
        journal.set_meta(f"{POISON_PREFIX}{fault.wallet}\x00{fault.request_id}", b"1")
    finally:
        journal.close()


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The fault that ended the nursery, out of trio's exception group."""
    for kind in (DurabilityError, EngineFault):
        matched, _ = group.split(kind)
        if matched is not None:
            leaf: BaseException = matched
            while isinstance(leaf, BaseExceptionGroup):
                leaf = leaf.exceptions[0]
            return leaf
    return group


@asynccontextmanager
async def open_exchange(
    config: ServiceConfig | None = None,
    *,
    clock: Clock | None = None,
    publishers: Sequence[Publisher] = (),
    vfs: str | None = None,
    commit_hook: Callable[[Sequence[Row]], None] | None = None,
) -> AsyncIterator[Exchange]:
    config = config or ServiceConfig()
    clock = clock or WallClock()
    in_memory = config.durability == "memory"
    path = MEMORY if in_memory else config.db
    journal = Journal(path, vfs=vfs)
    reader = journal if in_memory else Journal(path, vfs=vfs)
    snapshots = None if in_memory else snapshot_dir(path)
    try:
        # The window needs only the journal: it is built beside the replay.
        last_seq, _ = journal.last()
        last_ts = _last_ts(journal, last_seq)
        window_build: WindowBuild | None = None
        with suppress(TypeError, ValueError):  # a malformed row: replay names it below
            window_build = WindowBuild.start(
                journal,
                _window_plan(journal, config, last_ts),
                child_allowed=not in_memory and vfs is None,
                replay_tail=_tail_to_replay(last_seq, snapshots),
            )
        try:
            recovered = recover(journal, snapshots, config.engine)
        except BaseException:
            if window_build is not None:
                window_build.abandon()
            raise
        if window_build is None or recovered.engine.last_ts != last_ts:
            # Only a row that replay did not read (one at the snapshot's seq) can
            # disagree with the replayed state: the state decides.
            if window_build is not None:
                window_build.abandon()
            plan = _window_plan(journal, config, recovered.engine.last_ts)
            window_build = WindowBuild.start(journal, plan, child_allowed=False, replay_tail=0)
        log.info(
            "replay done: %d records after snapshot at seq %d, last seq %d, %.2fs",
            recovered.replayed,
            recovered.snapshot_seq,
            recovered.last_seq,
            recovered.seconds,
        )
        window = window_build.result()
        engine = recovered.engine
        snapshotter = (
            Snapshotter(engine, snapshots, config.snapshot_every, config.snapshots_kept)
            if snapshots is not None
            else None
        )
        requests_tx, requests_rx = trio.open_memory_channel[list[Submission | QueryItem]](
            config.request_capacity
        )
        journal_tx, journal_rx = trio.open_memory_channel[list[Entry]](config.journal_capacity)
        committed_tx, committed_rx = trio.open_memory_channel[list[Entry]](config.release_capacity)
        sequencer = Sequencer(
            engine,
            clock,
            window,
            recovered.chain,
            requests_rx,
            journal_tx,
            reader.read,
            recv_window_ms=config.recv_window_ms,
            future_ms=config.future_ms,
            max_batch=config.max_batch,
            synchronous=config.durability == "sync",
            poisoned=_poisoned(journal),
            on_applied=snapshotter.due if snapshotter is not None else None,
        )
        writer = GroupCommitWriter(
            journal, journal_rx, committed_tx, max_batch=config.max_batch, commit=commit_hook
        )
        releaser = Releaser(committed_rx, sequencer, list(publishers))
        exchange = Exchange(config, clock, recovered, sequencer, writer, releaser, requests_tx)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sequencer.run)
                nursery.start_soon(writer.run)
                nursery.start_soon(releaser.run)
                # The helpers' scopes exist before their tasks first run, so the drain
                # below cancels them even if the exchange is closed at once.
                aux: list[trio.CancelScope] = []
                if snapshotter is not None:
                    # Not a helper to cancel: it ends once it has reaped every child, so
                    # no snapshot is still being written when the final one is.
                    nursery.start_soon(snapshotter.run)
                if not in_memory:
                    aux.append(trio.CancelScope())
                    nursery.start_soon(
                        _in_scope,
                        aux[-1],
                        _checkpoint_loop,
                        path,
                        vfs,
                        config.checkpoint_interval_s,
                    )
                try:
                    yield exchange
                finally:
                    # Drain: the sequencer ends when its input closes, then the writer,
                    # then the release stage; then the helpers can stop.
                    await requests_tx.aclose()
                    # Not shielded: a fault in a task cancels this wait with everything else.
                    await _wait_drained(releaser, sequencer)
                    if snapshotter is not None:
                        snapshotter.close()
                    for scope in aux:
                        scope.cancel()
        except BaseExceptionGroup as group:
            fault = _unwrap(group)
            if isinstance(fault, EngineFault) and not in_memory:
                record_poison(path, fault)
            if fault is group:
                raise
            raise fault from None
        if snapshotter is not None and engine.last_seq > recovered.snapshot_seq:
            snapshotter.final(sequencer.chain)
    finally:
        if reader is not journal:
            reader.close()
        with suppress(apsw.Error):
            journal.close()


async def _wait_drained(releaser: Releaser, sequencer: Sequencer) -> None:
    while releaser.released_seq < sequencer.next_seq - 1 or sequencer.in_flight:
        await trio.sleep(0.001)


async def _in_scope(scope: trio.CancelScope, fn: Callable[..., Any], *args: Any) -> None:
    """Run a helper task that the drain cancels (through ``scope``) once the pipeline is
    empty; a scope cancelled before the task starts cancels it as it starts."""
    with scope:
        await fn(*args)


# At most this many PASSIVE checkpoints back to back in one round (see below).
CHECKPOINT_PASSES = 8


async def _checkpoint_loop(path: str, vfs: str | None, interval_s: float) -> None:
    """Checkpoint the WAL from a connection of its own, off the commit path.

    A PASSIVE checkpoint never blocks the writer, but it copies only the frames that were
    in the WAL when it began. The WAL restarts from its beginning (and is cut back to
    ``journal_size_limit``) only when a write transaction begins with every frame copied,
    which under sustained load one pass every interval never achieves: the writer appends
    while it copies, and the WAL grew past 700 MB in a minute at 17k commands/s. So each
    round repeats the pass, each copying only what arrived during the one before, until a
    pass finds nothing new: the writer's next transaction then restarts the WAL, which
    stays near one interval's worth of frames.
    """
    connection = Journal(path, vfs=vfs)
    limiter = trio.CapacityLimiter(1)
    try:
        while True:
            await trio.sleep(interval_s)
            previous = -1
            for _ in range(CHECKPOINT_PASSES):
                try:
                    frames, _ = await trio.to_thread.run_sync(
                        connection.checkpoint, "PASSIVE", limiter=limiter, abandon_on_cancel=False
                    )
                except apsw.Error as exc:
                    # A checkpoint that cannot write or fsync the database file is a
                    # durability fault like a failed COMMIT: stop, never retry.
                    raise DurabilityError(f"checkpoint failed: {exc!r}") from exc
                if frames == 0 or frames <= previous:
                    break  # nothing new since the last pass, or the WAL already restarted
                previous = frames
    finally:
        connection.close()
