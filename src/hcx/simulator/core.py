"""The Simulator: the exchange in-process at engine speed, a synchronous shell over the
sequencing step.

Each call is parsed by the protocol's own checks, stamped by the simulator's clock and
handed to ``SequencingStep`` (idempotency, refusals, ``engine.apply``, record, chain),
exactly as ``hcx serve``'s sequencer does; its events go to the channels at once and its
row to the ``RowStore``, which commits to the journal file in groups. Time moves only
when the caller moves it; ``fork`` copies the whole exchange. It never sequences on its
own account, never runs trio, threads or sockets.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import apsw

from hcx import gc_policy
from hcx.client.book import OrderBook
from hcx.client.errors import HcxError
from hcx.client.messages import AdminResult, parse_message
from hcx.durability.errors import DurabilityError
from hcx.durability.exports import KINDS, rows_of
from hcx.durability.idempotency import IdempotencyWindow, request_key
from hcx.durability.journal import Journal
from hcx.durability.poison import poisoned_requests, record_poison
from hcx.durability.records import GENESIS_CHAIN
from hcx.durability.trade_history import TradeHistory, TradeRow
from hcx.engine import Engine, EngineConfig, Output
from hcx.engine.commands import Command, Tick
from hcx.engine.outputs import Fill, OrderUpdate, RfqResult, Trade
from hcx.protocol import fields as f
from hcx.protocol.commands import parse_command
from hcx.protocol.errors import ProtocolError, invalid_field
from hcx.protocol.ids import SeededIds
from hcx.protocol.messages import levels
from hcx.protocol.rfq import RfqDesk
from hcx.sequencing import (
    Answer,
    EngineFault,
    Joined,
    JournalEntry,
    KeyWindow,
    Refusal,
    RefusedEarly,
    Reply,
    SequencingStep,
    memory_key,
    retry_reach_ms,
)
from hcx.service.clock import Clock, SimClock
from hcx.service.config import ServiceConfig
from hcx.service.recovery import recover_with_window
from hcx.simulator.events import CHANNELS, PRIVATE_CHANNELS, EventHub, EventQueue
from hcx.simulator.session import SimSession
from hcx.simulator.store import RowStore
from hcx.simulator.typed import as_hcx_error, typed
from hcx.simulator.window import MemoryWindow

# The wallet that sends the simulator's own commands (``Tick``), with ids of its own.
CLOCK_WALLET = "clock"
RECENT_ORDERS_KEPT = 100_000


class SimulatorClosed(RuntimeError):
    """The simulator is closed (or stopped by an engine fault)."""


class Simulator:
    """``Simulator(clock=None, seed=0, journal=None, engine=None)``: see docs/embedding.md.

    ``clock``: a ``SimClock`` (default: one at its default start) or any clock;
    ``journal``: a path for an ordinary hcx journal (continued if it exists), committed
    every ``commit_every`` records and at ``flush()``/``close()``; ``engine``: an
    ``EngineConfig`` for a new journal (an existing one keeps its own)."""

    def __init__(
        self,
        clock: Clock | None = None,
        seed: int = 0,
        journal: str | Path | None = None,
        engine: EngineConfig | None = None,
        *,
        commit_every: int = 1_000,
        recv_window_ms: int = 60_000,
        future_ms: int = 1_000,
        rfq_ttl_ms: int = 30_000,
    ) -> None:
        if commit_every < 1:
            raise ValueError("commit_every must be at least 1")
        self.clock: Clock = clock if clock is not None else SimClock()
        self.seed = seed
        self.path = None if journal is None else str(journal)
        self._settings = (commit_every, recv_window_ms, future_ms, rfq_ttl_ms)
        config = engine or EngineConfig()
        file: Journal | None = None
        poisoned: frozenset[tuple[str, str]] = frozenset()
        trade_history = TradeHistory()
        if self.path is None:
            engine_ = Engine(config)
            window: KeyWindow = MemoryWindow(recv_window_ms, future_ms)
            chain = GENESIS_CHAIN
        else:
            file = Journal(self.path)
            try:
                service = ServiceConfig(
                    db=self.path,
                    engine=config,
                    recv_window_ms=recv_window_ms,
                    future_ms=future_ms,
                )
                recovered, window = recover_with_window(file, None, service, child_allowed=False)
                poisoned = frozenset(poisoned_requests(file))
            except BaseException:
                file.close()
                raise
            engine_, chain = recovered.engine, recovered.chain
            trade_history = TradeHistory.load(file)
        # Answers (or rows) are kept for as long as a true retry can reach them: a
        # continued journal may have run with a larger future_ms than this run's.
        keep_ms = retry_reach_ms(recv_window_ms, future_ms, window)
        self.store = RowStore(
            file, engine_.last_seq + 1, commit_every=commit_every, keep_ms=keep_ms
        )
        self.step = SequencingStep(
            engine_,
            window,
            chain,
            self.store.read,
            recv_window_ms=recv_window_ms,
            future_ms=future_ms,
            poisoned=poisoned,
            # Without a file nobody reads a record or the chain: the store keeps answers,
            # and the window of keys stays in this process.
            records=file is not None,
            key_of=request_key if file is not None else memory_key,
        )
        self.hub = EventHub()
        self.rfq = RfqDesk(rfq_ttl_ms)
        self.ids: dict[str, SeededIds] = {}
        # Ids continue past what a continued journal holds (0 for a new one).
        self.ids_after = engine_.last_seq
        self.recent_orders: OrderedDict[int, Any] = OrderedDict()
        self.history: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        # Every trade of the journal, numbered per symbol (the protocol's ``Trade.seq``).
        self.trade_history = trade_history
        self.closed = False
        self._fault: BaseException | None = None
        # The recovered state is long-lived: the collector's settings of ``hcx serve``.
        gc_policy.settle()

    # --- the state ---------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.step.engine

    @property
    def last_seq(self) -> int:
        return self.step.last_seq

    def digest(self) -> str:
        """The engine's full-state digest (the same as ``hcx replay`` prints)."""
        return self.engine.digest()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def session(self, wallet: str) -> SimSession:
        """The calls of ``hcx.client.Client``, acting as ``wallet``, synchronous."""
        self._check_open()
        try:
            _wallet({"wallet": wallet})
        except ProtocolError as exc:
            raise as_hcx_error(exc) from None
        return SimSession(self, wallet, self._ids_of(wallet))

    def _ids_of(self, wallet: str) -> SeededIds:
        ids = self.ids.get(wallet)
        if ids is None:
            ids = self.ids[wallet] = SeededIds(self.seed, wallet, after=self.ids_after)
        return ids

    # --- sequencing --------------------------------------------------------------------

    def submit(self, wallet: str, message: dict[str, Any]) -> Any:
        """One command as its wire message (checked like the gateway checks it): its
        typed result, or ``HcxError`` for a protocol error. For messages without a
        session method."""
        self._check_open()
        try:
            parsed = parse_command(message)
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        except KeyError:
            kind = message.get("type")
            raise HcxError("unknown_type", f"unknown command type {kind!r}") from None
        return typed(self.apply(wallet, parsed.request_id, parsed.ts, parsed.command))

    def apply(self, wallet: str, request_id: str, client_ts: int, command: Command) -> Any:
        """Sequence one checked command now; its answer: the engine's result, or the
        ``Error`` wire message of a refusal (``session.typed`` makes either the client's)."""
        step = self.step
        try:
            decision = step.sequence(wallet, request_id, client_ts, command, self.clock.now_ms())
        except EngineFault as fault:
            self._stop(fault)
            raise
        kind = type(decision)
        if kind is Output or kind is JournalEntry:
            if kind is Output:
                output: Output = decision  # type: ignore[assignment]
                answer = Answer(step.next_seq - 1, step.last_ts, wallet, request_id, output.result)
                self.store.add(answer)
            else:
                entry: JournalEntry = decision  # type: ignore[assignment]
                # Nothing waits for a commit here: repeats read the row from the store.
                step.settle(entry.seq)
                try:
                    self.store.add(entry.row)
                except DurabilityError as fault:
                    self._halt(fault)
                    raise
                output = entry.output
            if output.events:
                self._record(output.events)
            result = output.result
            if type(result) is RfqResult and result.status == "filled":
                self.rfq.filled(result.rfq_id)
            return result
        if kind is Joined:  # only if a shell left an entry in flight; answered the same
            return decision.entry.output.result  # type: ignore[union-attr]
        if kind is RefusedEarly or kind is Reply:
            reply: Reply = decision.reply if kind is RefusedEarly else decision  # type: ignore[union-attr,assignment]
            return reply.result
        refusal: Refusal = decision  # type: ignore[assignment]
        return ProtocolError(refusal.code, refusal.message).to_wire(None, request_id)

    def stored_result(self, wallet: str, request_id: str) -> Any:
        """The result of an earlier request of ``wallet`` still in the window."""
        return self.step.stored_result(wallet, request_id)

    def deliver(self, key: tuple[str, str | None], message: dict[str, Any]) -> None:
        self.hub.deliver(key, message)

    def deliver_to_quoters(self, message: dict[str, Any], except_wallet: str) -> None:
        self.hub.deliver_to_quoters(message, except_wallet)

    def _record(self, events: list[Any]) -> None:
        history = self.history
        recent = self.recent_orders
        numbered: list[TradeRow] = []
        for event in events:
            kind = type(event)
            if kind is Fill:
                history["fills"].append(event)
            elif kind is Trade:
                history["trades"].append(event)
                row = self.trade_history.add(event)
                assert row is not None  # a live trade is past what the history loaded
                numbered.append(row)
            elif kind is OrderUpdate:
                history["orders"].append(event)
                recent[event.order_id] = event
                recent.move_to_end(event.order_id)
                if len(recent) > RECENT_ORDERS_KEPT:
                    recent.popitem(last=False)
        if self.hub.wants_events:
            self.hub.publish(events, numbered)

    # --- time --------------------------------------------------------------------------

    def advance(self, ms: int) -> AdminResult | None:
        """Move time ``ms`` forward; see ``set_time``."""
        if type(ms) is not int or ms < 0:
            raise ValueError(f"ms: must be a whole number of milliseconds >= 0, not {ms!r}")
        return self.set_time(self.clock.now_ms() + ms)

    def set_time(self, now_ms: int) -> AdminResult | None:
        """Move time to ``now_ms`` and make happen what happens by then: instruments
        expire (their resting orders canceled) through a journaled ``Tick`` at that
        moment (its result is returned; None when nothing was due); RFQs, quotes and
        MMP freezes lapse by their own times. Never backwards: ``ValueError``, nothing journaled."""
        self._check_open()
        clock = self.clock
        if type(now_ms) is not int:
            raise ValueError(f"now_ms: must be an int, not {now_ms!r}")
        if not isinstance(clock, SimClock):
            raise ValueError("set_time and advance need a SimClock")
        if now_ms < clock.now_ms() or now_ms < self.step.last_ts:
            raise ValueError(
                f"now_ms: {now_ms} is before the simulator's time {clock.now_ms()}: "
                "time never goes backwards"
            )
        clock.set(now_ms)
        # RFQs and quotes lapse by their own times, checked where they are used (as in
        # the gateway): a quote accepted too late is the engine's ``quote_expired``.
        due = self.engine.next_due_ms()
        if due is None or due > now_ms:
            return None
        request_id = self._ids_of(CLOCK_WALLET)()
        result: AdminResult = typed(self.apply(CLOCK_WALLET, request_id, now_ms, Tick()))
        return result

    # --- channels, book, exports -------------------------------------------------------

    def on(
        self,
        channel: str,
        handler: Callable[[Any], None],
        *,
        wallet: str | None = None,
        symbol: str | None = None,
    ) -> Callable[[], None]:
        """Call ``handler`` with each message of ``channel`` (the client's message
        classes) as commands apply; returns a function that stops it. Private channels
        and ``rfq`` need ``wallet``, ``book`` a listed ``symbol``; ``trades`` takes a
        symbol or none (all)."""
        self._check_open()
        return self.hub.add(self._route(channel, wallet, symbol), handler)

    def queue(
        self, channel: str, *, wallet: str | None = None, symbol: str | None = None
    ) -> EventQueue:
        """The messages of ``channel`` into a queue (see ``on``); a ``book`` queue starts
        with a ``BookSnapshot``."""
        self._check_open()
        key = self._route(channel, wallet, symbol)
        events = EventQueue(self.hub, key)
        if channel == "book":
            events(self.book_snapshot(key[1]))  # type: ignore[arg-type]
        self.hub.add(key, events)
        return events

    def _route(
        self, channel: str, wallet: str | None, symbol: str | None
    ) -> tuple[str, str | None]:
        if channel not in CHANNELS:
            raise as_hcx_error(invalid_field("channel", f"must be one of {', '.join(CHANNELS)}"))
        if channel in PRIVATE_CHANNELS or channel == "rfq":
            if wallet is None:
                needed = invalid_field("wallet", f"is required for the {channel} channel")
                raise as_hcx_error(needed)
            return channel, wallet
        if channel == "book":
            if symbol is None:
                raise as_hcx_error(invalid_field("symbol", "is required for the book channel"))
            self._known(symbol)
            return channel, symbol
        if channel == "trades":
            if symbol is not None:
                self._known(symbol)
            return channel, symbol
        return channel, None

    def _known(self, symbol: str) -> None:
        if symbol not in self.engine.state.books:
            raise as_hcx_error(invalid_field("symbol", f"unknown symbol {symbol!r}"))

    def book_snapshot(self, symbol: str) -> Any:
        """The book of ``symbol`` now, as a ``BookSnapshot``."""
        depth = self.engine.book_depth(symbol)
        if depth is None:
            raise as_hcx_error(invalid_field("symbol", f"unknown symbol {symbol!r}"))
        book_seq, bids, asks = depth
        message = {"type": "BookSnapshot", "symbol": symbol, "seq": book_seq}
        return parse_message({**message, "bids": levels(bids), "asks": levels(asks)})

    def book(self, symbol: str) -> Any:
        """The live book of ``symbol`` as an ``hcx.client.OrderBook`` (``best_bid()``,
        ``best_ask()``, ``bids``, ``asks`` best first, ``seq``): no subscription needed."""
        book = OrderBook(symbol)
        book.apply_snapshot(self.book_snapshot(symbol))
        return book

    def trades(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every trade so far as a row (the rows of ``hcx export trades``)."""
        return rows_of(t for t in self.history["trades"] if symbol is None or t.symbol == symbol)

    def fills(self, wallet: str | None = None) -> list[dict[str, Any]]:
        """Every fill so far as a row (the rows of ``hcx export fills``)."""
        return rows_of(f for f in self.history["fills"] if wallet is None or f.wallet == wallet)

    def orders(self, wallet: str | None = None) -> list[dict[str, Any]]:
        """Every order update so far as a row (the rows of ``hcx export orders``)."""
        return rows_of(o for o in self.history["orders"] if wallet is None or o.wallet == wallet)

    # --- branches ----------------------------------------------------------------------

    def fork(self) -> Simulator:
        """An independent simulator at this point: the same state, chain, window of
        request ids, clock time, RFQs and id counters; no journal file and no channel
        listeners of its own. What either does later, the other never sees."""
        self._check_open()
        twin = Simulator.__new__(Simulator)
        _, recv_window_ms, future_ms, _ = self._settings
        twin.clock = (
            SimClock(self.clock.now_ms()) if isinstance(self.clock, SimClock) else self.clock
        )
        twin.seed, twin.path, twin._settings = self.seed, None, self._settings
        engine = Engine.restore(self.engine.snapshot())
        window = _copy_window(self.step.window)
        keep_ms = self.step.retry_reach_ms
        rows = self.store.recent(self.step.last_ts - keep_ms)
        twin.store = RowStore.holding(rows, self.step.next_seq, keep_ms)
        twin.step = SequencingStep(
            engine,
            window,
            self.step.chain,
            twin.store.read,
            recv_window_ms=recv_window_ms,
            future_ms=future_ms,
            poisoned=self.step.poisoned,
            records=False,
            key_of=self.step.key_of,  # the keys of the window it copies
        )
        twin.step.last_ts = self.step.last_ts
        twin.hub = EventHub()
        twin.rfq = copy.deepcopy(self.rfq)
        twin.ids = {wallet: ids.copy() for wallet, ids in self.ids.items()}
        twin.ids_after = self.ids_after
        twin.recent_orders = OrderedDict(self.recent_orders)
        twin.history = {kind: list(events) for kind, events in self.history.items()}
        twin.trade_history = self.trade_history.copy()
        twin.closed = False
        twin._fault = None
        return twin

    # --- durability and the end --------------------------------------------------------

    def flush(self) -> None:
        """Commit every record so far to the journal file (nothing to do without one).
        A failed commit (``DurabilityError``) stops the simulator, as it stops a server."""
        self._check_open()
        try:
            self.store.flush()
        except DurabilityError as fault:
            self._halt(fault)
            raise

    def close(self) -> None:
        """Commit what is pending and close the journal; calls afterwards raise
        ``SimulatorClosed``. Closing twice is harmless."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._fault is None:
                self.store.flush()
        finally:
            if self.store.journal is not None:
                with suppress(apsw.Error):
                    self.store.journal.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            why = f": stopped by {self._fault!r}" if self._fault is not None else ""
            raise SimulatorClosed(f"the simulator is closed{why}")

    def _halt(self, fault: BaseException) -> None:
        """A commit failed: what it held is lost, so nothing more is accepted."""
        self._fault = fault
        self.close()

    def _stop(self, fault: EngineFault) -> None:
        """An engine fault: keep what callers were told, refuse the request after a
        restart, accept nothing more (as ``hcx serve`` stops)."""
        with suppress(Exception):
            self.store.flush()
        self._fault = fault
        self.close()
        if self.path is not None:
            record_poison(self.path, fault.wallet, fault.request_id)


def _copy_window(window: KeyWindow) -> KeyWindow:
    if isinstance(window, MemoryWindow):
        return window.copy()
    assert isinstance(window, IdempotencyWindow)
    chunks: list[bytes] = []
    window.write_to(lambda data: chunks.append(bytes(data)))
    blob = b"".join(chunks)
    offset = 0

    def read_into(view: memoryview) -> None:
        nonlocal offset
        view[:] = blob[offset : offset + len(view)]
        offset += len(view)

    return IdempotencyWindow.read_from(read_into)


def _wallet(message: dict[str, Any]) -> str:
    return f.req_string(message, "wallet")
