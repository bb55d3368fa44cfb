"""Wallets: cash, collateral held, and one exposure per instrument traded.

Collateral is held per (wallet, instrument) and recomputed from that exposure whenever
it changes, so it can never drift from the orders and positions it covers:

    required = resting buys' premium + worst fee
             + margin x (sells not covered by a long + short position)
             + net premium received for the short position

A sell covered by a long position needs no margin. ``Wallet.reserved`` is the sum of
``required`` over the wallet's exposures; ``available = total - reserved``.
"""

from __future__ import annotations

from typing import ClassVar

from hcx.engine.book import Order
from hcx.engine.instruments import Instrument
from hcx.engine.numbers import SCALE, fee_for
from hcx.engine.plain import Fields


class Exposure(Fields):
    """One wallet's stake in one instrument.

    ``cost`` is the signed premium of the open position (paid > 0 for a long, received
    < 0 for a short), ``cash_basis`` the same with fees, ``buy_reserved`` what resting
    buys hold, ``open_sell_size`` the size of resting sells, ``required`` the collateral
    last computed for all of it.
    """

    # The snapshot's row order: changing it changes every digest.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "size",
        "cost",
        "cash_basis",
        "realized_pnl",
        "buy_reserved",
        "open_sell_size",
        "required",
    )

    def __init__(
        self,
        size: int = 0,
        cost: int = 0,
        cash_basis: int = 0,
        realized_pnl: int = 0,
        buy_reserved: int = 0,
        open_sell_size: int = 0,
        required: int = 0,
    ) -> None:
        self.size = size
        self.cost = cost
        self.cash_basis = cash_basis
        self.realized_pnl = realized_pnl
        self.buy_reserved = buy_reserved
        self.open_sell_size = open_sell_size
        self.required = required

    def copy(self) -> Exposure:
        return Exposure(
            self.size,
            self.cost,
            self.cash_basis,
            self.realized_pnl,
            self.buy_reserved,
            self.open_sell_size,
            self.required,
        )

    def entry_price(self, multiplier: int) -> int:
        """Average open price per contract (display only: rounded toward zero)."""
        size = self.size
        if not size:
            return 0
        cost = -self.cost if self.cost < 0 else self.cost
        if size < 0:
            size = -size
        if multiplier == SCALE:  # one-unit contracts: a factor of SCALE cancels exactly
            return cost * SCALE // size
        return cost * SCALE * SCALE // (size * multiplier)

    def requirement(self, margin_per_contract: int) -> int:
        return requirement(
            self.size, self.cash_basis, self.buy_reserved, self.open_sell_size, margin_per_contract
        )


def requirement(
    size: int, cash_basis: int, buy_reserved: int, open_sell_size: int, margin_per_contract: int
) -> int:
    held = buy_reserved
    if size < 0:
        # Short: margin on the position and on every resting sell, and the net premium.
        at_risk = (open_sell_size if open_sell_size > 0 else 0) - size
        if cash_basis < 0:
            held -= cash_basis
    else:
        # Flat or long: margin on the resting sells the long does not cover.
        at_risk = open_sell_size - size
    if at_risk > 0:
        # Margin on ``at_risk`` (scaled) contracts, rounded up: ceil_div inlined, as this
        # runs at least twice for every order.
        held -= -margin_per_contract * at_risk // SCALE
    return held


class Wallet(Fields):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "name",
        "total",
        "reserved",
        "open_orders",
        "client_ids",
        "exposures",
    )

    def __init__(self, name: str, total: int = 0, reserved: int = 0) -> None:
        self.name = name
        self.total = total
        self.reserved = reserved
        # Resting orders by id; ids only grow, so this is also arrival order.
        self.open_orders: dict[int, Order] = {}
        self.client_ids: dict[str, int] = {}
        self.exposures: dict[str, Exposure] = {}

    @property
    def available(self) -> int:
        return self.total - self.reserved

    def exposure(self, symbol: str) -> Exposure:
        exposure = self.exposures.get(symbol)
        if exposure is None:
            exposure = self.exposures[symbol] = Exposure()
        return exposure


def buy_hold(inst: Instrument, price: int, size: int) -> int:
    """What a resting buy of ``size`` at ``price`` holds: its premium at the limit plus the
    worst fee on it (maker or taker: it may take when it arrives, make when it rests)."""
    premium = inst.premium(price, size)
    maker, taker = inst.maker_fee_bps, inst.taker_fee_bps
    return premium + fee_for(premium, maker if maker > taker else taker)


def apply_fill(
    wallet: Wallet, exposure: Exposure, side: str, size: int, premium: int, fee: int
) -> int:
    """Move cash and position for one fill; returns the realized PnL (fees excluded).

    Closing part of a position releases a pro-rata share of its cost, rounded toward
    -infinity; the remainder stays with what is left open and is released when the
    position closes, so the sums stay exact.
    """
    buy = side == "buy"
    wallet.total += -(premium + fee) if buy else premium - fee
    signed_size = size if buy else -size
    held = exposure.size
    if held == 0 or (held > 0) == buy:
        exposure.size = held + signed_size
        exposure.cost += premium if buy else -premium
        exposure.cash_basis += premium + fee if buy else fee - premium
        return 0
    held_abs = held if held > 0 else -held
    closing = size if size < held_abs else held_abs
    if closing == held_abs:
        cost_closed, basis_closed = exposure.cost, exposure.cash_basis
    else:
        cost_closed = exposure.cost * closing // held_abs
        basis_closed = exposure.cash_basis * closing // held_abs
    if closing == size:
        premium_closing, fee_closing = premium, fee
    else:
        premium_closing = premium * closing // size
        fee_closing = fee * closing // size
    realized = -(premium_closing + cost_closed) if buy else premium_closing - cost_closed
    exposure.realized_pnl += realized
    exposure.cost -= cost_closed
    exposure.cash_basis -= basis_closed
    exposure.size = held + (closing if buy else -closing)
    opening = size - closing
    if opening:
        premium_opening = premium - premium_closing
        fee_opening = fee - fee_closing
        exposure.size += opening if buy else -opening
        exposure.cost += premium_opening if buy else -premium_opening
        exposure.cash_basis += (
            premium_opening + fee_opening if buy else fee_opening - premium_opening
        )
    return realized
