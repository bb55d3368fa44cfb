"""The engine's only output: one result and an ordered list of events per command.

Each class's ``TYPE`` is its protocol message type. Numbers are scaled integers (see
``numbers``); the protocol layer turns them into decimal strings. These classes are
treated as immutable once ``apply`` returns, but are not frozen: building them is on the
hot path. They are plain classes (see ``plain``) that mypyc compiles to native classes;
``FIELDS`` lists each one's fields in the order its constructor takes them, and
``values()`` gives them in that order (the journal record is built from it). The results
live in ``results`` and are re-exported here.

Private events carry ``wallet`` (the only wallet allowed to see them); public events carry
``symbol`` or ``underlying``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from hcx.engine.plain import Value
from hcx.engine.results import (
    AdminResult,
    AdminStatus,
    BalanceResult,
    CancelAfterResult,
    CancelAllResult,
    MmpResult,
    OrderResult,
    OrderStatus,
    Result,
    RfqResult,
)

__all__ = [
    "PRIVATE_EVENTS",
    "AdminResult",
    "AdminStatus",
    "Balance",
    "BalanceResult",
    "BookUpdate",
    "CancelAfterResult",
    "CancelAllResult",
    "Event",
    "Fill",
    "IndexPrice",
    "InstrumentStatus",
    "InstrumentUpdate",
    "Level",
    "Liquidity",
    "MmpResult",
    "OrderResult",
    "OrderStatus",
    "OrderUpdate",
    "Output",
    "Position",
    "PositionExpired",
    "Result",
    "RfqResult",
    "Trade",
]
Liquidity = Literal["maker", "taker"]
InstrumentStatus = Literal["active", "halted", "expired", "settled"]

# A book level as (price, total size); size 0 removes the level.
Level = tuple[int, int]


# --- private events --------------------------------------------------------------------


class OrderUpdate(OrderResult):
    """An own order changed; ``request_id`` is that of the command that placed it."""

    TYPE: ClassVar[str] = "OrderUpdate"


class Fill(Value):
    TYPE: ClassVar[str] = "Fill"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "wallet",
        "fill_id",
        "trade_id",
        "order_id",
        "symbol",
        "side",
        "price",
        "size",
        "fee",
        "liquidity",
        "realized_pnl",
        "ts",
        "seq",
        "rfq_id",
        "quote_id",
    )

    def __init__(
        self,
        wallet: str,
        fill_id: int,
        trade_id: int,
        order_id: int | None,
        symbol: str,
        side: str,
        price: int,
        size: int,
        fee: int,
        liquidity: Liquidity,
        realized_pnl: int,
        ts: int,
        seq: int,
        rfq_id: str | None = None,
        quote_id: str | None = None,
    ) -> None:
        self.wallet = wallet
        self.fill_id = fill_id
        self.trade_id = trade_id
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.price = price
        self.size = size
        self.fee = fee
        self.liquidity = liquidity
        self.realized_pnl = realized_pnl
        self.ts = ts
        self.seq = seq
        self.rfq_id = rfq_id
        self.quote_id = quote_id

    def values(self) -> tuple[Any, ...]:
        return (
            self.wallet,
            self.fill_id,
            self.trade_id,
            self.order_id,
            self.symbol,
            self.side,
            self.price,
            self.size,
            self.fee,
            self.liquidity,
            self.realized_pnl,
            self.ts,
            self.seq,
            self.rfq_id,
            self.quote_id,
        )


class Balance(Value):
    TYPE: ClassVar[str] = "Balance"
    FIELDS: ClassVar[tuple[str, ...]] = ("wallet", "total", "available", "reserved", "seq")

    def __init__(
        self,
        wallet: str,
        total: int,
        available: int,
        reserved: int,
        seq: int,
    ) -> None:
        self.wallet = wallet
        self.total = total
        self.available = available
        self.reserved = reserved
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.wallet,
            self.total,
            self.available,
            self.reserved,
            self.seq,
        )


class Position(Value):
    """``size`` is signed; ``entry_price`` is the average open price per contract."""

    TYPE: ClassVar[str] = "Position"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "wallet",
        "symbol",
        "size",
        "entry_price",
        "realized_pnl",
        "seq",
    )

    def __init__(
        self,
        wallet: str,
        symbol: str,
        size: int,
        entry_price: int,
        realized_pnl: int,
        seq: int,
    ) -> None:
        self.wallet = wallet
        self.symbol = symbol
        self.size = size
        self.entry_price = entry_price
        self.realized_pnl = realized_pnl
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.wallet,
            self.symbol,
            self.size,
            self.entry_price,
            self.realized_pnl,
            self.seq,
        )


class PositionExpired(Value):
    """A position cash-settled: ``settlement_value`` is the signed cash the holder got
    (paid, if negative); ``pnl`` is that value minus the position's cost."""

    TYPE: ClassVar[str] = "PositionExpired"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "wallet",
        "symbol",
        "size",
        "settlement_price",
        "settlement_value",
        "pnl",
        "seq",
    )

    def __init__(
        self,
        wallet: str,
        symbol: str,
        size: int,
        settlement_price: int,
        settlement_value: int,
        pnl: int,
        seq: int,
    ) -> None:
        self.wallet = wallet
        self.symbol = symbol
        self.size = size
        self.settlement_price = settlement_price
        self.settlement_value = settlement_value
        self.pnl = pnl
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.wallet,
            self.symbol,
            self.size,
            self.settlement_price,
            self.settlement_value,
            self.pnl,
            self.seq,
        )


# --- public events ---------------------------------------------------------------------


class Trade(Value):
    TYPE: ClassVar[str] = "Trade"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "trade_id",
        "price",
        "size",
        "taker_side",
        "ts",
        "seq",
    )

    def __init__(
        self,
        symbol: str,
        trade_id: int,
        price: int,
        size: int,
        taker_side: str,
        ts: int,
        seq: int,
    ) -> None:
        self.symbol = symbol
        self.trade_id = trade_id
        self.price = price
        self.size = size
        self.taker_side = taker_side
        self.ts = ts
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.trade_id,
            self.price,
            self.size,
            self.taker_side,
            self.ts,
            self.seq,
        )


class BookUpdate(Value):
    """Changed levels of one book; ``book_seq`` rises by exactly one per update of a
    symbol (the protocol's ``seq`` on book messages); ``seq`` is the journal's."""

    TYPE: ClassVar[str] = "BookUpdate"
    FIELDS: ClassVar[tuple[str, ...]] = ("symbol", "book_seq", "bids", "asks", "seq")

    def __init__(
        self,
        symbol: str,
        book_seq: int,
        bids: list[Level],
        asks: list[Level],
        seq: int,
    ) -> None:
        self.symbol = symbol
        self.book_seq = book_seq
        self.bids = bids
        self.asks = asks
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.book_seq,
            self.bids,
            self.asks,
            self.seq,
        )


class InstrumentUpdate(Value):
    TYPE: ClassVar[str] = "Instrument"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "underlying",
        "expiry_ms",
        "strike",
        "option",
        "tick_size",
        "lot_size",
        "multiplier",
        "maker_fee_bps",
        "taker_fee_bps",
        "status",
        "seq",
    )

    def __init__(
        self,
        symbol: str,
        underlying: str,
        expiry_ms: int,
        strike: int,
        option: str,
        tick_size: int,
        lot_size: int,
        multiplier: int,
        maker_fee_bps: int,
        taker_fee_bps: int,
        status: InstrumentStatus,
        seq: int,
    ) -> None:
        self.symbol = symbol
        self.underlying = underlying
        self.expiry_ms = expiry_ms
        self.strike = strike
        self.option = option
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.multiplier = multiplier
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps
        self.status = status
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.underlying,
            self.expiry_ms,
            self.strike,
            self.option,
            self.tick_size,
            self.lot_size,
            self.multiplier,
            self.maker_fee_bps,
            self.taker_fee_bps,
            self.status,
            self.seq,
        )


class IndexPrice(Value):
    TYPE: ClassVar[str] = "IndexPrice"
    FIELDS: ClassVar[tuple[str, ...]] = ("underlying", "price", "ts", "seq")

    def __init__(
        self,
        underlying: str,
        price: int,
        ts: int,
        seq: int,
    ) -> None:
        self.underlying = underlying
        self.price = price
        self.ts = ts
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.underlying,
            self.price,
            self.ts,
            self.seq,
        )


Event = (
    OrderUpdate
    | Fill
    | Balance
    | Position
    | PositionExpired
    | Trade
    | BookUpdate
    | InstrumentUpdate
    | IndexPrice
)

PRIVATE_EVENTS: tuple[type[Event], ...] = (OrderUpdate, Fill, Balance, Position, PositionExpired)


class Output(Value):
    """Everything one command produced, in the order it happened."""

    FIELDS: ClassVar[tuple[str, ...]] = ("result", "events")

    def __init__(self, result: Result, events: list[Event]) -> None:
        self.result = result
        self.events = events
