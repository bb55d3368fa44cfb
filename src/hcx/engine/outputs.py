"""The engine's only output: one result and an ordered list of events per command.

Each class's ``TYPE`` is its protocol message type. Numbers are scaled integers (see
``numbers``); the protocol layer turns them into decimal strings. These classes are
treated as immutable once ``apply`` returns, but are not frozen: building them is on the
hot path. They are plain classes (see ``plain``) that mypyc compiles to native classes;
``FIELDS`` lists each one's fields in the order its constructor takes them.

Private events carry ``wallet`` (the only wallet allowed to see them); public events carry
``symbol`` or ``underlying``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from hcx.engine.plain import Value

OrderStatus = Literal["open", "partially_filled", "filled", "canceled", "rejected"]
AdminStatus = Literal["ok", "rejected"]
Liquidity = Literal["maker", "taker"]
InstrumentStatus = Literal["active", "halted", "expired", "settled"]

# A book level as (price, total size); size 0 removes the level.
Level = tuple[int, int]


# --- results -------------------------------------------------------------------------


class OrderResult(Value):
    """An order's state after the command. Fields other than ``request_id``, ``wallet``,
    ``status`` and ``seq`` are ``None`` when the command named no order that exists."""

    TYPE: ClassVar[str] = "OrderResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "order_id",
        "client_id",
        "wallet",
        "symbol",
        "side",
        "price",
        "size",
        "tif",
        "status",
        "filled_size",
        "reason",
        "mmp_triggered",
        "replaced_order_id",
        "ts",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        order_id: int | None,
        client_id: str | None,
        wallet: str,
        symbol: str | None,
        side: str | None,
        price: int | None,
        size: int | None,
        tif: str | None,
        status: OrderStatus,
        filled_size: int,
        reason: str | None,
        mmp_triggered: bool,
        replaced_order_id: int | None,
        ts: int,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.order_id = order_id
        self.client_id = client_id
        self.wallet = wallet
        self.symbol = symbol
        self.side = side
        self.price = price
        self.size = size
        self.tif = tif
        self.status = status
        self.filled_size = filled_size
        self.reason = reason
        self.mmp_triggered = mmp_triggered
        self.replaced_order_id = replaced_order_id
        self.ts = ts
        self.seq = seq


class CancelAllResult(Value):
    TYPE: ClassVar[str] = "CancelAllResult"
    FIELDS: ClassVar[tuple[str, ...]] = ("request_id", "wallet", "canceled", "seq")

    def __init__(
        self,
        request_id: str,
        wallet: str,
        canceled: list[int],
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.canceled = canceled
        self.seq = seq


class BalanceResult(Value):
    TYPE: ClassVar[str] = "BalanceResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "status",
        "reason",
        "total",
        "available",
        "reserved",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        status: AdminStatus,
        reason: str | None,
        total: int,
        available: int,
        reserved: int,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.status = status
        self.reason = reason
        self.total = total
        self.available = available
        self.reserved = reserved
        self.seq = seq


class AdminResult(Value):
    TYPE: ClassVar[str] = "AdminResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "command",
        "status",
        "reason",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        command: str,
        status: AdminStatus,
        reason: str | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.command = command
        self.status = status
        self.reason = reason
        self.seq = seq


class MmpResult(Value):
    TYPE: ClassVar[str] = "MmpResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "status",
        "reason",
        "underlying",
        "frozen_until_ms",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        status: AdminStatus,
        reason: str | None,
        underlying: str,
        frozen_until_ms: int | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.status = status
        self.reason = reason
        self.underlying = underlying
        self.frozen_until_ms = frozen_until_ms
        self.seq = seq


class RfqResult(Value):
    TYPE: ClassVar[str] = "RfqResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "rfq_id",
        "quote_id",
        "status",
        "fill_id",
        "reason",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        rfq_id: str,
        quote_id: str,
        status: Literal["filled", "rejected"],
        fill_id: int | None,
        reason: str | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.rfq_id = rfq_id
        self.quote_id = quote_id
        self.status = status
        self.fill_id = fill_id
        self.reason = reason
        self.seq = seq


class CancelAfterResult(Value):
    """``deadline_ms``: when the wallet's orders will be canceled unless renewed; absent
    when the switch is off."""

    TYPE: ClassVar[str] = "CancelAfterResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "status",
        "reason",
        "deadline_ms",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        status: AdminStatus,
        reason: str | None,
        deadline_ms: int | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.status = status
        self.reason = reason
        self.deadline_ms = deadline_ms
        self.seq = seq


Result = (
    OrderResult
    | CancelAllResult
    | BalanceResult
    | AdminResult
    | MmpResult
    | RfqResult
    | CancelAfterResult
)


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
