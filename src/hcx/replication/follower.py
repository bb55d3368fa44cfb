"""The standby's follower: the stream's rows, verified one by one, into its own journal.

From its own last seq it reads the stream in order, checks each row with
``RecordVerifier`` exactly as ``hcx replay --verify`` does (contiguity, CRC, chain, the
re-applied command reproducing the record), and appends the verified rows to its own
journal in one transaction per fetched batch, in a worker thread while it verifies the
next batch; it snapshots on its own, at the seq the engine is at. It keeps the
idempotency window of the rows it holds (``stored_result`` answers ``GetOrder`` by
request id as the primary would). A row that fails
stops it (``JournalCorrupt`` naming the seq) before anything of it is written. It
reports its lag, and on ``catch_up`` returns once it holds the whole stream. It never
sequences commands or publishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

import attrs
import trio

from hcx.durability.errors import JournalCorrupt
from hcx.durability.idempotency import IdempotencyWindow, request_key
from hcx.durability.journal import Journal, Row
from hcx.durability.replay import Recovered
from hcx.durability.snapshots import list_snapshots, snapshot_dir
from hcx.durability.verify import RecordVerifier
from hcx.engine import Output
from hcx.engine.outputs import Result
from hcx.replication import wire
from hcx.replication.bridge import AsyncioThread
from hcx.replication.errors import Rejected
from hcx.replication.rejoin import set_aside_tail
from hcx.replication.stream import JournalStream, is_transient
from hcx.sequencing import retry_reach_ms, stored_answer
from hcx.service.config import ServiceConfig
from hcx.service.recovery import recover_with_window
from hcx.service.snapshotter import Snapshotter

log = logging.getLogger("hcx.replication")
FETCH = 512
IDLE_WAIT_S = 0.2
EAGER_WAIT_S = 0.02


@attrs.define
class FollowerStats:
    applied_seq: int = 0
    stream_seq: int = 0
    lag_ms: int = 0
    rows: int = 0
    unreachable_since: float | None = None
    outages: int = 0
    # Told each applied batch's per-row lag in ms (wall ms applied - primary's ts).
    observer: Callable[[list[int]], None] | None = None

    @property
    def lag_records(self) -> int:
        return max(0, self.stream_seq - self.applied_seq)


class Follower:
    def __init__(self, config: ServiceConfig, bridge: AsyncioThread, stream: JournalStream) -> None:
        self.config = config
        self.bridge = bridge
        self.stream = stream
        self.stats = FollowerStats()
        self.journal: Journal | None = None
        self.verifier: RecordVerifier | None = None
        self.snapshotter: Snapshotter | None = None
        self.window: IdempotencyWindow | None = None
        # A second connection for lookups from the gateway's thread while ``journal``
        # appends in a worker thread.
        self.reader: Journal | None = None
        # Verified rows (engine and window have them) until the journal holds them too.
        self._unwritten: dict[int, Row] = {}
        # The last verified row's ts: the standby's "now" for the retry reach.
        self._last_ts = 0
        self.stop = trio.Event()
        self.caught_up = trio.Event()
        # The last stream seq taken and applied (or found to hold nothing new).
        self.stream_pos = 0
        # Set while the lease looks abandoned (a promotion may come any moment).
        self.eager = False
        self._subscription: Any = None
        # A promoted standby's live state, for ``hcx serve`` (``standby.follow``).
        self.handed_over: tuple[Recovered, IdempotencyWindow] | None = None
        # Told each applied batch once it is in the journal (the read-only gateway).
        self.publishers: list[Callable[[list[Row], list[Output]], None]] = []

    async def open(self) -> None:
        """Set aside a tail the stream lacks, then recover from own snapshot and journal."""
        db = self.config.db
        self.journal = journal = Journal(db)
        await set_aside_tail(db, journal, self.bridge, self.stream)
        recovered, self.window = recover_with_window(
            journal, snapshot_dir(db), self.config, child_allowed=True
        )
        self.reader = Journal(db, readonly=True)
        last_row = journal.read(recovered.last_seq) if recovered.last_seq else None
        self._last_ts = last_row.ts if last_row is not None else 0
        self.verifier = RecordVerifier(recovered.engine, recovered.chain, recovered.last_seq)
        self.stats.applied_seq = recovered.last_seq
        self.snapshotter = Snapshotter(
            recovered.engine,
            snapshot_dir(db),
            self.config.snapshot_every,
            self.config.snapshots_kept,
            window=self.window,
        )
        log.info(
            "standby: journal at seq %d (%d replayed after snapshot %d)",
            recovered.last_seq,
            recovered.replayed,
            recovered.snapshot_seq,
        )

    async def follow(self, *, catch_up: bool = False) -> None:
        """Follow until ``stop`` (or, with ``catch_up``, until it has taken every message
        the stream held when it was called: the stream's last seq is read first, so a
        standby that holds it already returns at once). A batch is appended to the
        journal while the next one is verified; it returns once every verified row is
        in the journal. Never cancel it: a batch verified and not yet written would
        leave the engine ahead of the journal. Its snapshotter runs beside it
        (``snapshotter.run``); ``unsubscribe`` ends the subscription, which outlives a
        call so that a catch-up goes on from it."""
        batches, to_write = trio.open_memory_channel[tuple[list[Row], list[Output]]](0)
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write, to_write)
            # Closed on the way out, however the loop ends: the writer appends what it
            # was given (the rows verified before a rejected one too), then ends.
            with batches:
                try:
                    await self._follow(batches, catch_up)
                except Exception as exc:
                    failure = exc
        if failure is not None:
            raise failure

    async def _follow(
        self, batches: trio.MemorySendChannel[tuple[list[Row], list[Output]]], catch_up: bool
    ) -> None:
        assert self.verifier is not None
        attempt = 0
        target: int | None = None
        while catch_up or not self.stop.is_set():
            try:
                if catch_up and target is None:
                    target = await self.bridge.call(self.stream.last_stream_seq)
                if target is not None and self.stream_pos >= target:
                    self.caught_up.set()
                    return
                if self._subscription is None:
                    find = partial(self.stream.find, self.verifier.last_seq)
                    start = await self.bridge.call(find)
                    self._subscription = await self.bridge.call(
                        partial(self.stream.subscribe_from, start)
                    )
                    # Every message before ``start`` holds only rows already applied.
                    self.stream_pos = start - 1
                # Idle waits are short while a promotion is near: the loop must notice
                # ``stop`` (or reach its catch-up target) at once, not a wait later.
                wait = EAGER_WAIT_S if catch_up or self.eager else IDLE_WAIT_S
                messages = await self.bridge.call(
                    partial(self.stream.take, self._subscription, FETCH, wait)
                )
                if not messages:
                    if not catch_up:
                        await self._idle()
                    continue
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._unreachable(exc)
                self._subscription = None
                await trio.sleep(min(1.0, 0.05 * 2**attempt))
                attempt += 1
                continue
            # Outside the retry: once rows are applied they must reach the writer, so a
            # fault here stops the standby rather than resubscribing past unwritten rows.
            fresh, outputs, rejected = self._verify(messages)
            if fresh:
                await batches.send((fresh, outputs))
            if rejected is not None:
                raise Rejected(rejected.seq, rejected.why) from rejected
            self._reachable()
            attempt = 0

    async def unsubscribe(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with suppress(Exception):
                await self.bridge.call(subscription.unsubscribe)

    async def _idle(self) -> None:
        assert self.verifier is not None
        last = await self.bridge.call(self._stream_end)
        self.stats.stream_seq = last
        if last <= self.verifier.last_seq:
            self.caught_up.set()

    async def _stream_end(self) -> int:
        _, tail = await self.stream.tail()
        return tail[-1].seq if tail else 0

    def _verify(
        self, messages: list[object]
    ) -> tuple[list[Row], list[Output], JournalCorrupt | None]:
        """Verify and apply the messages' new rows, in order, up to a rejected one (then
        returned with the rows before it)."""
        verifier = self.verifier
        snapshotter = self.snapshotter
        window = self.window
        assert verifier is not None and snapshotter is not None and window is not None
        fresh: list[Row] = []
        outputs: list[Output] = []
        for message in messages:
            stream_seq = message.metadata.sequence.stream  # type: ignore[attr-defined]
            for row in wire.decode_rows(stream_seq, message.data):  # type: ignore[attr-defined]
                if row.seq <= verifier.last_seq:
                    continue  # a fence, or a re-publication after a lost answer
                try:
                    output = verifier.verify(row.seq, row.ts, row.record, row.crc, row.chain)
                except JournalCorrupt as exc:
                    # The verified rows before it are kept; the standby stops here.
                    return fresh, outputs, exc
                fresh.append(row)
                outputs.append(output)
                # Known at once, like the engine's state: reads see both before the
                # append is done (the primary's in-flight entries likewise).
                window.add(row.key, row.seq, row.ts)
                self._last_ts = row.ts
                self._unwritten[row.seq] = row
                # Now, while the engine is exactly at this seq (as the primary's
                # sequencer does): the snapshot is of this seq's state and chain.
                snapshotter.due(row.seq, row.chain)
            self.stream_pos = max(self.stream_pos, stream_seq)
        return fresh, outputs, None

    async def _write(
        self, batches: trio.MemoryReceiveChannel[tuple[list[Row], list[Output]]]
    ) -> None:
        """Append each verified batch, then tell the gateway and the lag figures."""
        journal = self.journal
        assert journal is not None
        async with batches:
            async for fresh, outputs in batches:
                await trio.to_thread.run_sync(journal.append, fresh)
                now = time.time_ns() // 1_000_000
                for row in fresh:
                    del self._unwritten[row.seq]
                for publish in self.publishers:
                    publish(fresh, outputs)
                if self.stats.observer is not None:
                    self.stats.observer([now - row.ts for row in fresh])
                self.stats.applied_seq = fresh[-1].seq
                self.stats.stream_seq = max(self.stats.stream_seq, fresh[-1].seq)
                self.stats.lag_ms = now - fresh[-1].ts
                self.stats.rows += len(fresh)

    def live_state(self) -> tuple[Recovered, IdempotencyWindow]:
        """The engine and window as verified so far (all of it in the journal): what
        ``hcx serve`` on this journal would rebuild, handed over instead."""
        verifier, window = self.verifier, self.window
        assert verifier is not None and window is not None and not self._unwritten
        last = verifier.last_seq
        paths = list_snapshots(snapshot_dir(self.config.db))
        written = (int(path.stem) for path in paths if path.stem.isdigit())
        newest = max((seq for seq in written if seq <= last), default=0)
        return Recovered(verifier.engine, last, verifier.chain, newest, 0, 0.0), window

    def stored_result(self, wallet: str, request_id: str) -> Result | None:
        """The result of an earlier request of ``wallet`` still in the window, from this
        journal (what the primary's ``SequencingStep.stored_result`` answers)."""
        if self.window is None or self.reader is None:
            return None
        # As the primary's step answers: never from a command older than a retry's reach.
        reach = retry_reach_ms(self.config.recv_window_ms, self.config.future_ms, self.window)
        oldest_ts = self._last_ts - reach
        for seq in self.window.candidates(request_key(wallet, request_id)):
            row = self._unwritten.get(seq) or self.reader.read(seq)
            result = stored_answer(row, wallet, request_id, oldest_ts)
            if result is not None:
                return result
        return None

    def _unreachable(self, exc: BaseException) -> None:
        if self.stats.unreachable_since is None:
            self.stats.unreachable_since = time.monotonic()
            self.stats.outages += 1
            log.warning("standby: NATS unreachable (%r); retrying", exc)

    def _reachable(self) -> None:
        if self.stats.unreachable_since is not None:
            self.stats.unreachable_since = None
            log.warning("standby: NATS answers again; at seq %d", self.stats.applied_seq)

    def close(self, *, final_snapshot: bool = True) -> None:
        if self.journal is None:
            return
        verifier = self.verifier
        snapshotter = self.snapshotter
        if final_snapshot and verifier is not None and snapshotter is not None:
            snapshotter.final(verifier.chain)
        self.journal.close()
        self.journal = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
