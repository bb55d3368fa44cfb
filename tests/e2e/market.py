"""The listed market the e2e tests trade, and small helpers around the client."""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal

from hcx.client import Client, OrderResult
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal

EXPIRY_MS = 1_924_905_600_000  # 2030-12-31
STRIKE = "3000"
SYMBOL = expected_symbol("BTC", EXPIRY_MS, parse_decimal(STRIKE), "call")
TICK = Decimal("0.1")
FUNDS = "1000000"
assert SYMBOL == "BTC-20301231-3000-C"
# ``CreateInstrument``'s wire fields for SYMBOL, for tests that speak the protocol directly.
LISTING = {
    "symbol": SYMBOL,
    "underlying": "BTC",
    "expiry_ms": EXPIRY_MS,
    "strike": STRIKE,
    "option": "call",
    "tick_size": str(TICK),
    "lot_size": "1",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def list_market(admin: Client, wallets: Iterable[str] = ("alice", "bob")) -> int:
    """List SYMBOL, publish the BTC index and fund ``wallets``; the last journal seq."""
    listed = await admin.create_instrument(SYMBOL, "BTC", EXPIRY_MS, STRIKE, "call", str(TICK), "1")
    assert listed.status == "ok", listed
    index = await admin.set_index_price("BTC", "3000")
    assert index.status == "ok", index
    seq = index.seq
    for wallet in wallets:
        funded = await admin.deposit(wallet, FUNDS)
        assert funded.status == "ok", funded
        seq = funded.seq
    return seq


def levels_from_orders(orders: Iterable[OrderResult]) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """Aggregate resting orders into book levels, like the engine's depth."""
    sides: dict[str, dict[Decimal, Decimal]] = {"buy": {}, "sell": {}}
    for order in orders:
        assert order.side is not None and order.price is not None
        side = sides[order.side]
        side[order.price] = side.get(order.price, Decimal(0)) + order.remaining
    return {
        "bids": sorted(sides["buy"].items(), reverse=True),
        "asks": sorted(sides["sell"].items()),
    }
