"""A former primary rejoining as standby: its local tail the stream does not hold is set
aside, never deleted.

The last seq where the local journal and the stream agree (same chain value) is found by
walking back from the end of the shorter one, one stream message at a time. Anything
after it is copied whole into ``<db>.aside-<seq>-<ms>`` (an online backup of the journal,
and the snapshots past that seq moved beside it) before the live journal drops it. In
``sync`` mode that tail was never acknowledged to anyone. It never applies records.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

from hcx.durability.backup import backup
from hcx.durability.journal import Journal
from hcx.durability.snapshots import list_snapshots, snapshot_dir
from hcx.durability.window_files import list_windows
from hcx.replication import wire
from hcx.replication.bridge import AsyncioThread
from hcx.replication.stream import JournalStream

log = logging.getLogger("hcx.replication")


async def common_seq(journal: Journal, bridge: AsyncioThread, stream: JournalStream) -> int:
    """The last seq both hold with the same chain value (0 if none)."""
    local_last, _ = journal.last()
    if local_last == 0:
        return 0
    _, tail = await bridge.call(stream.tail)
    seq = min(local_last, tail[-1].seq if tail else 0)
    while seq > 0:
        at = await bridge.call(partial(stream.find, seq - 1))
        first, _, data = await bridge.call(partial(stream.message, at))
        rows = {row.seq: row for row in wire.decode_rows(at, data)}
        theirs, mine = rows.get(seq), journal.read(seq)
        if theirs is not None and mine is not None and theirs.chain == mine.chain:
            return seq
        seq = min(seq - 1, first - 1) if first > 0 else seq - 1
    return 0


async def set_aside_tail(
    db: str, journal: Journal, bridge: AsyncioThread, stream: JournalStream
) -> str | None:
    """Set aside what the stream does not hold; the aside copy's path, if any."""
    local_last, _ = journal.last()
    keep = await common_seq(journal, bridge, stream)
    if keep >= local_last:
        return None
    aside = f"{db}.aside-{keep + 1}-{time.time_ns() // 1_000_000}"
    backup(db, aside)
    snapshots = snapshot_dir(db)
    moved = Path(f"{aside}.snapshots")
    held = [*list_snapshots(snapshots), *list_windows(snapshots)] if snapshots.exists() else []
    for path in held:
        if path.stem.isdigit() and int(path.stem) > keep:
            moved.mkdir(exist_ok=True)
            path.rename(moved / path.name)
    dropped = journal.truncate_after(keep)
    log.warning(
        "standby: %d local records after seq %d are not in the stream: set aside in %s",
        dropped,
        keep,
        aside,
    )
    return aside
