"""Engine results, events and read answers as wire messages: decimal strings out, ``None``
left out. Builds shapes only; never reads the engine or sends anything.

Each output class is converted by a plan built once from its fields: which fields
are decimal amounts, which are dropped (the ``wallet`` on private messages is implied by
the connection, except on order messages where the protocol shows it), and how the
protocol names differ (a book update's ``seq`` is its ``book_seq``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hcx.engine.numbers import format_decimal
from hcx.engine.outputs import (
    AdminResult,
    Balance,
    BalanceResult,
    BookUpdate,
    CancelAfterResult,
    CancelAllResult,
    Fill,
    InstrumentUpdate,
    Level,
    MmpResult,
    OrderUpdate,
    Position,
    PositionExpired,
    RfqResult,
)
from hcx.engine.plain import field_names

DECIMAL_FIELDS = frozenset(
    {
        "price",
        "size",
        "filled_size",
        "fee",
        "realized_pnl",
        "total",
        "available",
        "reserved",
        "entry_price",
        "strike",
        "tick_size",
        "lot_size",
        "multiplier",
        "settlement_price",
        "settlement_value",
        "pnl",
        "amount",
        "net_premium",
        "vol",
    }
)
_DROP: dict[type, frozenset[str]] = {
    Fill: frozenset({"wallet", "rfq_id", "quote_id"}),
    PositionExpired: frozenset({"wallet"}),
    MmpResult: frozenset({"wallet"}),
    RfqResult: frozenset({"wallet"}),
    Balance: frozenset({"wallet"}),
    Position: frozenset({"wallet"}),
    AdminResult: frozenset({"wallet"}),
    CancelAllResult: frozenset({"wallet"}),
    CancelAfterResult: frozenset({"wallet"}),
}
_RENAME: dict[type, dict[str, str]] = {BookUpdate: {"book_seq": "seq", "seq": "journal_seq"}}

Plan = list[tuple[str, str, bool]]
_PLANS: dict[type, Plan] = {}
_CONVERTERS: dict[type, Callable[[Any], dict[str, Any]]] = {}
_BOOK_SOURCE = {"type": "book"}


def levels(entries: list[Level]) -> list[list[str]]:
    return [[format_decimal(price), format_decimal(size)] for price, size in entries]


def _plan(cls: type) -> Plan:
    drop = _DROP.get(cls, frozenset())
    rename = _RENAME.get(cls, {})
    return [
        (name, rename.get(name, name), name in DECIMAL_FIELDS)
        for name in field_names(cls)
        if name not in drop
    ]


def _converter(cls: type) -> Callable[[Any], dict[str, Any]]:
    """``cls``'s plan compiled into straight-line code: one attribute read and one test
    per field, no loop and no per-field tuple unpacking (a ``BulkResult`` converts 50
    results). ``plain_to_wire`` is the same plan interpreted, the reference it is tested
    against."""
    lines = ["def convert(obj):", f"    out = {{'type': {cls.TYPE!r}}}"]  # type: ignore[attr-defined]
    for name, wire_name, is_decimal in _plan(cls):
        lines.append(f"    value = obj.{name}")
        value = "fmt(value)" if is_decimal else "value"
        lines.append(f"    if value is not None: out[{wire_name!r}] = {value}")
    if cls in _SPECIAL:
        lines.append("    special(obj, out)")
    lines.append("    return out")
    namespace: dict[str, Any] = {"fmt": format_decimal, "special": _SPECIAL.get(cls)}
    # The source is built from the classes' field names only, never from input.
    exec("\n".join(lines), namespace)
    convert: Callable[[Any], dict[str, Any]] = namespace["convert"]
    return convert


def to_wire(obj: Any) -> dict[str, Any]:
    convert = _CONVERTERS.get(type(obj))
    if convert is None:
        convert = _CONVERTERS[type(obj)] = _converter(type(obj))
    return convert(obj)


def plain_to_wire(obj: Any) -> dict[str, Any]:
    cls = type(obj)
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _plan(cls)
    out: dict[str, Any] = {"type": cls.TYPE}
    for name, wire_name, is_decimal in plan:
        value = getattr(obj, name)
        if value is None:
            continue
        out[wire_name] = format_decimal(value) if is_decimal else value
    special = _SPECIAL.get(cls)
    if special is not None:
        special(obj, out)
    return out


def _book(obj: BookUpdate, out: dict[str, Any]) -> None:
    out["bids"] = levels(obj.bids)
    out["asks"] = levels(obj.asks)


def _fill(obj: Fill, out: dict[str, Any]) -> None:
    if obj.rfq_id is None:
        out["source"] = _BOOK_SOURCE
    else:
        out["source"] = {"type": "rfq", "rfq_id": obj.rfq_id, "quote_id": obj.quote_id}


def _balance_result(obj: BalanceResult, out: dict[str, Any]) -> None:
    out["balance"] = {
        "total": out.pop("total"),
        "available": out.pop("available"),
        "reserved": out.pop("reserved"),
    }
    out.pop("wallet", None)


_SPECIAL: dict[type, Callable[[Any, dict[str, Any]], None]] = {
    BookUpdate: _book,
    Fill: _fill,
    BalanceResult: _balance_result,
}


# --- answers to reads (built from what a read took from the engine) ---------------------


def order_message(order: OrderUpdate) -> dict[str, Any]:
    """``GetOrder``'s answer: one order, open or recently closed."""
    return {**to_wire(order), "type": "Order"}


def open_orders_message(orders: Iterable[OrderUpdate], seq: int) -> dict[str, Any]:
    return {
        "type": "OpenOrders",
        "orders": [{**to_wire(o), "type": "OrderResult"} for o in orders],
        "seq": seq,
    }


def instruments_message(instruments: Iterable[InstrumentUpdate]) -> dict[str, Any]:
    return {"type": "Instruments", "instruments": [to_wire(i) for i in instruments]}


def portfolio_message(
    wallet: str, balance: Balance, positions: Iterable[Position], seq: int
) -> dict[str, Any]:
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
            for p in positions
        ],
        "seq": seq,
    }


def book_snapshot_message(
    symbol: str, book_seq: int, bids: list[Level], asks: list[Level]
) -> dict[str, Any]:
    return {
        "type": "BookSnapshot",
        "symbol": symbol,
        "seq": book_seq,
        "bids": levels(bids),
        "asks": levels(asks),
    }
