"""The checkpoint policy: WAL frames copied into the database file off the commit path.

It runs on a connection of its own and never on the writer's; a checkpoint that cannot
write or fsync is a durability fault like a failed COMMIT (never retried).
"""

from __future__ import annotations

import apsw
import trio

from hcx.durability.errors import DurabilityError
from hcx.durability.journal import Journal

# At most this many PASSIVE checkpoints back to back in one round (see below).
CHECKPOINT_PASSES = 8


async def checkpoint_loop(path: str, vfs: str | None, interval_s: float) -> None:
    """Checkpoint the WAL every ``interval_s``.

    A PASSIVE checkpoint never blocks the writer, but it copies only the frames that were
    in the WAL when it began. The WAL restarts from its beginning (and is cut back to
    ``journal_size_limit``) only when a write transaction begins with every frame copied,
    which under sustained load one pass every interval never achieves: the writer appends
    while it copies, so the WAL would grow without bound. So each round repeats the pass,
    each copying only what arrived during the one before, until a pass finds nothing new:
    the writer's next transaction then restarts the WAL, which stays near one interval's
    worth of frames.
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
                    raise DurabilityError(f"checkpoint failed: {exc!r}") from exc
                if frames == 0 or frames <= previous:
                    break  # nothing new since the last pass, or the WAL already restarted
                previous = frames
    finally:
        connection.close()
