"""The sequencing step: one request in, one decision out; sans-I/O, shared by every shell.

It owns what makes a command's place in the journal: the receive window of client
timestamps (``stale_request``), the idempotency of ``(wallet, request_id)`` (a repeat joins
the original while it is in flight, and is answered from the journal once it is
durable), refusal of a request that once crashed the engine, the engine's early refusals
(nothing to journal), and for everything else: the envelope (next ``seq``, a time that
never goes backwards), ``engine.apply``, the journal record and the hash chain.

The trio service's sequencer, the in-process ``Simulator`` and the standby's promotion all
run their commands through this one class. It never waits, reads a clock, or does I/O of
its own: time comes in as ``now_ms``, stored records through ``read_record``, and the
caller decides when a sequenced command is durable (``settle``).

A step made with ``records=False`` (the Simulator without a journal file: nobody reads a
record or the chain) makes neither: it decides exactly as above and hands back the
engine's ``Output``; the caller keeps each command's ``Answer`` for as long as a repeat
can reach it, and ``read_record`` gives those back, so a repeat is still answered with
the stored result after the same collision check. Its window of keys never leaves the
process, so it may hash them with ``memory_key`` instead of the journal's ``request_key``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NamedTuple, Protocol

import attrs

from hcx.durability.idempotency import request_key
from hcx.durability.journal import Row
from hcx.durability.records import (
    chain_next,
    crc_of,
    decode_output_object,
    decode_record,
    encode_record,
)
from hcx.engine import Engine, Envelope, Output
from hcx.engine.commands import Command
from hcx.engine.outputs import Result


def memory_key(wallet: str, request_id: str) -> int:
    """A request key for a window that is never written out nor read by another process:
    Python's own hash (a tenth of ``request_key``'s cost), never 0 (0 marks empty). A hit
    is confirmed against the stored answer like any other."""
    return hash((wallet, request_id)) or 1


class Answer(NamedTuple):
    """What a step without records keeps of a sequenced command to answer its repeats:
    who sent it, when, and its result (a ``Row`` holds the same inside its record)."""

    seq: int
    ts: int
    wallet: str
    request_id: str
    result: Result


@attrs.frozen
class Reply:
    """The answer to a command: its journal ``seq`` and its result."""

    seq: int
    result: Result


@attrs.frozen
class Refusal:
    """A request that was not executed, with a protocol error code."""

    code: str
    message: str


class KeyWindow(Protocol):
    """The window of request keys: ``IdempotencyWindow``, or a simulator's in memory."""

    # What it keeps keys for: the receive window, and the largest ``future_ms`` the
    # journal was ever run with (a restart may lower the setting, not the reach of a ts).
    window_ms: int
    future_ms: int

    def add(self, key: int, seq: int, ts_ms: int) -> None: ...

    def candidates(self, key: int) -> list[int]: ...


def stored_answer(
    row: Row | Answer | None, wallet: str, request_id: str, oldest_ts: int
) -> Result | None:
    """The result ``row`` holds if it is this very request (a key-hash collision never
    answers with another request's result) and was sequenced at ``oldest_ts`` or later;
    the one test of a candidate, for the step and for a standby's reads."""
    if row is None or row.ts < oldest_ts:
        return None
    if isinstance(row, Answer):
        if row.wallet != wallet or row.request_id != request_id:
            return None
        return row.result
    record = decode_record(row.record)
    if record.wallet != wallet or record.request_id != request_id:
        return None
    result: Result = decode_output_object(record.result)
    return result


def retry_reach_ms(recv_window_ms: int, future_ms: int, window: KeyWindow) -> int:
    """How long after its original was sequenced a true retry can come: its ts passed the
    receive window, and the original's ts was at most the largest future ahead. A stored
    command older than that is never a retry's original (an id reused)."""
    return max(recv_window_ms, window.window_ms) + max(future_ms, window.future_ms)


class Waiter(Protocol):
    def resolve(self, answer: Any) -> None: ...


@attrs.define(slots=True, eq=False)
class JournalEntry:
    """A sequenced command: its journal row, its output, and who waits for its result
    (the original request and any repeat of it that arrived while it was in flight)."""

    seq: int
    row: Row
    wallet: str
    request_id: str
    output: Output
    waiters: list[Waiter]

    @property
    def record(self) -> bytes:
        return self.row.record

    @property
    def chain(self) -> bytes:
        return self.row.chain


@attrs.frozen
class RefusedEarly:
    """A rejection the engine gave without changing anything: not journaled, but it
    reflects state that must be durable before it is told (released like a read)."""

    reply: Reply


@attrs.frozen
class Joined:
    """A repeat of a request still in flight: its answer is the original's."""

    entry: JournalEntry


# ``Output``: a command applied by a step without records (nothing to journal).
Decision = JournalEntry | Output | Reply | Refusal | RefusedEarly | Joined


class EngineFault(RuntimeError):
    """The engine raised while applying a request: a bug that may have half-changed the
    state. Whoever runs the step must stop, and a restart refuses that request."""

    def __init__(self, wallet: str, request_id: str, cause: BaseException) -> None:
        super().__init__(f"engine failed on request {request_id!r} of {wallet!r}: {cause!r}")
        self.wallet = wallet
        self.request_id = request_id


class SequencingStep:
    def __init__(
        self,
        engine: Engine,
        window: KeyWindow,
        chain: bytes,
        read_record: Callable[[int], Row | Answer | None],
        *,
        recv_window_ms: int,
        future_ms: int,
        poisoned: Collection[tuple[str, str]] = (),
        records: bool = True,
        key_of: Callable[[str, str], int] = request_key,
    ) -> None:
        self.engine = engine
        self.window = window
        self.chain = chain
        self.read_record = read_record
        self.recv_window_ms = recv_window_ms
        self.future_ms = future_ms
        self.poisoned = poisoned
        self.records = records
        self.key_of = key_of
        self.retry_reach_ms = retry_reach_ms(recv_window_ms, future_ms, window)
        # Sequenced commands not yet durable, by seq: repeats join them here.
        self.in_flight: dict[int, JournalEntry] = {}
        self.next_seq = engine.last_seq + 1
        self.last_ts = engine.last_ts

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    def sequence(
        self,
        wallet: str,
        request_id: str,
        client_ts: int,
        command: Command,
        now_ms: int,
        waiter: Waiter | None = None,
    ) -> Decision:
        """Decide one request at ``now_ms``; a new ``JournalEntry`` (with ``waiter`` as its
        first waiter), or without records an ``Output``, is the only decision that
        changed the state."""
        if now_ms < self.last_ts:
            # The journal's timestamps must never go backwards, even across a restart
            # onto a clock that has been set back: hold time still instead.
            now_ms = self.last_ts
        self.last_ts = now_ms
        if not now_ms - self.recv_window_ms <= client_ts <= now_ms + self.future_ms:
            return Refusal(
                "stale_request",
                f"ts {client_ts} is outside the receive window "
                f"[{now_ms - self.recv_window_ms}, {now_ms + self.future_ms}]",
            )
        key = self.key_of(wallet, request_id)
        oldest_ts = now_ms - self.retry_reach_ms
        for seq in self.window.candidates(key):
            entry = self.in_flight.get(seq)
            if entry is None:
                reply = self._stored_reply(seq, wallet, request_id, oldest_ts)
                if reply is not None:
                    return reply
            elif entry.wallet == wallet and entry.request_id == request_id:
                return Joined(entry)
        if self.poisoned and (wallet, request_id) in self.poisoned:
            return Refusal("internal", "this request stopped the engine once and is refused")
        seq = self.next_seq
        envelope = Envelope(seq, now_ms, wallet, request_id, command)
        early = self.engine.refuse_early(envelope)
        if early is not None:
            return RefusedEarly(Reply(early.seq, early))
        try:
            output = self.engine.apply(envelope)
        except Exception as exc:
            raise EngineFault(wallet, request_id, exc) from exc
        self.next_seq = seq + 1
        if not self.records:
            self.window.add(key, seq, now_ms)
            return output
        record = encode_record(envelope, client_ts, output)
        self.chain = chain = chain_next(self.chain, record)
        row = Row(seq, now_ms, key, record, crc_of(record), chain)
        entry = JournalEntry(
            seq, row, wallet, request_id, output, [] if waiter is None else [waiter]
        )
        self.in_flight[seq] = entry
        self.window.add(key, seq, now_ms)
        return entry

    def settle(self, seq: int) -> None:
        """``seq`` is durable: a repeat of it is answered from the journal from now on."""
        self.in_flight.pop(seq, None)

    def stored_result(self, wallet: str, request_id: str) -> Result | None:
        """The result of an earlier request of ``wallet`` (in flight or durable), if it is
        still in the window; for ``GetOrder`` by request id."""
        oldest_ts = self.last_ts - self.retry_reach_ms
        for seq in self.window.candidates(self.key_of(wallet, request_id)):
            entry = self.in_flight.get(seq)
            if entry is not None:
                if entry.wallet == wallet and entry.request_id == request_id:
                    return entry.output.result
                continue
            reply = self._stored_reply(seq, wallet, request_id, oldest_ts)
            if reply is not None:
                return reply.result
        return None

    def _stored_reply(self, seq: int, wallet: str, request_id: str, oldest_ts: int) -> Reply | None:
        """The stored result of ``seq`` if it was this very request (a key-hash collision
        never answers with another request's result) sequenced at ``oldest_ts`` or later.
        A true retry always is (``retry_reach_ms``); an older one is a reused id. Windows
        keep keys for up to half a window longer, by how their generations fall, and that
        must not decide the answer: the running server, a restart from a stored or a rebuilt
        window, and a simulator with or without a file all answer alike. A read, but only
        repeats pay it."""
        result = stored_answer(self.read_record(seq), wallet, request_id, oldest_ts)
        return None if result is None else Reply(seq, result)
