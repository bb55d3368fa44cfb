"""Taking snapshots without stalling the sequencer: a forked child writes them.

At every ``snapshot_every``-th seq the sequencer calls ``due``; ``fork()`` gives a child
process a copy-on-write image of the engine (and of the idempotency window, whose tables
are private pages) exactly at that seq, in a few milliseconds whatever the size of the
state. The child writes the window file and then encodes, digests and writes the snapshot
file (atomically, see ``durability.window_files`` and ``durability.snapshots``) and
exits; the parent reaps it off the event loop and prunes old snapshots. A snapshot
written ahead of the journal's commit is harmless: recovery ignores snapshots past the
journal's last seq, and ones whose chain value is not the journal's at their seq (the
record they saw was lost in a crash and the seq reused by a restart).

The final snapshot at a graceful shutdown is written in-process, after the pipeline has
drained.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import trio

from hcx.durability.idempotency import IdempotencyWindow
from hcx.durability.snapshots import encode_snapshot, prune, write_snapshot_file
from hcx.durability.window_files import write_window_file
from hcx.engine import Engine
from hcx.engine.snapshot import digest_of

log = logging.getLogger("hcx.snapshot")


def write_snapshot(
    engine: Engine, chain: bytes, directory: Path, window: IdempotencyWindow | None = None
) -> Path:
    """The snapshot of ``engine``, and beside it ``window`` if it holds the keys up to the
    same seq (written after it: near a full disk the optional file must not cost the
    snapshot)."""
    state = engine.snapshot()
    data = encode_snapshot(state, digest_of(state), chain)
    path = write_snapshot_file(directory, data, engine.last_seq)
    if window is not None and window.last_seq == engine.last_seq:
        try:
            write_window_file(directory, window, chain)
        except OSError as exc:
            # Only a saving at the next start: a restart rebuilds the window without it.
            log.warning("window file at seq %d not written: %r", engine.last_seq, exc)
    return path


class Snapshotter:
    def __init__(
        self,
        engine: Engine,
        directory: Path,
        every: int,
        keep: int,
        window: IdempotencyWindow | None = None,
    ) -> None:
        """``window``, if given, is stored beside each snapshot (a restart then reads it
        instead of rebuilding it from the journal)."""
        self.engine = engine
        self.window = window
        self.directory = directory
        self.every = every
        self.keep = keep
        self.written = 0
        self._children: trio.MemorySendChannel[int]
        self._reap_queue: trio.MemoryReceiveChannel[int]
        self._children, self._reap_queue = trio.open_memory_channel[int](64)

    def due(self, seq: int, chain: bytes) -> None:
        """Called by the sequencer after applying ``seq``."""
        if seq % self.every:
            return
        try:
            pid = os.fork()
        except OSError as exc:
            # A snapshot only shortens the next start: a machine out of processes or
            # memory for the moment skips this one rather than stopping the sequencer.
            log.warning("snapshot at seq %d skipped: fork failed: %r", seq, exc)
            return
        if pid == 0:  # the child: write and leave without running any parent cleanup
            code = 0
            try:
                # Lowest priority: the writer thread and the commits' I/O need the other
                # core more than the snapshot needs to be quick (docs/benchmarks.md).
                os.nice(19)
                write_snapshot(self.engine, chain, self.directory, self.window)
            except BaseException:
                code = 1
            os._exit(code)
        try:
            self._children.send_nowait(pid)
        except (trio.WouldBlock, trio.ClosedResourceError):
            os.waitpid(pid, 0)

    async def run(self) -> None:
        async with self._reap_queue:
            async for pid in self._reap_queue:
                _, status = await trio.to_thread.run_sync(os.waitpid, pid, 0)
                if os.waitstatus_to_exitcode(status) == 0:
                    self.written += 1
                    prune(self.directory, self.keep)
                    log.info("snapshot written by child %d", pid)
                else:
                    log.error("snapshot child %d failed with status %d", pid, status)

    def close(self) -> None:
        self._children.close()

    def final(self, chain: bytes) -> Path:
        path = write_snapshot(self.engine, chain, self.directory, self.window)
        prune(self.directory, self.keep)
        return path
