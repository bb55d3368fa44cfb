"""Rebuilding the idempotency window at start: from its stored file, or beside replay.

A window stored beside a snapshot (``window_files``) holds every key up to its seq: the
start reads it, checks it against the journal, adds the keys journaled after it and drops
the generations that have aged out, as the running window would have. Without one:

The keys a restart must remember depend on the journal alone (every record from the last
ts - window - future on), not on the replayed state, and rebuilding a million of them is
about a second of Python. So for a large window a child process reads those rows and
builds the tables while this process loads the snapshot and replays the tail; the tables
come back over a pipe as their raw arrays. A small window, a journal in memory and one
opened through a VFS of this process (fault injection) are built here. The child only
saves time and decides nothing: if it fails in any way, or hands back a window of the
wrong size, the window is built here instead.

The child is ``main(DB, SINCE_TS, WINDOW_MS, FUTURE_MS)``: it writes the window to
standard output.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Callable
from typing import IO, cast

import attrs

from hcx.durability.idempotency import IdempotencyWindow
from hcx.durability.journal import Journal
from hcx.durability.window_files import StoredWindow

log = logging.getLogger("hcx.window")

# Not ``-m``: this module is imported on the way (``hcx`` imports the service), and
# runpy warns about running a module that is already imported.
_CHILD = f"import sys; from {__name__} import main; sys.exit(main(sys.argv[1:]))"

# A child costs an interpreter's start and handing its tables over, so it pays only
# beside a replay that takes a while (figures: docs/benchmarks.md, "Restart: the window
# child"). Below these sizes the window is built here, after the replay.
PARALLEL_MIN_KEYS = 100_000
PARALLEL_MIN_TAIL = 25_000  # records to replay, about half a second


@attrs.frozen
class WindowPlan:
    since_ts: int
    window_ms: int
    future_ms: int


def build_here(journal: Journal, plan: WindowPlan) -> IdempotencyWindow:
    window = IdempotencyWindow(plan.window_ms, plan.future_ms)
    window.add_all(journal.keys_since(plan.since_ts))
    return window


def extend_stored(
    journal: Journal, plan: WindowPlan, stored: StoredWindow
) -> IdempotencyWindow | None:
    """The stored window brought up to the journal's end, or None if it fails a check:
    the first record the plan needs and the stored window's last must be in it."""
    window = stored.window
    if (window.window_ms, window.future_ms) != (plan.window_ms, plan.future_ms):
        return None
    first = journal.first_seq_from(plan.since_ts)
    probes = {stored.seq} if first is None or first > stored.seq else {first, stored.seq}
    for seq in probes:
        row = journal.read(seq)
        if row is None or seq not in window.candidates(row.key):
            log.warning("the window stored at seq %d lacks seq %d's key", stored.seq, seq)
            return None
    window.add_all(journal.keys_since(plan.since_ts, after_seq=stored.seq))
    window.forget_before(plan.since_ts)
    return window


def keys_to_read(journal: Journal, since_ts: int) -> int:
    first = journal.first_seq_from(since_ts)
    return 0 if first is None else journal.last()[0] - first + 1


class WindowBuild:
    """A window being built: by a child process if one was started, else on ``result``."""

    def __init__(
        self,
        journal: Journal,
        plan: WindowPlan,
        expected: int,
        child: subprocess.Popen[bytes] | None,
        stored: StoredWindow | None = None,
    ) -> None:
        self.journal = journal
        self.plan = plan
        self.expected = expected
        self.child = child
        self.stored = stored
        self.built_by_child = False
        self.from_stored = False

    @classmethod
    def start(
        cls,
        journal: Journal,
        plan: WindowPlan,
        *,
        child_allowed: bool,
        replay_tail: int,
        stored: StoredWindow | None = None,
    ) -> WindowBuild:
        """From ``stored`` if given (no child: reading it is quick); else start a child if
        one may read this journal and pays for itself: a window of
        ``PARALLEL_MIN_KEYS`` or more to build beside ``replay_tail`` records or more."""
        if stored is not None:
            return cls(journal, plan, 0, None, stored)
        expected = keys_to_read(journal, plan.since_ts)
        child = None
        if child_allowed and expected >= PARALLEL_MIN_KEYS and replay_tail >= PARALLEL_MIN_TAIL:
            command = [sys.executable, "-c", _CHILD, journal.path]
            command += [str(plan.since_ts), str(plan.window_ms), str(plan.future_ms)]
            try:
                child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            except OSError as exc:
                log.warning("cannot start the window's child (%s): building it here", exc)
        return cls(journal, plan, expected, child)

    def result(self) -> IdempotencyWindow:
        if self.stored is not None:
            window = extend_stored(self.journal, self.plan, self.stored)
            if window is not None:
                self.from_stored = True
                return window
            log.warning("the stored window failed its checks: building it here")
        if self.child is not None:
            try:
                window = self._read_child(self.child)
            except (OSError, ValueError) as exc:
                log.warning("the window's child failed (%s): building it here", exc)
            else:
                self.built_by_child = True
                return window
        return build_here(self.journal, self.plan)

    def abandon(self) -> None:
        """Stop a child whose window is no longer wanted (the start failed)."""
        if self.child is not None:
            self.child.kill()
            self.child.wait()
            if self.child.stdout is not None:
                self.child.stdout.close()

    def _read_child(self, child: subprocess.Popen[bytes]) -> IdempotencyWindow:
        stdout = child.stdout
        assert stdout is not None
        try:
            window = IdempotencyWindow.read_from(_exact_reader(stdout))
            if stdout.read(1):
                raise ValueError("bytes after the window")
        except BaseException:
            child.kill()
            raise
        finally:
            stdout.close()
            status = child.wait()
        if status != 0:
            raise ValueError(f"exit status {status}")
        if len(window) != self.expected:
            raise ValueError(f"{len(window)} keys where the journal holds {self.expected}")
        return window


def _exact_reader(stream: IO[bytes]) -> Callable[[memoryview], None]:
    reader = cast(io.BufferedReader, stream)  # what ``Popen`` gives for ``stdout=PIPE``

    def read_into(buffer: memoryview) -> None:
        filled = 0
        while filled < len(buffer):
            count = reader.readinto(buffer[filled:])
            if not count:
                raise ValueError("the window's child stopped before the end")
            filled += count

    return read_into


def main(argv: list[str]) -> int:
    path, since_ts, window_ms, future_ms = argv
    journal = Journal(path, readonly=True)
    try:
        window = build_here(journal, WindowPlan(int(since_ts), int(window_ms), int(future_ms)))
    finally:
        journal.close()
    out = sys.stdout.buffer
    window.write_to(out.write)
    out.flush()
    return 0
