"""The engine's only output: one result and an ordered list of events per command.

Each class's ``TYPE`` is its protocol message type. Numbers are scaled integers (see
``numbers``); the protocol layer turns them into decimal strings. These classes are
treated as immutable once ``apply`` returns, but are not attrs-frozen: building them is
on the hot path and frozen attrs construction costs three times as much here.

Private events carry ``wallet`` (the only wallet allowed to see them); public events carry
``symbol`` or ``underlying``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import attrs

OrderStatus = Literal["open", "partially_filled", "filled", "canceled", "rejected"]
AdminStatus = Literal["ok", "rejected"]
Liquidity = Literal["maker", "taker"]
InstrumentStatus = Literal["active", "halted", "expired", "settled"]

# A book level as (price, total size); size 0 removes the level.
Level = tuple[int, int]


# --- results -------------------------------------------------------------------------


@attrs.define(slots=True)
class OrderResult:
    """An order's state after the command. Fields other than ``request_id``, ``wallet``,
    ``status`` and ``seq`` are ``None`` when the command named no order that exists."""

    TYPE: ClassVar[str] = "OrderResult"
    request_id: str
    order_id: int | None
    client_id: str | None
    wallet: str
    symbol: str | None
    side: str | None
    price: int | None
    size: int | None
    tif: str | None
    status: OrderStatus
    filled_size: int
    reason: str | None
    mmp_triggered: bool
    replaced_order_id: int | None
    ts: int
    seq: int


@attrs.define(slots=True)
class CancelAllResult:
    TYPE: ClassVar[str] = "CancelAllResult"
    request_id: str
    wallet: str
    canceled: list[int]
    seq: int


@attrs.define(slots=True)
class BalanceResult:
    TYPE: ClassVar[str] = "BalanceResult"
    request_id: str
    wallet: str
    status: AdminStatus
    reason: str | None
    total: int
    available: int
    reserved: int
    seq: int


@attrs.define(slots=True)
class AdminResult:
    TYPE: ClassVar[str] = "AdminResult"
    request_id: str
    wallet: str
    command: str
    status: AdminStatus
    reason: str | None
    seq: int


@attrs.define(slots=True)
class MmpResult:
    TYPE: ClassVar[str] = "MmpResult"
    request_id: str
    wallet: str
    status: AdminStatus
    reason: str | None
    underlying: str
    frozen_until_ms: int | None
    seq: int


@attrs.define(slots=True)
class RfqResult:
    TYPE: ClassVar[str] = "RfqResult"
    request_id: str
    wallet: str
    rfq_id: str
    quote_id: str
    status: Literal["filled", "rejected"]
    fill_id: int | None
    reason: str | None
    seq: int


@attrs.define(slots=True)
class CancelAfterResult:
    """``deadline_ms``: when the wallet's orders will be canceled unless renewed; absent
    when the switch is off."""

    TYPE: ClassVar[str] = "CancelAfterResult"
    request_id: str
    wallet: str
    status: AdminStatus
    reason: str | None
    deadline_ms: int | None
    seq: int


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


@attrs.define(slots=True)
class OrderUpdate(OrderResult):
    """An own order changed; ``request_id`` is that of the command that placed it."""

    TYPE: ClassVar[str] = "OrderUpdate"


@attrs.define(slots=True)
class Fill:
    TYPE: ClassVar[str] = "Fill"
    wallet: str
    fill_id: int
    trade_id: int
    order_id: int | None
    symbol: str
    side: str
    price: int
    size: int
    fee: int
    liquidity: Liquidity
    realized_pnl: int
    ts: int
    seq: int
    # Set on fills of an executed RFQ quote; None for fills from the book.
    rfq_id: str | None = None
    quote_id: str | None = None


@attrs.define(slots=True)
class Balance:
    TYPE: ClassVar[str] = "Balance"
    wallet: str
    total: int
    available: int
    reserved: int
    seq: int


@attrs.define(slots=True)
class Position:
    """``size`` is signed; ``entry_price`` is the average open price per contract."""

    TYPE: ClassVar[str] = "Position"
    wallet: str
    symbol: str
    size: int
    entry_price: int
    realized_pnl: int
    seq: int


@attrs.define(slots=True)
class PositionExpired:
    """A position cash-settled: ``settlement_value`` is the signed cash the holder got
    (paid, if negative); ``pnl`` is that value minus the position's cost."""

    TYPE: ClassVar[str] = "PositionExpired"
    wallet: str
    symbol: str
    size: int
    settlement_price: int
    settlement_value: int
    pnl: int
    seq: int


# --- public events ---------------------------------------------------------------------


@attrs.define(slots=True)
class Trade:
    TYPE: ClassVar[str] = "Trade"
    symbol: str
    trade_id: int
    price: int
    size: int
    taker_side: str
    ts: int
    seq: int


@attrs.define(slots=True)
class BookUpdate:
    """Changed levels of one book; ``book_seq`` rises by exactly one per update of a
    symbol (the protocol's ``seq`` on book messages); ``seq`` is the journal's."""

    TYPE: ClassVar[str] = "BookUpdate"
    symbol: str
    book_seq: int
    bids: list[Level]
    asks: list[Level]
    seq: int


@attrs.define(slots=True)
class InstrumentUpdate:
    TYPE: ClassVar[str] = "Instrument"
    symbol: str
    underlying: str
    expiry_ms: int
    strike: int
    option: str
    tick_size: int
    lot_size: int
    multiplier: int
    maker_fee_bps: int
    taker_fee_bps: int
    status: InstrumentStatus
    seq: int


@attrs.define(slots=True)
class IndexPrice:
    TYPE: ClassVar[str] = "IndexPrice"
    underlying: str
    price: int
    ts: int
    seq: int


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


@attrs.define(slots=True)
class Output:
    """Everything one command produced, in the order it happened."""

    result: Result
    events: list[Event]
