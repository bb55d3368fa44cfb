"""The primary's side of replication: reconcile at start, then publish committed batches.

``Replicator.start`` connects, makes sure the stream exists and holds the journal against
it: it republishes what the stream lacks, and refuses (``StreamDisagrees``, naming the
seq) a stream that holds records this journal does not or another chain. ``publish``
sends rows in order, fenced by the stream seq it expects last, and retries while NATS is
unreachable (saying so in logs and counters) until it succeeds or is fenced off
(``Deposed``). ``async`` mode feeds it from the release stage (``on_released``): it
keeps at most ``max_held_rows`` unpublished rows in memory and, past that (NATS away, or
slower than the load), reads what was committed from the journal by seq range instead,
so memory stays bounded and nothing is lost. ``sync`` mode runs it in the gate
(``hcx.replication.gate``). It never sequences or commits.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial
from itertools import islice
from pathlib import Path

import attrs
import trio

from hcx.durability.journal import Journal, Row
from hcx.replication import wire
from hcx.replication.bridge import AsyncioThread
from hcx.replication.errors import Deposed, StreamDisagrees, Unreachable
from hcx.replication.stream import JournalStream, is_transient
from hcx.sequencing import JournalEntry

log = logging.getLogger("hcx.replication")
RETRY_S = (0.05, 0.1, 0.2, 0.5, 1.0)


@attrs.define
class ReplicationStats:
    published_seq: int = 0
    committed_seq: int = 0
    messages: int = 0
    unreachable_since: float | None = None
    outages: int = 0
    # Unpublished rows in memory now, and the most ever (bounded by ``max_held_rows``).
    held_rows: int = 0
    held_rows_max: int = 0
    # Times the async publisher fell back to reading the journal.
    spills: int = 0

    @property
    def lag_records(self) -> int:
        return max(0, self.committed_seq - self.published_seq)


class Replicator:
    def __init__(
        self,
        urls: list[str],
        venue: str,
        *,
        mode: str,
        connect_wait_s: float = 10.0,
        replicas: int = 1,
        max_held_rows: int = 4096,
        holder: str | None = None,
    ) -> None:
        self.max_held_rows = max_held_rows
        # This node's lease holder id: its own fence never deposes it (None: any does).
        self.holder = holder
        self.bridge = AsyncioThread()
        self.stream = JournalStream(urls, venue, replicas=replicas)
        self.mode = mode
        self.connect_wait_s = connect_wait_s
        self.expected_last = 0
        self.stats = ReplicationStats()
        self.connected = False
        self._pending: deque[Row] = deque()
        # True while the rows after ``published_seq`` are read from the journal, not
        # ``_pending`` (which then stays empty).
        self._spilled = False
        self._inflight = 0
        self._reader: Journal | None = None
        self._wake = trio.Event()
        self._closed = False
        self._db = ""
        self._last_row: Row | None = None

    # --- start -------------------------------------------------------------------

    async def start(self, db: str) -> None:
        """Connect and reconcile; in ``async`` mode an unreachable NATS is left to
        ``run_async``, which reconciles once it answers."""
        self._db = db
        deadline = time.monotonic() + self.connect_wait_s
        while True:
            try:
                await self._connect_and_reconcile(db)
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self.mode == "async":
                    log.warning(
                        "replication: NATS unreachable at start (%r); publishing later", exc
                    )
                    self._note_unreachable()
                    return
                if time.monotonic() > deadline:
                    raise Unreachable(
                        f"NATS at {','.join(self.stream.urls)} did not answer within "
                        f"{self.connect_wait_s:.0f}s ({exc!r})"
                    ) from None
                await trio.sleep(0.2)

    async def _connect_and_reconcile(self, db: str) -> None:
        stream = self.stream
        if stream.nc is None:
            await self.bridge.call(stream.connect)
        await self.bridge.call(stream.ensure_stream)
        last_stream_seq, tail = await self.bridge.call(stream.tail)
        await self._refuse_anothers_fence(last_stream_seq)
        self.expected_last = last_stream_seq
        # Read-only once it exists: while serving, this is a second connection.
        journal = Journal(db, readonly=Path(db).exists())
        try:
            local_last, _ = journal.last()
            stream_last = tail[-1].seq if tail else 0
            if stream_last > local_last:
                raise StreamDisagrees(
                    local_last + 1,
                    f"the stream holds records up to {stream_last} this journal lacks",
                )
            if tail:
                mine = journal.read(stream_last)
                if mine is None or mine.chain != tail[-1].chain:
                    raise StreamDisagrees(stream_last, "another chain (another primary's history)")
            self.stats.published_seq = stream_last
            self._last_row = tail[-1] if tail else None
            self.stats.committed_seq = max(self.stats.committed_seq, local_last)
        finally:
            journal.close()
        if local_last > stream_last:
            log.info(
                "replication: republishing %d records from seq %d",
                local_last - stream_last,
                stream_last + 1,
            )
        # In pieces read from the journal: after a long outage the gap can be large.
        while self.stats.published_seq < local_last:
            await self._publish_now(await self._read_committed(local_last))
        self.connected = True
        self._note_reachable()
        log.info(
            "replication: stream %s at seq %d, journal at %d (%s)",
            stream.name,
            self.stats.published_seq,
            self.stats.committed_seq,
            self.mode,
        )

    # --- publishing --------------------------------------------------------------

    async def publish(self, rows: list[Row]) -> None:
        """Publish ``rows`` (in order, after everything before them); retry while NATS
        is unreachable; ``Deposed`` if fenced off."""
        self.stats.committed_seq = max(self.stats.committed_seq, rows[-1].seq)
        attempt = 0
        while True:
            try:
                if not self.connected:
                    await self._connect_and_reconcile(self._db)
                    rows = [row for row in rows if row.seq > self.stats.published_seq]
                    if not rows:
                        return
                await self._publish_now(rows)
                self._note_reachable()
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_unreachable(exc)
                await trio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1

    async def _publish_now(self, rows: list[Row]) -> None:
        # A batch released after a start's republication can straddle what the stream
        # holds already: only the rows past it go, or the stream would hold some twice.
        published = self.stats.published_seq
        if rows and rows[0].seq <= published:
            rows = [row for row in rows if row.seq > published]
        for piece in wire.split(rows):
            send = partial(self.stream.publish, piece, self.expected_last)
            try:
                self.expected_last = await self.bridge.call(send)
            except Deposed:
                if await self._landed_already(piece):
                    continue
                raise
            self.stats.published_seq = piece[-1].seq
            self._last_row = piece[-1]
            self.stats.messages += 1

    async def fence(self, holder: str, revision: int) -> None:
        """A new lease holder's first message: the last row again, at the stream seq it
        caught up to. Once it lands, any older primary's next publication is refused."""
        if self._last_row is None:
            return
        send = partial(
            self.stream.publish,
            [self._last_row],
            self.expected_last,
            wire.fence_id(holder, revision),
        )
        self.expected_last = await self.bridge.call(send)
        log.info("replication: stream fenced at stream seq %d", self.expected_last)

    async def _refuse_anothers_fence(self, stream_seq: int) -> None:
        """``Deposed`` if the stream ends with another holder's fence: a standby took
        over at that row, and this node's rows after it belong to no one's history
        (it rejoins with ``hcx standby``, which sets them aside)."""
        if stream_seq == 0:
            return
        holder = await self.bridge.call(partial(self.stream.fenced_by, stream_seq))
        if holder is not None and holder != self.holder:
            raise Deposed(
                f"the stream was fenced by node {holder} (stream seq {stream_seq}): "
                "another primary took over; rejoin as a standby"
            )

    async def _landed_already(self, piece: list[Row]) -> bool:
        """After a fencing refusal: did an earlier attempt of ours land (its answer lost
        in an outage, the client's buffer flushed on reconnect)? Then the stream's last
        row is one of ``piece``, chain and all, and we go on after it."""
        last_stream_seq, tail = await self.bridge.call(self.stream.tail)
        if not tail:
            return False
        # A fence repeats a row of ours, chain and all: it is another's, never ours.
        await self._refuse_anothers_fence(last_stream_seq)
        last = tail[-1]
        mine = {row.seq: row for row in piece}.get(last.seq)
        if mine is None or mine.chain != last.chain or last.seq <= self.stats.published_seq:
            return False
        self.expected_last = last_stream_seq
        self.stats.published_seq = last.seq
        self._last_row = last
        self.stats.messages += 1
        log.info("replication: an earlier attempt landed (up to seq %d)", last.seq)
        if last.seq < piece[-1].seq:
            await self._publish_now([row for row in piece if row.seq > last.seq])
        return True

    def _note_unreachable(self, exc: BaseException | None = None) -> None:
        if self.stats.unreachable_since is None:
            self.stats.unreachable_since = time.monotonic()
            self.stats.outages += 1
            log.warning(
                "replication: NATS unreachable (%r): %d records committed and not yet published%s",
                exc,
                self.stats.lag_records,
                "; nothing is released until it answers" if self.mode == "sync" else "",
            )

    def _note_reachable(self) -> None:
        since = self.stats.unreachable_since
        if since is not None:
            self.stats.unreachable_since = None
            log.warning(
                "replication: NATS answers again after %.1fs; published up to seq %d",
                time.monotonic() - since,
                self.stats.published_seq,
            )

    # --- async mode ----------------------------------------------------------------

    def on_released(self, entries: list[JournalEntry]) -> None:
        """A release-stage publisher: hand rows to ``run_async`` (never waits). Past
        ``max_held_rows`` it drops what it holds: ``run_async`` reads the journal."""
        # Never below what a start's reconciliation found committed in the journal.
        self.stats.committed_seq = max(self.stats.committed_seq, entries[-1].seq)
        if not self._spilled:
            if len(self._pending) + self._inflight + len(entries) > self.max_held_rows:
                self._pending.clear()
                self._spilled = True
                self.stats.spills += 1
                log.info(
                    "replication: over %d unpublished records; publishing from the journal",
                    self.max_held_rows,
                )
            else:
                self._pending.extend(entry.row for entry in entries)
        self._note_held()
        self._wake.set()

    async def run_async(self) -> None:
        """Publish what was released, one message per accumulated batch, until closed."""
        try:
            while True:
                if self._spilled:
                    await self._publish_spilled()
                    continue
                if not self._pending:
                    if self._closed:
                        return
                    await self._wake.wait()
                    self._wake = trio.Event()
                    continue
                rows = list(self._pending)
                self._pending.clear()
                self._inflight = len(rows)
                await self.publish(rows)
                self._inflight = 0
                self._note_held()
        finally:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    async def _publish_spilled(self) -> None:
        rows = await self._read_committed(self.stats.committed_seq)
        if rows:
            self._inflight = len(rows)
            self._note_held()
            await self.publish(rows)
            self._inflight = 0
            self._note_held()
        # No await between this test and the switch: a row released after it is
        # contiguous with what was published, so memory can hold it again.
        if self.stats.published_seq >= self.stats.committed_seq:
            self._spilled = False
            log.info("replication: caught up at seq %d", self.stats.published_seq)
        elif not rows:
            await trio.sleep(0.01)

    async def _read_committed(self, upto: int) -> list[Row]:
        """The next committed rows after ``published_seq`` (at most ``max_held_rows``,
        none past ``upto``), from the journal."""
        after, limit = self.stats.published_seq, self.max_held_rows

        def read() -> list[Row]:
            if self._reader is None:
                self._reader = Journal(self._db, readonly=True)
            raws = islice(self._reader.scan(after, batch=limit), limit)
            return [Row(*raw) for raw in raws if raw[0] <= upto]

        return await trio.to_thread.run_sync(read)

    def _note_held(self) -> None:
        held = len(self._pending) + self._inflight
        self.stats.held_rows = held
        self.stats.held_rows_max = max(self.stats.held_rows_max, held)

    async def flush(self, limit_s: float = 5.0) -> None:
        """Let ``run_async`` publish what is pending (at shutdown), for at most
        ``limit_s``."""
        self._closed = True
        self._wake.set()
        with trio.move_on_after(limit_s):
            while self._pending or self._spilled or self.stats.lag_records:
                await trio.sleep(0.01)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        with trio.move_on_after(3):
            await self.bridge.call(self.stream.close)
        self.bridge.close()
