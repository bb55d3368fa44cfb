"""Expiry and cash settlement.

Expiry is evaluated lazily and deterministically: before any command whose envelope time
has reached an instrument's ``expiry_ms``, that instrument becomes ``expired`` and its
resting orders are canceled (reason ``instrument_not_active``) with their collateral
released. The events join the output of that command, ahead of its own.

``Settle {symbol, price}`` then cash-settles every position at the underlying's settlement
price S: a holder of ``size`` contracts gets ``size * intrinsic * multiplier`` (intrinsic
``max(S - K, 0)`` for calls, ``max(K - S, 0)`` for puts; negative for shorts, who pay),
rounded down, so receivers never get more than payers pay; the rounding dust goes to the
venue with the fees and money stays conserved exactly. Each holder gets
``PositionExpired``; positions go to zero, short margin is released, and the instrument
becomes ``settled``.
"""

from __future__ import annotations

from hcx.engine.admin import instrument_update
from hcx.engine.changes import Changes
from hcx.engine.commands import Envelope, Settle
from hcx.engine.matching import cancel_resting
from hcx.engine.numbers import PREMIUM_DIVISOR
from hcx.engine.outputs import AdminResult, AdminStatus, PositionExpired
from hcx.engine.state import EngineState


def expire_due(state: EngineState, ch: Changes, ts_ms: int) -> None:
    queue = state.expiry_queue
    while queue and queue[0][0] <= ts_ms:
        _, symbol = queue.pop(0)
        inst = state.instruments[symbol]
        if inst.status not in ("active", "halted"):
            continue
        inst.status = "expired"
        book = state.books[symbol]
        for side in (book.bids, book.asks):
            for order in list(side.orders()):
                cancel_resting(state, ch, order, inst, "instrument_not_active")
        ch.events.append(instrument_update(inst, ch.seq))


def settle(state: EngineState, env: Envelope, cmd: Settle, ch: Changes) -> AdminResult:
    inst = state.instruments.get(cmd.symbol)
    reason = None
    if inst is None:
        reason = "unknown_symbol"
    elif inst.status == "settled":
        reason = "already_settled"
    elif inst.status != "expired":
        reason = "not_expired"
    elif cmd.price <= 0:
        reason = "invalid_price"
    if reason is not None or inst is None:
        return _result(env, reason)
    strike = inst.strike
    intrinsic = max(cmd.price - strike, 0) if inst.option == "call" else max(strike - cmd.price, 0)
    paid_out = 0
    # Sorted: wallet dicts are in insertion order, which a restore does not reproduce.
    for name in sorted(state.wallets):
        wallet = state.wallets[name]
        exposure = wallet.exposures.get(inst.symbol)
        if exposure is None or exposure.size == 0:
            continue
        value = exposure.size * intrinsic * inst.multiplier // PREMIUM_DIVISOR
        pnl = value - exposure.cost
        wallet.total += value
        paid_out += value
        ch.events.append(
            PositionExpired(name, inst.symbol, exposure.size, cmd.price, value, pnl, env.seq)
        )
        exposure.realized_pnl += pnl
        exposure.size = 0
        exposure.cost = 0
        exposure.cash_basis = 0
        ch.touch_position(wallet, exposure, inst)
    state.fees_collected -= paid_out  # the rounding dust (paid_out <= 0) goes to the venue
    inst.status = "settled"
    ch.events.append(instrument_update(inst, env.seq))
    return _result(env, None)


def _result(env: Envelope, reason: str | None) -> AdminResult:
    status: AdminStatus = "ok" if reason is None else "rejected"
    return AdminResult(env.request_id, env.wallet, "Settle", status, reason, env.seq)
