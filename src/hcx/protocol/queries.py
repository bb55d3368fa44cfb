"""Answers to reads, as wire objects: open orders, a portfolio, the instruments.

Shared by the gateway and the in-process simulator so that both answer a query with the
same message; each takes the engine and never changes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hcx.engine import Engine
from hcx.engine.numbers import format_decimal
from hcx.protocol.messages import to_wire


def instruments(engine: Engine) -> dict[str, Any]:
    return {
        "type": "Instruments",
        "instruments": [to_wire(i) for i in engine.instruments()],
    }


def open_orders(wallet: str, symbol: str | None) -> Callable[[Engine], dict[str, Any]]:
    def read(engine: Engine) -> dict[str, Any]:
        orders = engine.open_orders(wallet, symbol)
        return {
            "type": "OpenOrders",
            "orders": [{**to_wire(o), "type": "OrderResult"} for o in orders],
            "seq": engine.last_seq,
        }

    return read


def portfolio(wallet: str) -> Callable[[Engine], dict[str, Any]]:
    def read(engine: Engine) -> dict[str, Any]:
        balance = engine.balance(wallet)
        return {
            "type": "Portfolio",
            "wallet": wallet,
            "balance": {
                "total": format_decimal(balance.total),
                "available": format_decimal(balance.available),
                "reserved": format_decimal(balance.reserved),
            },
            "positions": [
                {
                    "symbol": p.symbol,
                    "size": format_decimal(p.size),
                    "entry_price": format_decimal(p.entry_price),
                    "realized_pnl": format_decimal(p.realized_pnl),
                }
                for p in engine.positions(wallet)
            ],
            "seq": engine.last_seq,
        }

    return read
