"""Matching one incoming order against the opposite side of its book.

Price-time priority: the best price first, and at a price the oldest order first. A fill
happens at the resting (maker) order's price. Self-trade prevention follows the incoming
order's ``stp`` mode; a resting reduce-only order never fills past the position it reduces
(it is canceled when nothing is left to reduce). ``fok_fillable`` answers, without
changing anything, whether a fill-or-kill order would fill completely.
"""

from __future__ import annotations

from hcx.engine.accounts import Exposure, Wallet, buy_hold
from hcx.engine.book import Book, BookSide, Order
from hcx.engine.changes import Changes
from hcx.engine.greeks import delta
from hcx.engine.instruments import Instrument
from hcx.engine.mmp import MmpState
from hcx.engine.numbers import SCALE
from hcx.engine.state import EngineState
from hcx.engine.trade import book_trade


def release_collateral(order: Order, exposure: Exposure) -> None:
    """Stop holding collateral for what is left of ``order``."""
    if order.side == "buy":
        exposure.buy_reserved -= order.reserved
        order.reserved = 0
    else:
        exposure.open_sell_size -= order.remaining


def cancel_resting(
    state: EngineState, ch: Changes, order: Order, inst: Instrument, reason: str | None
) -> None:
    book = state.books[order.symbol]
    (book.bids if order.side == "buy" else book.asks).remove(order)
    wallet = state.wallets[order.wallet]
    del wallet.open_orders[order.order_id]
    if order.client_id is not None:
        del wallet.client_ids[order.client_id]
    del state.orders[order.order_id]
    exposure = wallet.exposures[order.symbol]
    release_collateral(order, exposure)
    order.status = "canceled"
    order.reason = reason
    ch.orders[order.order_id] = order
    ch.touch_level(order.symbol, order.side, order.price)
    ch.touch_exposure(wallet, exposure, inst)


def _reducible(exposure: Exposure | None, side: str) -> int:
    """How much an order on ``side`` can fill before it stops reducing the position."""
    if exposure is None:
        return 0
    reducible = exposure.size if side == "sell" else -exposure.size
    return reducible if reducible > 0 else 0


def fok_fillable(state: EngineState, taker: Order, book: Book) -> bool:
    needed = taker.remaining
    buy = taker.side == "buy"
    limit = taker.price
    symbol = taker.symbol
    reduce_used: dict[str, int] = {}
    # MMP as ``match`` will meet it: a maker wallet whose protection trips loses its
    # other mmp orders, and an mmp taker whose protection trips stops.
    trials: dict[str, MmpState | None] = {}
    mmp_breached: set[str] = set()
    for price, level in book.opposite(taker.side).in_priority():
        if (price > limit) if buy else (price < limit):
            return False
        for maker in level.values():
            if maker.wallet == taker.wallet:
                if taker.stp == "cancel_maker":
                    continue
                return False
            size = maker.remaining
            used = reduce_used.get(maker.wallet, 0)
            if maker.reduce_only:
                exposure = state.wallets[maker.wallet].exposures.get(symbol)
                size = min(size, max(_reducible(exposure, maker.side) - used, 0))
            if maker.mmp and maker.wallet in mmp_breached:
                continue  # ``match`` cancels it when its wallet's protection trips
            # Every fill of this wallet, reduce-only or not, shrinks what its later
            # reduce-only orders may still reduce (``match`` reads the live position).
            reduce_used[maker.wallet] = used + size
            fill = size if size < needed else needed
            if fill and maker.mmp and _mmp_would_breach(state, trials, maker, fill, taker.ts_ms):
                mmp_breached.add(maker.wallet)
            needed -= size
            if needed <= 0:
                return True
            if fill and taker.mmp and _mmp_would_breach(state, trials, taker, fill, taker.ts_ms):
                return False  # ``match`` stops the taker here, short of filled
    return False


def _mmp_would_breach(
    state: EngineState, trials: dict[str, MmpState | None], order: Order, size: int, ts_ms: int
) -> bool:
    """Would a fill of ``order`` at ``ts_ms`` trip its wallet's MMP, counting the fills
    already tried in ``trials`` (copies of the protections, so nothing real changes)?"""
    inst = state.instruments[order.symbol]
    if order.wallet not in trials:
        protection = state.mmp.get((order.wallet, inst.underlying))
        trials[order.wallet] = (
            None if protection is None or not protection.enabled else protection.copy()
        )
    trial = trials[order.wallet]
    if trial is None:
        return False
    return trial.record(ts_ms, size, _signed_delta(state, trial, inst, order.side, size, ts_ms))


def match(
    state: EngineState,
    ch: Changes,
    taker: Order,
    taker_wallet: Wallet,
    taker_exposure: Exposure,
    inst: Instrument,
) -> str | None:
    """Fill ``taker`` against the book while prices cross.

    Returns ``"self_trade"`` when self-trade prevention ended the taker, else None.
    """
    book = state.books[inst.symbol]
    opposite = book.opposite(taker.side)
    buy = taker.side == "buy"
    limit = taker.price
    while taker.remaining and opposite.sizes:
        price, level = opposite.best()
        if (price > limit) if buy else (price < limit):
            break
        maker = next(iter(level.values()))
        if maker.wallet == taker.wallet:
            stp = taker.stp
            if stp != "cancel_taker":
                cancel_resting(state, ch, maker, inst, "self_trade")
            if stp != "cancel_maker":
                return "self_trade"
            continue
        size = taker.remaining if taker.remaining < maker.remaining else maker.remaining
        maker_wallet = state.wallets[maker.wallet]
        maker_exposure = maker_wallet.exposures[inst.symbol]
        if maker.reduce_only:
            reducible = _reducible(maker_exposure, maker.side)
            if not reducible:
                cancel_resting(state, ch, maker, inst, "reduce_only_violation")
                continue
            size = min(size, reducible)
        _execute(
            state,
            ch,
            inst,
            opposite,
            maker,
            maker_wallet,
            maker_exposure,
            taker,
            taker_wallet,
            taker_exposure,
            price,
            size,
        )
        if maker.mmp:
            record_mmp_fill(state, ch, maker.wallet, inst, maker.side, size, maker)
        if taker.mmp and record_mmp_fill(state, ch, taker.wallet, inst, taker.side, size, taker):
            return "mmp_frozen"
    return None


def record_mmp_fill(
    state: EngineState,
    ch: Changes,
    wallet: str,
    inst: Instrument,
    side: str,
    size: int,
    order: Order | None,
) -> bool:
    """Count a fill toward the wallet's MMP on the underlying; on a breach, freeze it and
    cancel the wallet's resting ``mmp`` orders there. True if this fill breached."""
    protection = state.mmp.get((wallet, inst.underlying))
    if protection is None or not protection.enabled:
        return False
    signed_delta = _signed_delta(state, protection, inst, side, size, ch.ts)
    if not protection.record(ch.ts, size, signed_delta):
        return False
    if order is not None:
        order.mmp_triggered = True
        ch.orders[order.order_id] = order
    owner = state.wallets[wallet]
    symbols = set(state.by_underlying.get(inst.underlying, ()))
    for resting in [o for o in owner.open_orders.values() if o.mmp and o.symbol in symbols]:
        resting.mmp_triggered = True
        cancel_resting(state, ch, resting, state.instruments[resting.symbol], "mmp_frozen")
    return True


def _signed_delta(
    state: EngineState, protection: MmpState, inst: Instrument, side: str, size: int, ts_ms: int
) -> int:
    if protection.delta_limit is None:
        return 0
    signed_delta = _delta(state, inst, ts_ms) * size // SCALE
    return -signed_delta if side == "sell" else signed_delta


def _delta(state: EngineState, inst: Instrument, ts_ms: int) -> int:
    """Black-Scholes delta of one contract (scaled), from the index and vol of its
    underlying; with no vol published, the intrinsic delta. Time is taken to the whole
    second, which makes the value a function of the cache key alone: a cache emptied by
    a restore recomputes exactly what it held."""
    spot = state.index_prices.get(inst.underlying, inst.strike)
    vol = state.index_vols.get(inst.underlying, 0)
    second = ts_ms // 1000
    key = (inst.symbol, spot, vol, second)
    cache = state.delta_cache
    value = cache.get(key)
    if value is None:
        if len(cache) > 10_000:
            cache.clear()
        value = delta(inst.option, spot, inst.strike, vol, inst.expiry_ms - second * 1000)
        cache[key] = value
    return value


def _consume(order: Order, size: int, exposure: Exposure, inst: Instrument) -> None:
    order.remaining -= size
    if order.side == "buy":
        held = buy_hold(inst, order.price, order.remaining) if order.remaining else 0
        exposure.buy_reserved += held - order.reserved
        order.reserved = held
    else:
        exposure.open_sell_size -= size


def _execute(
    state: EngineState,
    ch: Changes,
    inst: Instrument,
    resting_side: BookSide,
    maker: Order,
    maker_wallet: Wallet,
    maker_exposure: Exposure,
    taker: Order,
    taker_wallet: Wallet,
    taker_exposure: Exposure,
    price: int,
    size: int,
) -> None:
    if size == maker.remaining:
        resting_side.remove(maker)
        del maker_wallet.open_orders[maker.order_id]
        if maker.client_id is not None:
            del maker_wallet.client_ids[maker.client_id]
        del state.orders[maker.order_id]
        maker.status = "filled"
    else:
        resting_side.reduce(maker, size)
        maker.status = "partially_filled"
    _consume(maker, size, maker_exposure, inst)
    _consume(taker, size, taker_exposure, inst)
    book_trade(
        state,
        ch,
        inst,
        price,
        size,
        taker.side,
        (maker_wallet, maker_exposure, maker.side, "maker", maker.order_id),
        (taker_wallet, taker_exposure, taker.side, "taker", taker.order_id),
    )
    ch.orders[maker.order_id] = maker
    ch.touch_level(inst.symbol, maker.side, price)
