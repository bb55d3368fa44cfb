"""The Engine: ``apply(envelope) -> Output``, digest, snapshot, restore, and read queries.

``apply`` is the only way state changes. It dispatches on the command's type, lets the
handler record what it touched in a ``Changes``, and turns that into the ordered events.
A rejection is a result; an exception escaping ``apply`` is a bug, after which the state
may be half changed and the caller must stop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mypy_extensions import mypyc_attr

from hcx.engine import admin, deadman, expiry, orders, protection, rfq
from hcx.engine.changes import Changes, order_update
from hcx.engine.commands import (
    AcceptQuote,
    ArmCancelOnDisconnect,
    CancelAfter,
    CancelAll,
    CancelOrder,
    CreateInstrument,
    Deposit,
    Envelope,
    HaltInstrument,
    PlaceOrder,
    ReplaceOrder,
    ResetMmp,
    ResumeInstrument,
    SessionClosed,
    SetIndexPrice,
    SetMmp,
    Settle,
    Tick,
    Withdraw,
)
from hcx.engine.config import EngineConfig
from hcx.engine.outputs import (
    Balance,
    InstrumentUpdate,
    Level,
    OrderUpdate,
    Output,
    Position,
    Result,
)
from hcx.engine.precheck import refuse_early
from hcx.engine.snapshot import Snapshot, digest_of, restore_state, take_snapshot
from hcx.engine.state import NO_DEADLINE, EngineState

Handler = Callable[[EngineState, Envelope, Any, Changes], Any]

_HANDLERS: dict[type, Handler] = {
    PlaceOrder: orders.place_order,
    CancelOrder: orders.cancel_order,
    ReplaceOrder: orders.replace_order,
    CancelAll: orders.cancel_all,
    Withdraw: admin.withdraw,
    Deposit: admin.deposit,
    CreateInstrument: admin.create_instrument,
    SetIndexPrice: admin.set_index_price,
    HaltInstrument: admin.halt_instrument,
    ResumeInstrument: admin.resume_instrument,
    Settle: expiry.settle,
    SetMmp: protection.set_mmp,
    ResetMmp: protection.reset_mmp,
    AcceptQuote: rfq.accept_quote,
    CancelAfter: deadman.cancel_after,
    ArmCancelOnDisconnect: deadman.arm,
    SessionClosed: deadman.session_closed,
    Tick: admin.tick,
}


# An exception class stays a plain Python class when compiled (mypyc cannot make a native
# subclass of a builtin type).
@mypyc_attr(native_class=False)
class EngineMisuse(RuntimeError):
    """The caller broke the engine's contract (an envelope out of sequence)."""


class Engine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.state = EngineState(config=config or EngineConfig())
        self.last_seq = 0
        self.last_ts = 0
        self._changes = Changes()

    # --- the state machine ---------------------------------------------------------

    def apply(self, envelope: Envelope) -> Output:
        seq, ts_ms, command = envelope.seq, envelope.ts_ms, envelope.command
        if seq <= self.last_seq:
            raise EngineMisuse(f"seq {seq} after {self.last_seq}")
        handler = _HANDLERS.get(type(command))
        if handler is None:
            raise EngineMisuse(f"no handler for {type(command).__name__}")
        state = self.state
        changes = self._changes
        changes.start(seq, ts_ms)
        queue = state.expiry_queue
        if queue and queue[0][0] <= ts_ms:
            expiry.expire_due(state, changes, ts_ms)
        if state.cancel_after_next <= ts_ms:
            deadman.fire_due(state, changes, ts_ms)
        result = handler(state, envelope, command, changes)
        self.last_seq = seq
        if ts_ms > self.last_ts:
            self.last_ts = ts_ms
        return Output(result, changes.finish(state))

    def refuse_early(self, envelope: Envelope) -> Result | None:
        """The rejection ``apply`` would give if it is one that changes nothing and needs
        no journal entry (see ``precheck``); None if the command must be applied."""
        return refuse_early(self.state, envelope, self.last_seq)

    def next_due_ms(self) -> int | None:
        """The earliest time at which time alone changes the state (an instrument
        expires, a ``CancelAfter`` deadline passes), or None: a ``Tick`` at or after it
        makes that happen."""
        state = self.state
        queue = state.expiry_queue
        due = state.cancel_after_next
        if queue and queue[0][0] < due:
            due = queue[0][0]
        return None if due == NO_DEADLINE else due

    # --- whole-state operations ----------------------------------------------------

    def snapshot(self) -> Snapshot:
        return take_snapshot(self.state, self.last_seq, self.last_ts)

    def digest(self) -> str:
        """SHA-256 over the canonical encoding of the whole state: O(state)."""
        return digest_of(self.snapshot())

    @classmethod
    def restore(cls, snapshot: Snapshot) -> Engine:
        state, last_seq, last_ts = restore_state(snapshot)
        engine = cls(state.config)
        engine.state, engine.last_seq, engine.last_ts = state, last_seq, last_ts
        return engine

    # --- reads (not journaled; the service orders them with the commands) ---------

    def open_orders(self, wallet: str, symbol: str | None = None) -> list[OrderUpdate]:
        owner = self.state.wallets.get(wallet)
        if owner is None:
            return []
        return [
            order_update(o, o.ts_ms, self.last_seq)
            for o in owner.open_orders.values()
            if symbol is None or o.symbol == symbol
        ]

    def open_order(
        self, wallet: str, order_id: int | None = None, client_id: str | None = None
    ) -> OrderUpdate | None:
        """An open order of ``wallet`` by id or client id (another wallet's: None)."""
        owner = self.state.wallets.get(wallet)
        if owner is None:
            return None
        if order_id is None and client_id is not None:
            order_id = owner.client_ids.get(client_id)
        order = owner.open_orders.get(order_id) if order_id is not None else None
        return None if order is None else order_update(order, order.ts_ms, self.last_seq)

    def balance(self, wallet: str) -> Balance:
        owner = self.state.wallets.get(wallet)
        if owner is None:
            return Balance(wallet, 0, 0, 0, self.last_seq)
        return Balance(wallet, owner.total, owner.available, owner.reserved, self.last_seq)

    def positions(self, wallet: str) -> list[Position]:
        owner = self.state.wallets.get(wallet)
        if owner is None:
            return []
        out = []
        for symbol in sorted(owner.exposures):
            exposure = owner.exposures[symbol]
            if exposure.size or exposure.realized_pnl:
                mult = self.state.instruments[symbol].multiplier
                out.append(
                    Position(
                        wallet,
                        symbol,
                        exposure.size,
                        exposure.entry_price(mult),
                        exposure.realized_pnl,
                        self.last_seq,
                    )
                )
        return out

    def book_depth(self, symbol: str) -> tuple[int, list[Level], list[Level]] | None:
        """(book_seq, bids best first, asks best first), or None for an unknown symbol."""
        book = self.state.books.get(symbol)
        if book is None:
            return None
        return self.state.book_seqs[symbol], book.bids.depth(), book.asks.depth()

    def instruments(self) -> list[InstrumentUpdate]:
        return [
            admin.instrument_update(self.state.instruments[s], self.last_seq)
            for s in sorted(self.state.instruments)
        ]
