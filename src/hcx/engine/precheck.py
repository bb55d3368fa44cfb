"""Rejections that change nothing and need no journal entry.

Some rejections depend only on the message and on an instrument's fixed terms: a price
or size that is not a positive whole number of ticks or lots, a non-positive amount.
Nothing executes, no state changes, replay would not miss them, and no later state can
turn a repeat of the request into an execution, so the sequencer answers them without
journaling (keeping a flood of bad orders out of the journal). An unknown symbol is not
one of them: the symbol may be listed later, and a repeat of the rejected request (same
wallet and request id) would then execute; the engine journals that rejection, so every
repeat gets the stored answer. The answer is exactly what ``apply`` would have given, in
the same check order (a halted instrument is still ``instrument_not_active`` first, and is
journaled), and its ``seq`` is the last journaled one, the state it was judged against.
"""

from __future__ import annotations

from hcx.engine.commands import Deposit, Envelope, PlaceOrder, ReplaceOrder, Withdraw
from hcx.engine.orders import rejected_order
from hcx.engine.outputs import AdminResult, BalanceResult, OrderResult, Result
from hcx.engine.state import EngineState


def refuse_early(state: EngineState, envelope: Envelope, last_seq: int) -> Result | None:
    command = envelope.command
    kind = type(command)
    if kind is PlaceOrder or kind is ReplaceOrder:
        return _order(state, envelope, command, last_seq)  # type: ignore[arg-type]
    if kind is Withdraw and command.amount <= 0:  # type: ignore[union-attr]
        wallet = state.wallets.get(envelope.wallet)
        total = wallet.total if wallet is not None else 0
        reserved = wallet.reserved if wallet is not None else 0
        return BalanceResult(
            envelope.request_id,
            envelope.wallet,
            "rejected",
            "invalid_amount",
            total,
            total - reserved,
            reserved,
            last_seq,
        )
    if kind is Deposit and command.amount <= 0:  # type: ignore[union-attr]
        return AdminResult(
            envelope.request_id,
            envelope.wallet,
            "Deposit",
            "rejected",
            "invalid_amount",
            last_seq,
        )
    return None


def _order(
    state: EngineState, envelope: Envelope, cmd: PlaceOrder | ReplaceOrder, last_seq: int
) -> OrderResult | None:
    if isinstance(cmd, PlaceOrder):
        symbol: str | None = cmd.symbol
        side: str | None = cmd.side
    else:
        original = state.orders.get(cmd.order_id)
        if original is None or original.wallet != envelope.wallet:
            return None  # unknown_order / not_owner: the engine's, journaled
        symbol, side = original.symbol, original.side
    inst = state.instruments.get(symbol) if symbol is not None else None
    if inst is None or not inst.is_trading(envelope.ts_ms):
        return None  # unknown_symbol, instrument_not_active: the engine's, journaled
    if cmd.price <= 0 or cmd.price % inst.tick_size:
        reason = "invalid_price"
    elif cmd.size <= 0 or cmd.size % inst.lot_size:
        reason = "invalid_size"
    else:
        return None
    rejection = rejected_order(envelope, cmd, symbol, side, None, reason)  # type: ignore[arg-type]
    rejection.seq = last_seq
    return rejection
