"""Order commands: place, cancel, replace and cancel-all.

Checks run in the protocol's order and the first failure is the answer: instrument
(``unknown_symbol``, ``instrument_not_active``), ``invalid_price``, ``invalid_size``,
ownership, the order-type rules, and last the collateral check. A rejected command
changes nothing. A replace is validated as a whole before the old order is touched, so a
rejected replace leaves the original resting where it was.
"""

from __future__ import annotations

from hcx.engine.accounts import Exposure, Wallet, buy_hold, requirement
from hcx.engine.book import Order
from hcx.engine.changes import Changes
from hcx.engine.commands import CancelAll, CancelOrder, Envelope, PlaceOrder, ReplaceOrder, Side
from hcx.engine.instruments import Instrument
from hcx.engine.matching import cancel_resting, fok_fillable, match, release_collateral
from hcx.engine.outputs import CancelAllResult, OrderResult
from hcx.engine.state import EngineState


def place_order(state: EngineState, env: Envelope, cmd: PlaceOrder, ch: Changes) -> OrderResult:
    return _submit(state, env, ch, cmd.symbol, cmd.side, cmd, None)


def replace_order(state: EngineState, env: Envelope, cmd: ReplaceOrder, ch: Changes) -> OrderResult:
    original = state.orders.get(cmd.order_id)
    if original is None:
        return _rejected_replace(env, cmd, "unknown_order")
    if original.wallet != env.wallet:
        return _rejected_replace(env, cmd, "not_owner")
    return _submit(state, env, ch, original.symbol, original.side, cmd, original)


def cancel_order(state: EngineState, env: Envelope, cmd: CancelOrder, ch: Changes) -> OrderResult:
    order: Order | None = None
    if cmd.order_id is not None:
        order = state.orders.get(cmd.order_id)
        if order is not None and order.wallet != env.wallet:
            return _rejected_cancel(env, cmd, "not_owner")
    elif cmd.client_id is not None:
        wallet = state.wallets.get(env.wallet)
        order_id = wallet.client_ids.get(cmd.client_id) if wallet is not None else None
        order = state.orders.get(order_id) if order_id is not None else None
    if order is None:
        return _rejected_cancel(env, cmd, "unknown_order")
    cancel_resting(state, ch, order, state.instruments[order.symbol], None)
    return _order_result(order, env, None)


def cancel_all(state: EngineState, env: Envelope, cmd: CancelAll, ch: Changes) -> CancelAllResult:
    wallet = state.wallets.get(env.wallet)
    canceled: list[int] = []
    if wallet is not None:
        if cmd.symbol is not None:
            targets = [o for o in wallet.open_orders.values() if o.symbol == cmd.symbol]
        elif cmd.underlying is not None:
            symbols = set(state.by_underlying.get(cmd.underlying, ()))
            targets = [o for o in wallet.open_orders.values() if o.symbol in symbols]
        else:
            targets = list(wallet.open_orders.values())
        for order in targets:
            cancel_resting(state, ch, order, state.instruments[order.symbol], None)
            canceled.append(order.order_id)
    return CancelAllResult(env.request_id, env.wallet, canceled, env.seq)


def _submit(
    state: EngineState,
    env: Envelope,
    ch: Changes,
    symbol: str,
    side: Side,
    cmd: PlaceOrder | ReplaceOrder,
    replaced: Order | None,
) -> OrderResult:
    inst = state.instruments.get(symbol)
    if inst is None:
        return rejected_order(env, cmd, symbol, side, replaced, "unknown_symbol")
    # The order keeps the state's own strings for its symbol and wallet, not the
    # command's equal copies: every later lookup by them then finds the key by identity,
    # in memory that is already warm.
    symbol = inst.symbol
    wallet = state.wallets.get(env.wallet)
    exposure = wallet.exposures.get(symbol) if wallet is not None else None
    reason = _refusal(state, env, inst, wallet, exposure, side, cmd, replaced)
    if reason is not None:
        return rejected_order(env, cmd, symbol, side, replaced, reason)
    price, size = cmd.price, cmd.size
    hold = buy_hold(inst, price, size) if side == "buy" else 0
    if _short_of_collateral(state, inst, wallet, exposure, side, size, hold, replaced):
        return rejected_order(env, cmd, symbol, side, replaced, "insufficient_balance")
    if wallet is None:
        wallet = state.wallet(env.wallet)
    if exposure is None:
        exposure = wallet.exposure(symbol)
    if replaced is not None:
        cancel_resting(state, ch, replaced, inst, None)
    tif = cmd.tif
    order_id = state.next_order_id
    state.next_order_id = order_id + 1
    order = Order(
        order_id,
        env.request_id,
        wallet.name,
        symbol,
        side,
        price,
        size,
        size,
        tif,
        cmd.post_only,
        cmd.reduce_only,
        cmd.mmp,
        cmd.client_id,
        cmd.stp,
        env.ts_ms,
    )
    # The order holds collateral as if resting from the start; fills and a cancel of the
    # remainder release it, so every path out of here leaves the exposure consistent.
    if side == "buy":
        order.reserved = hold
        exposure.buy_reserved += hold
    else:
        exposure.open_sell_size += size
    ch.orders[order_id] = order
    ch.touch_exposure(wallet, exposure, inst)

    book = state.books[symbol]
    if tif == "fok" and not fok_fillable(state, order, book):
        return _end_unrested(order, exposure, "fok_unfilled", env, replaced)
    ended_by = None
    if book.crosses(side, price):
        ended_by = match(state, ch, order, wallet, exposure, inst)
    if not order.remaining:
        order.status = "filled"
        return _order_result(order, env, replaced)
    if ended_by is not None:
        return _end_unrested(order, exposure, ended_by, env, replaced)
    if tif != "gtc":
        # Spelled out, so the codes can be found in the source (tests/engine/test_reasons).
        remainder = "ioc_remainder" if tif == "ioc" else "fok_remainder"
        return _end_unrested(order, exposure, remainder, env, replaced)
    if order.remaining != size:
        order.status = "partially_filled"
    (book.bids if side == "buy" else book.asks).add(order)
    wallet.open_orders[order_id] = order
    if order.client_id is not None:
        wallet.client_ids[order.client_id] = order_id
    state.orders[order_id] = order
    ch.touch_level(symbol, side, price)
    return _order_result(order, env, replaced)


def _refusal(
    state: EngineState,
    env: Envelope,
    inst: Instrument,
    wallet: Wallet | None,
    exposure: Exposure | None,
    side: Side,
    cmd: PlaceOrder | ReplaceOrder,
    replaced: Order | None,
) -> str | None:
    """The first rule, short of collateral, that the order breaks, or None."""
    if not inst.is_trading(env.ts_ms):
        return "instrument_not_active"
    price, size = cmd.price, cmd.size
    if price <= 0 or price % inst.tick_size:
        return "invalid_price"
    if size <= 0 or size % inst.lot_size:
        return "invalid_size"
    if cmd.client_id is not None and wallet is not None:
        holder = wallet.client_ids.get(cmd.client_id)
        if holder is not None and (replaced is None or holder != replaced.order_id):
            return "duplicate_client_id"
    if cmd.post_only and state.books[inst.symbol].crosses(side, price):
        return "post_only_would_take"
    if cmd.reduce_only:
        position = exposure.size if exposure is not None else 0
        if size > (-position if side == "buy" else position):
            return "reduce_only_violation"
    if cmd.mmp:
        protection = state.mmp.get((env.wallet, inst.underlying))
        if protection is not None and protection.enabled and protection.is_frozen(env.ts_ms):
            return "mmp_frozen"
    if cmd.tif == "gtc" and wallet is not None:
        resting = len(wallet.open_orders) - (1 if replaced is not None else 0)
        if resting >= state.config.max_open_orders:
            return "too_many_open_orders"
    return None


def _short_of_collateral(
    state: EngineState,
    inst: Instrument,
    wallet: Wallet | None,
    exposure: Exposure | None,
    side: Side,
    size: int,
    hold: int,
    replaced: Order | None,
) -> bool:
    """Would the order (``hold``: what it holds if a buy) need more than is available?"""
    if exposure is None:
        position, buy_reserved, open_sells, cash_basis, stored = 0, 0, 0, 0, 0
    else:
        position, buy_reserved, open_sells = (
            exposure.size,
            exposure.buy_reserved,
            exposure.open_sell_size,
        )
        cash_basis, stored = exposure.cash_basis, exposure.required
    margin = state.margin_per_contract(inst)
    held_now = requirement(position, cash_basis, buy_reserved, open_sells, margin)
    if side == "buy":
        # What resting buys hold adds up: one more buy needs exactly its own hold.
        held_after = held_now + hold - (replaced.reserved if replaced is not None else 0)
    else:
        if replaced is not None:
            buy_reserved -= replaced.reserved
            open_sells -= replaced.remaining
        open_sells += size
        held_after = requirement(position, cash_basis, buy_reserved, open_sells, margin)
    # An order that adds no risk is always accepted, even from an under-margined wallet.
    if held_after > held_now:
        available = wallet.total - wallet.reserved if wallet is not None else 0
        return held_after - stored > available
    return False


def _end_unrested(
    order: Order, exposure: Exposure, reason: str, env: Envelope, replaced: Order | None
) -> OrderResult:
    release_collateral(order, exposure)
    order.status = "canceled"
    order.reason = reason
    return _order_result(order, env, replaced)


def _order_result(order: Order, env: Envelope, replaced: Order | None) -> OrderResult:
    return OrderResult(
        env.request_id,
        order.order_id,
        order.client_id,
        order.wallet,
        order.symbol,
        order.side,
        order.price,
        order.size,
        order.tif,
        order.status,
        order.size - order.remaining,
        order.reason,
        order.mmp_triggered,
        replaced.order_id if replaced is not None else None,
        env.ts_ms,
        env.seq,
    )


def rejected_order(
    env: Envelope,
    cmd: PlaceOrder | ReplaceOrder,
    symbol: str,
    side: Side,
    replaced: Order | None,
    reason: str,
) -> OrderResult:
    return OrderResult(
        env.request_id,
        None,
        cmd.client_id,
        env.wallet,
        symbol,
        side,
        cmd.price,
        cmd.size,
        cmd.tif,
        "rejected",
        0,
        reason,
        False,
        None,
        env.ts_ms,
        env.seq,
    )


def _rejected_replace(env: Envelope, cmd: ReplaceOrder, reason: str) -> OrderResult:
    return OrderResult(
        env.request_id,
        None,
        cmd.client_id,
        env.wallet,
        None,
        None,
        cmd.price,
        cmd.size,
        cmd.tif,
        "rejected",
        0,
        reason,
        False,
        None,
        env.ts_ms,
        env.seq,
    )


def _rejected_cancel(env: Envelope, cmd: CancelOrder, reason: str) -> OrderResult:
    return OrderResult(
        env.request_id,
        cmd.order_id,
        cmd.client_id,
        env.wallet,
        None,
        None,
        None,
        None,
        None,
        "rejected",
        0,
        reason,
        False,
        None,
        env.ts_ms,
        env.seq,
    )
