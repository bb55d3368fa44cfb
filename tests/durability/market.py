"""A small listed market and command builders shared by the durability tests."""

from __future__ import annotations

import time

from hcx.engine.commands import CreateInstrument, Deposit, PlaceOrder, SetIndexPrice
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal

EXPIRY_MS = 1_893_456_000_000  # 2030-01-01
SYMBOL = expected_symbol("BTC", EXPIRY_MS, parse_decimal("3000"), "call")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def listing() -> list[tuple[str, str, int, object]]:
    """Admin commands that list SYMBOL, set its index and fund alice and bob."""
    ts = now_ms()
    return [
        (
            "admin",
            "list",
            ts,
            CreateInstrument(
                SYMBOL,
                "BTC",
                EXPIRY_MS,
                parse_decimal("3000"),
                "call",
                parse_decimal("0.1"),
                parse_decimal("1"),
            ),
        ),
        ("admin", "index", ts, SetIndexPrice("BTC", parse_decimal("3000"))),
        ("admin", "fund-alice", ts, Deposit("alice", parse_decimal("1000000"))),
        ("admin", "fund-bob", ts, Deposit("bob", parse_decimal("1000000"))),
    ]


def order(side: str, price: str, size: str = "1") -> PlaceOrder:
    return PlaceOrder(SYMBOL, side, parse_decimal(price), parse_decimal(size))  # type: ignore[arg-type]
