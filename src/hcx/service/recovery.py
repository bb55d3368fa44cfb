"""Recovery at start: the engine from snapshot and journal, the idempotency window beside it.

The window depends only on the journal: it is read from the newest window file stored
beside a snapshot and brought up to the journal's end, or else built while replay runs (in
a child process when it is large). This module plans which records the window must hold; it
never sequences, commits or releases anything.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from functools import partial
from pathlib import Path

from hcx.durability.idempotency import IdempotencyWindow
from hcx.durability.journal import Journal
from hcx.durability.replay import Recovered, recover
from hcx.durability.snapshots import list_snapshots
from hcx.durability.window_build import WindowBuild, WindowPlan
from hcx.durability.window_files import StoredWindow, load_window
from hcx.service.config import ServiceConfig

log = logging.getLogger("hcx")
FUTURE_KEY = "max_future_ms"


def recover_with_window(
    journal: Journal, snapshots: Path | None, config: ServiceConfig, *, child_allowed: bool
) -> tuple[Recovered, IdempotencyWindow]:
    """The recovered engine and the window of request keys a repeat can still reach."""
    last_seq, _ = journal.last()
    last_ts = _last_ts(journal, last_seq)
    window_build: WindowBuild | None = None
    stored: StoredWindow | None = None
    with suppress(TypeError, ValueError):  # a malformed row: replay names it below
        plan = _window_plan(journal, config, last_ts)
        if snapshots is not None:
            stored = load_window(
                snapshots, last_seq, partial(_chain_at, journal), plan.window_ms, plan.future_ms
            )
        window_build = WindowBuild.start(
            journal,
            plan,
            child_allowed=child_allowed,
            replay_tail=_tail_to_replay(last_seq, snapshots),
            stored=stored,
        )
    try:
        recovered = recover(journal, snapshots, config.engine)
    except BaseException:
        if window_build is not None:
            window_build.abandon()
        raise
    if window_build is None or recovered.engine.last_ts != last_ts:
        # Only a row that replay did not read (one at the snapshot's seq) can disagree
        # with the replayed state: the state decides.
        if window_build is not None:
            window_build.abandon()
        plan = _window_plan(journal, config, recovered.engine.last_ts)
        window_build = WindowBuild.start(
            journal, plan, child_allowed=False, replay_tail=0, stored=stored
        )
    log.info(
        "replay done: %d records after snapshot at seq %d, last seq %d, %.2fs",
        recovered.replayed,
        recovered.snapshot_seq,
        recovered.last_seq,
        recovered.seconds,
    )
    window = window_build.result()
    if window_build.from_stored and stored is not None:
        log.info("window: stored at seq %d, %d keys in all", stored.seq, len(window))
    return recovered, window


def _chain_at(journal: Journal, seq: int) -> bytes | None:
    row = journal.read(seq)
    return row.chain if row is not None else None


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
    return row.ts if row is not None and type(row.ts) is int else 0


def _largest_future_ms(journal: Journal, future_ms: int) -> int:
    """The largest ``future_ms`` of this run and every earlier one (recorded before the
    first command of a run is sequenced), so lowering it across a restart cannot drop
    keys that requests sequenced under the old value still need."""
    stored = journal.get_meta(FUTURE_KEY)
    largest = max(int(stored) if stored is not None else 0, future_ms)
    if stored is None or largest != int(stored):
        journal.set_meta(FUTURE_KEY, str(largest).encode())
    return largest
