"""The sequencer: the one task that owns the engine.

For each submission, in arrival order: refuse a ``ts`` outside the receive window
(``stale_request``, nothing executed); answer a repeat of a remembered request (attach
it to the original while that is in flight; once committed, read the stored result back
and confirm it is the same request, so a key-hash collision never answers with another
request's result); otherwise
stamp an envelope with the next ``seq`` and the clock, apply it, encode the record and
extend the hash chain. Entries go to the writer in lists; the sequencer goes on applying
while earlier lists commit (pipelining) and never releases anything itself. In ``sync``
mode it waits for each command's commit before the next, the baseline group commit is
measured against.

An exception from the engine is a bug that may have half-changed the state: the
sequencer stops everything with ``EngineFault`` naming the request, so a restart can
refuse that request instead of crashing on it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from hcx.durability.idempotency import IdempotencyWindow, request_key
from hcx.durability.journal import Row
from hcx.durability.records import (
    chain_next,
    crc_of,
    decode_output_object,
    decode_record,
    encode_record,
)
from hcx.engine import Engine, Envelope
from hcx.service.clock import Clock
from hcx.service.entries import (
    Entry,
    JournalEntry,
    Pending,
    QueryEntry,
    QueryItem,
    Refusal,
    Reply,
    Submission,
)


class EngineFault(RuntimeError):
    def __init__(self, wallet: str, request_id: str, cause: BaseException) -> None:
        super().__init__(f"engine failed on request {request_id!r} of {wallet!r}: {cause!r}")
        self.wallet = wallet
        self.request_id = request_id


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        window: IdempotencyWindow,
        chain: bytes,
        requests: trio.MemoryReceiveChannel[list[Submission | QueryItem]],
        journal: trio.MemorySendChannel[list[Entry]],
        read_record: Callable[[int], Row | None],
        *,
        recv_window_ms: int,
        future_ms: int,
        max_batch: int = 512,
        synchronous: bool = False,
        poisoned: set[tuple[str, str]] | None = None,
        on_applied: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.window = window
        self.chain = chain
        self.requests = requests
        self.journal = journal
        self.read_record = read_record
        self.recv_window_ms = recv_window_ms
        self.future_ms = future_ms
        self.max_batch = max_batch
        self.synchronous = synchronous
        self.poisoned = poisoned or set()
        self.on_applied = on_applied
        # Sequenced commands not yet released, by seq: repeats attach here.
        self.in_flight: dict[int, JournalEntry] = {}
        self.next_seq = engine.last_seq + 1
        self.last_ts = engine.last_ts

    async def run(self) -> None:
        async with self.requests, self.journal:
            async for items in self.requests:
                if self.synchronous:
                    await self._run_one_by_one(items)
                    continue
                entries: list[Entry] = []
                self._sequence(items, entries)
                while len(entries) < self.max_batch:
                    try:
                        more = self.requests.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    self._sequence(more, entries)
                if entries:
                    await self.journal.send(entries)

    async def _run_one_by_one(self, items: list[Submission | QueryItem]) -> None:
        for item in items:
            entries: list[Entry] = []
            self._sequence([item], entries)
            if not entries:
                continue
            committed = Pending()
            last = entries[-1]
            if isinstance(last, JournalEntry):
                last.waiters.append(committed)
            else:
                entries.append(QueryEntry(None, committed))
            await self.journal.send(entries)
            await committed.wait()

    def _sequence(self, items: list[Submission | QueryItem], entries: list[Entry]) -> None:
        for item in items:
            if isinstance(item, QueryItem):
                entries.append(QueryEntry(item.read(self.engine), item.waiter))
            else:
                self._submit(item, entries)

    def _submit(self, item: Submission, entries: list[Entry]) -> None:
        now = self.clock.now_ms()
        if now < self.last_ts:
            # The journal's timestamps must never go backwards, even across a restart
            # onto a clock that has been set back: hold time still instead.
            now = self.last_ts
        self.last_ts = now
        if not now - self.recv_window_ms <= item.client_ts <= now + self.future_ms:
            item.waiter.resolve(
                Refusal(
                    "stale_request",
                    f"ts {item.client_ts} is outside the receive window "
                    f"[{now - self.recv_window_ms}, {now + self.future_ms}]",
                )
            )
            return
        wallet, request_id = item.wallet, item.request_id
        key = request_key(wallet, request_id)
        candidates = self.window.candidates(key)
        for seq in candidates:
            entry = self.in_flight.get(seq)
            if entry is None:
                reply = self._stored_reply(seq, wallet, request_id)
                if reply is not None:
                    item.waiter.resolve(reply)
                    return
            elif entry.wallet == wallet and entry.request_id == request_id:
                entry.waiters.append(item.waiter)
                return
        if self.poisoned and (wallet, request_id) in self.poisoned:
            item.waiter.resolve(
                Refusal("internal", "this request stopped the engine once and is refused")
            )
            return
        seq = self.next_seq
        envelope = Envelope(seq, now, wallet, request_id, item.command)
        early = self.engine.refuse_early(envelope)
        if early is not None:
            # Released in order like a read: it reflects state that must be durable first.
            entries.append(QueryEntry(Reply(early.seq, early), item.waiter))
            return
        try:
            output = self.engine.apply(envelope)
        except Exception as exc:
            raise EngineFault(wallet, request_id, exc) from exc
        self.next_seq = seq + 1
        record = encode_record(envelope, item.client_ts, output)
        self.chain = chain = chain_next(self.chain, record)
        row = (seq, now, key, record, crc_of(record), chain)
        entry = JournalEntry(seq, row, wallet, request_id, output, [item.waiter])
        self.in_flight[seq] = entry
        self.window.add(key, seq, now)
        entries.append(entry)
        if self.on_applied is not None:
            self.on_applied(seq, chain)

    def stored_result(self, wallet: str, request_id: str) -> Any:
        """The result of an earlier request of ``wallet`` (in flight or committed), if
        it is still in the window; for ``GetOrder`` by request id."""
        for seq in self.window.candidates(request_key(wallet, request_id)):
            entry = self.in_flight.get(seq)
            if entry is not None:
                if entry.wallet == wallet and entry.request_id == request_id:
                    return entry.output.result
                continue
            reply = self._stored_reply(seq, wallet, request_id)
            if reply is not None:
                return reply.result
        return None

    def _stored_reply(self, seq: int, wallet: str, request_id: str) -> Reply | None:
        """The committed result of ``seq`` if it was this very request. A blocking read,
        but only retries pay it."""
        row = self.read_record(seq)
        if row is None:
            return None
        record = decode_record(row[3])
        if record.wallet != wallet or record.request_id != request_id:
            return None
        return Reply(seq, decode_output_object(record.result))
