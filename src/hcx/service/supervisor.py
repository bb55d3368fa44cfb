"""The supervisor: one nursery running the sequencer, the writer and the release stage.

``open_exchange`` recovers the engine and the idempotency window (``recovery``), or takes
them live from a promoted standby (``state``), connects
the tasks with memory channels of the configured capacities and yields an ``Exchange``.
Leaving the context drains the pipeline (every accepted command is committed and
answered), writes a final snapshot and closes the journal. A ``DurabilityError`` or
``EngineFault`` in any task cancels all of them: nothing after the fault is released, and
the error leaves the context as itself. It wires; it never sequences or commits itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import apsw
import trio

from hcx.durability.errors import DurabilityError
from hcx.durability.group_commit import GroupCommitWriter
from hcx.durability.idempotency import IdempotencyWindow
from hcx.durability.journal import MEMORY, Journal, Row
from hcx.durability.poison import poisoned_requests, record_poison
from hcx.durability.replay import Recovered
from hcx.durability.snapshots import snapshot_dir
from hcx.sequencing import EngineFault, SequencingStep
from hcx.service.checkpoints import checkpoint_loop
from hcx.service.clock import Clock, WallClock
from hcx.service.config import ServiceConfig
from hcx.service.entries import Entry, QueryItem, Submission
from hcx.service.exchange import Exchange
from hcx.service.recovery import recover_with_window
from hcx.service.release import Publisher, Releaser
from hcx.service.sequencer import Sequencer
from hcx.service.snapshotter import Snapshotter

log = logging.getLogger("hcx")
Stage = Callable[
    [trio.MemoryReceiveChannel[list[Entry]], trio.MemorySendChannel[list[Entry]]],
    Awaitable[None],
]


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
    stage: Stage | None = None,
    state: tuple[Recovered, IdempotencyWindow] | None = None,
) -> AsyncIterator[Exchange]:
    """``stage``, if given, sits between the writer and the release stage (replication's
    sync gate): it forwards committed batches, in order, when they may be released.
    ``state``, if given, is the engine and window a promoted standby built from this
    very journal (verified row by row): used as they are, instead of reloading the
    snapshot and rebuilding the window, if the journal ends where they do."""
    config = config or ServiceConfig()
    clock = clock or WallClock()
    in_memory = config.durability == "memory"
    path = MEMORY if in_memory else config.db
    journal = Journal(path, vfs=vfs)
    reader = journal if in_memory else Journal(path, vfs=vfs)
    snapshots = None if in_memory else snapshot_dir(path)
    try:
        if state is not None and not _holds(journal, state[0]):
            log.warning("a handed-over state disagrees with the journal's end: recovering")
            state = None
        if state is not None:
            log.info("took over the live state at seq %d", state[0].last_seq)
        recovered, window = state or recover_with_window(
            journal, snapshots, config, child_allowed=not in_memory and vfs is None
        )
        engine = recovered.engine
        snapshotter = (
            Snapshotter(engine, snapshots, config.snapshot_every, config.snapshots_kept, window)
            if snapshots is not None
            else None
        )
        step = SequencingStep(
            engine,
            window,
            recovered.chain,
            reader.read,
            recv_window_ms=config.recv_window_ms,
            future_ms=config.future_ms,
            poisoned=poisoned_requests(journal),
        )
        requests_tx, requests_rx = trio.open_memory_channel[list[Submission | QueryItem]](
            config.request_capacity
        )
        journal_tx, journal_rx = trio.open_memory_channel[list[Entry]](config.journal_capacity)
        committed_tx, committed_rx = trio.open_memory_channel[list[Entry]](config.release_capacity)
        sequencer = Sequencer(
            step,
            clock,
            requests_rx,
            journal_tx,
            max_batch=config.max_batch,
            synchronous=config.durability == "sync",
            on_applied=snapshotter.due if snapshotter is not None else None,
        )
        writer = GroupCommitWriter(
            journal, journal_rx, committed_tx, max_batch=config.max_batch, commit=commit_hook
        )
        release_rx = committed_rx
        if stage is not None:
            gated_tx, release_rx = trio.open_memory_channel[list[Entry]](config.release_capacity)
        releaser = Releaser(release_rx, step.last_seq, step.settle, list(publishers))
        exchange = Exchange(config, clock, recovered, sequencer, writer, releaser, requests_tx)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sequencer.run)
                nursery.start_soon(writer.run)
                nursery.start_soon(releaser.run)
                if stage is not None:
                    nursery.start_soon(stage, committed_rx, gated_tx)
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
                        checkpoint_loop,
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
                    await releaser.finished.wait()
                    if snapshotter is not None:
                        snapshotter.close()
                    for scope in aux:
                        scope.cancel()
        except BaseExceptionGroup as group:
            fault = _unwrap(group)
            if isinstance(fault, EngineFault) and not in_memory:
                record_poison(path, fault.wallet, fault.request_id)
            if fault is group:
                raise
            raise fault from None
        if snapshotter is not None and engine.last_seq > recovered.snapshot_seq:
            snapshotter.final(step.chain)
    finally:
        if reader is not journal:
            reader.close()
        with suppress(apsw.Error):
            journal.close()


def _holds(journal: Journal, recovered: Recovered) -> bool:
    """The journal's last row is the state's last seq, with the state's chain."""
    return journal.last() == (recovered.last_seq, recovered.chain)


async def _in_scope(scope: trio.CancelScope, fn: Callable[..., Any], *args: Any) -> None:
    """Run a helper task that the drain cancels (through ``scope``) once the pipeline is
    empty; a scope cancelled before the task starts cancels it as it starts."""
    with scope:
        await fn(*args)


__all__ = ["Exchange", "open_exchange"]
