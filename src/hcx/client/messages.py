"""Server messages as typed, frozen values: decimal strings become ``Decimal``.

``parse_message`` turns one decoded wire object into the class named by its ``type``;
keys a class does not know are ignored (the protocol allows extensions), and a type the
client does not know comes back as ``UnknownMessage`` rather than failing. Nothing here
does I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, TypeVar

import attrs

from hcx.client.errors import HcxError

Side = Literal["buy", "sell"]
TimeInForce = Literal["gtc", "ioc", "fok"]
SelfTradePrevention = Literal["cancel_maker", "cancel_taker", "cancel_both"]
OptionKind = Literal["call", "put"]
Level = tuple[Decimal, Decimal]

T = TypeVar("T")


def _dec(value: str) -> Decimal:
    return Decimal(value)


def _opt_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _levels(value: list[list[str]]) -> tuple[Level, ...]:
    return tuple((Decimal(price), Decimal(size)) for price, size in value)


def _ints(value: list[int]) -> tuple[int, ...]:
    return tuple(value)


# --- session ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Authenticated:
    wallet: str
    role: str


@attrs.frozen(kw_only=True)
class Pong:
    server_ms: int


@attrs.frozen(kw_only=True)
class Subscribed:
    channel: str
    symbol: str | None = None


@attrs.frozen(kw_only=True)
class Unsubscribed:
    channel: str
    symbol: str | None = None


# --- results ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrderState:
    """An order as the server reports it (the fields of ``OrderResult``). Fields other
    than ``request_id``, ``wallet``, ``status`` and ``seq`` are ``None`` when the command
    named no order that exists."""

    request_id: str
    order_id: int | None = None
    client_id: str | None = None
    wallet: str
    symbol: str | None = None
    side: Side | None = None
    price: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    size: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    tif: TimeInForce | None = None
    status: Literal["open", "partially_filled", "filled", "canceled", "rejected"]
    filled_size: Decimal = attrs.field(converter=_dec)
    reason: str | None = None
    mmp_triggered: bool = False
    replaced_order_id: int | None = None
    ts: int
    seq: int

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    @property
    def remaining(self) -> Decimal:
        return (self.size or Decimal(0)) - self.filled_size


@attrs.frozen(kw_only=True)
class OrderResult(OrderState):
    """The answer to ``PlaceOrder``, ``CancelOrder`` and ``ReplaceOrder``."""


@attrs.frozen(kw_only=True)
class OrderUpdate(OrderState):
    """An own order changed (``orders`` channel)."""


@attrs.frozen(kw_only=True)
class Order(OrderState):
    """The answer to ``GetOrder``."""


@attrs.frozen(kw_only=True)
class CancelAllResult:
    request_id: str
    canceled: tuple[int, ...] = attrs.field(converter=_ints)
    seq: int


@attrs.frozen(kw_only=True)
class Amounts:
    """A balance: ``available`` = ``total`` - ``reserved``."""

    total: Decimal = attrs.field(converter=_dec)
    available: Decimal = attrs.field(converter=_dec)
    reserved: Decimal = attrs.field(converter=_dec)


def _amounts(value: dict[str, str]) -> Amounts:
    return Amounts(total=value["total"], available=value["available"], reserved=value["reserved"])


@attrs.frozen(kw_only=True)
class BalanceResult:
    request_id: str
    status: Literal["ok", "rejected"]
    reason: str | None = None
    balance: Amounts = attrs.field(converter=_amounts)
    seq: int


@attrs.frozen(kw_only=True)
class AdminResult:
    request_id: str
    command: str
    status: Literal["ok", "rejected"]
    reason: str | None = None
    seq: int


@attrs.frozen(kw_only=True)
class CancelAfterResult:
    """The dead-man's switch: ``deadline_ms`` is when the wallet's orders are canceled
    unless renewed (None: the switch is off)."""

    request_id: str
    status: Literal["ok", "rejected"]
    reason: str | None = None
    deadline_ms: int | None = None
    seq: int


@attrs.frozen(kw_only=True)
class MmpResult:
    request_id: str
    status: Literal["ok", "rejected"]
    reason: str | None = None
    underlying: str
    frozen_until_ms: int | None = None
    seq: int


@attrs.frozen(kw_only=True)
class RfqResult:
    request_id: str
    rfq_id: str
    quote_id: str
    status: Literal["filled", "rejected"]
    fill_id: int | None = None
    reason: str | None = None
    seq: int


def _bulk_results(value: list[dict[str, Any]]) -> tuple[OrderResult | HcxError, ...]:
    out: list[OrderResult | HcxError] = []
    for item in value:
        if item.get("type") == "Error":
            out.append(HcxError.from_wire(item))
        else:
            out.append(build(OrderResult, item))
    return tuple(out)


@attrs.frozen(kw_only=True)
class BulkResult:
    """One entry per item of the ``BulkOrders``, in order: its ``OrderResult`` or, for an
    item that failed on its own, its ``HcxError``."""

    id: int | str | None = None
    request_id: str | None = None
    results: tuple[OrderResult | HcxError, ...] = attrs.field(converter=_bulk_results)


# --- queries ---------------------------------------------------------------------------


def _orders(value: list[dict[str, Any]]) -> tuple[OrderResult, ...]:
    return tuple(build(OrderResult, item) for item in value)


@attrs.frozen(kw_only=True)
class OpenOrders:
    orders: tuple[OrderResult, ...] = attrs.field(converter=_orders)
    seq: int


@attrs.frozen(kw_only=True)
class PortfolioPosition:
    symbol: str
    size: Decimal = attrs.field(converter=_dec)
    entry_price: Decimal = attrs.field(converter=_dec)
    realized_pnl: Decimal = attrs.field(converter=_dec)


def _positions(value: list[dict[str, Any]]) -> tuple[PortfolioPosition, ...]:
    return tuple(build(PortfolioPosition, item) for item in value)


@attrs.frozen(kw_only=True)
class Portfolio:
    wallet: str
    balance: Amounts = attrs.field(converter=_amounts)
    positions: tuple[PortfolioPosition, ...] = attrs.field(converter=_positions)
    seq: int


@attrs.frozen(kw_only=True)
class Instrument:
    symbol: str
    underlying: str
    expiry_ms: int
    strike: Decimal = attrs.field(converter=_dec)
    option: OptionKind
    tick_size: Decimal = attrs.field(converter=_dec)
    lot_size: Decimal = attrs.field(converter=_dec)
    multiplier: Decimal = attrs.field(converter=_dec)
    maker_fee_bps: int
    taker_fee_bps: int
    status: Literal["active", "halted", "expired", "settled"]
    seq: int | None = None


def _instruments(value: list[dict[str, Any]]) -> tuple[Instrument, ...]:
    return tuple(build(Instrument, item) for item in value)


@attrs.frozen(kw_only=True)
class Instruments:
    instruments: tuple[Instrument, ...] = attrs.field(converter=_instruments)


# --- public channels -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class IndexPrice:
    underlying: str
    price: Decimal = attrs.field(converter=_dec)
    ts: int
    seq: int | None = None


@attrs.frozen(kw_only=True)
class Trade:
    symbol: str
    trade_id: int
    price: Decimal = attrs.field(converter=_dec)
    size: Decimal = attrs.field(converter=_dec)
    taker_side: Side
    ts: int
    seq: int  # the trade's number among its symbol's trades: 1, 2, 3 …
    journal_seq: int | None = None  # the journal seq of the command that traded


def _trades(value: list[dict[str, Any]]) -> tuple[Trade, ...]:
    return tuple(build(Trade, item) for item in value)


@attrs.frozen(kw_only=True)
class Trades:
    """``GetTrades``' answer: a page of ``symbol``'s trades, oldest first."""

    symbol: str
    trades: tuple[Trade, ...] = attrs.field(converter=_trades)


@attrs.frozen(kw_only=True)
class BookSnapshot:
    symbol: str
    seq: int
    bids: tuple[Level, ...] = attrs.field(converter=_levels)
    asks: tuple[Level, ...] = attrs.field(converter=_levels)


@attrs.frozen(kw_only=True)
class BookUpdate:
    """Changed levels; a size of 0 removes the level. ``seq`` is the book's own
    sequence (``journal_seq``, a server extension, is the journal's)."""

    symbol: str
    seq: int
    bids: tuple[Level, ...] = attrs.field(converter=_levels)
    asks: tuple[Level, ...] = attrs.field(converter=_levels)
    journal_seq: int | None = None


# --- private channels ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FillSource:
    type: str
    rfq_id: str | None = None
    quote_id: str | None = None


def _source(value: dict[str, Any]) -> FillSource:
    return build(FillSource, value)


@attrs.frozen(kw_only=True)
class Fill:
    fill_id: int
    trade_id: int
    order_id: int | None = None
    symbol: str
    side: Side
    price: Decimal = attrs.field(converter=_dec)
    size: Decimal = attrs.field(converter=_dec)
    fee: Decimal = attrs.field(converter=_dec)
    liquidity: Literal["maker", "taker"]
    realized_pnl: Decimal = attrs.field(converter=_dec)
    source: FillSource = attrs.field(converter=_source)
    ts: int
    seq: int


@attrs.frozen(kw_only=True)
class Balance:
    total: Decimal = attrs.field(converter=_dec)
    available: Decimal = attrs.field(converter=_dec)
    reserved: Decimal = attrs.field(converter=_dec)
    seq: int


@attrs.frozen(kw_only=True)
class Position:
    symbol: str
    size: Decimal = attrs.field(converter=_dec)
    entry_price: Decimal = attrs.field(converter=_dec)
    realized_pnl: Decimal = attrs.field(converter=_dec)
    seq: int


@attrs.frozen(kw_only=True)
class PositionExpired:
    symbol: str
    size: Decimal = attrs.field(converter=_dec)
    settlement_price: Decimal = attrs.field(converter=_dec)
    settlement_value: Decimal = attrs.field(converter=_dec)
    pnl: Decimal = attrs.field(converter=_dec)
    seq: int


# --- RFQ -------------------------------------------------------------------------------


def _amount(value: Decimal | str | int) -> Decimal:
    if isinstance(value, (bool, float)):
        raise TypeError(f"use Decimal or str for amounts, not {type(value).__name__}")
    return Decimal(value)


@attrs.frozen(kw_only=True)
class RfqLeg:
    """One leg of a request for quote, from the taker's side."""

    symbol: str
    side: Side
    size: Decimal = attrs.field(converter=_amount)


@attrs.frozen(kw_only=True)
class QuoteLeg:
    """One priced leg of a quote. In ``Client.quote`` the side is the quoter's own (it
    sells what the taker asked to buy); in an ``RfqQuote`` it is the taker's."""

    symbol: str
    side: Side
    size: Decimal = attrs.field(converter=_amount)
    price: Decimal = attrs.field(converter=_amount)


def _rfq_legs(value: list[dict[str, Any]]) -> tuple[RfqLeg, ...]:
    return tuple(build(RfqLeg, item) for item in value)


def _quote_legs(value: list[dict[str, Any]]) -> tuple[QuoteLeg, ...]:
    return tuple(build(QuoteLeg, item) for item in value)


@attrs.frozen(kw_only=True)
class RfqOpened:
    """The answer to ``RequestQuote``."""

    rfq_id: str


@attrs.frozen(kw_only=True)
class QuoteAck:
    """The answer to ``Quote``: the quote is live until its ``expires_ms``."""

    rfq_id: str
    quote_id: str


@attrs.frozen(kw_only=True)
class RfqRequest:
    """An open RFQ (``rfq`` channel, quoters only); the taker is not named."""

    rfq_id: str
    legs: tuple[RfqLeg, ...] = attrs.field(converter=_rfq_legs)
    expires_ms: int


@attrs.frozen(kw_only=True)
class RfqQuote:
    """A quote on one's own RFQ (``rfq`` channel): legs from the taker's side and
    ``net_premium``, what accepting would pay (negative: receive), fees excluded."""

    rfq_id: str
    quote_id: str
    legs: tuple[QuoteLeg, ...] = attrs.field(converter=_quote_legs)
    net_premium: Decimal = attrs.field(converter=_dec)
    expires_ms: int


@attrs.frozen(kw_only=True)
class UnknownMessage:
    """A message type this client does not know (a newer server); ``data`` is the raw
    object."""

    type: str
    data: dict[str, Any] = attrs.field(eq=False, hash=False)


CommandResult = OrderResult | CancelAllResult | BalanceResult | AdminResult | MmpResult | RfqResult
PrivateMessage = OrderUpdate | Fill | Balance | Position | PositionExpired
RfqMessage = RfqRequest | RfqQuote

MESSAGE_TYPES: dict[str, type] = {
    "Authenticated": Authenticated,
    "Pong": Pong,
    "Subscribed": Subscribed,
    "Unsubscribed": Unsubscribed,
    "OrderResult": OrderResult,
    "OrderUpdate": OrderUpdate,
    "Order": Order,
    "CancelAllResult": CancelAllResult,
    "BalanceResult": BalanceResult,
    "AdminResult": AdminResult,
    "MmpResult": MmpResult,
    "CancelAfterResult": CancelAfterResult,
    "RfqResult": RfqResult,
    "BulkResult": BulkResult,
    "OpenOrders": OpenOrders,
    "Portfolio": Portfolio,
    "Instruments": Instruments,
    "Instrument": Instrument,
    "IndexPrice": IndexPrice,
    "Trade": Trade,
    "Trades": Trades,
    "BookSnapshot": BookSnapshot,
    "BookUpdate": BookUpdate,
    "Fill": Fill,
    "Balance": Balance,
    "Position": Position,
    "PositionExpired": PositionExpired,
    "RfqOpened": RfqOpened,
    "QuoteAck": QuoteAck,
    "RfqRequest": RfqRequest,
    "RfqQuote": RfqQuote,
}
RESULT_TYPES = frozenset(
    {
        "OrderResult",
        "CancelAllResult",
        "BalanceResult",
        "AdminResult",
        "MmpResult",
        "CancelAfterResult",
        "RfqResult",
    }
)
_FIELDS: dict[type, frozenset[str]] = {}


def build(cls: type[T], message: dict[str, Any]) -> T:
    """``cls`` from the keys of ``message`` it knows; other keys are ignored."""
    names = _FIELDS.get(cls)
    if names is None:
        attrs_class: Any = cls
        names = _FIELDS[cls] = frozenset(a.name for a in attrs.fields(attrs_class))
    return cls(**{key: value for key, value in message.items() if key in names})


def parse_message(message: dict[str, Any]) -> Any:
    """The typed form of one decoded server message; ``Error`` becomes an ``HcxError``
    instance (returned, not raised). Raises ``ValueError`` if the message does not have
    the shape its type promises."""
    kind = message.get("type")
    if kind == "Error":
        return HcxError.from_wire(message)
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return UnknownMessage(type=str(kind), data=message)
    try:
        return build(cls, message)
    except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
        raise ValueError(f"malformed {kind} message: {exc!r}") from None
