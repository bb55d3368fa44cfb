"""Outgoing commands as values: what to send, with its idempotency key already fixed.

Each request is built once with its ``request_id`` (a fresh UUID4 unless given) and its
``ts`` (now, in ms, unless given) and keeps them: a retry after a reconnect sends exactly
the same object, which the server answers with the stored result instead of executing it
again. ``PlaceOrderRequest``, ``CancelOrderRequest`` and ``ReplaceOrderRequest`` are also
the items of ``Client.bulk_orders``.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from hcx.client.messages import (
    AdminResult,
    BalanceResult,
    CancelAfterResult,
    CancelAllResult,
    MmpResult,
    OptionKind,
    OrderResult,
    QuoteLeg,
    RfqLeg,
    RfqResult,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

R = TypeVar("R")

Amount = Decimal | str | int
"""A price, size or amount: a ``Decimal``, a decimal string or an int (never a float,
which cannot hold most decimal prices exactly)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_request_id() -> str:
    return str(uuid.uuid4())


def decimal_string(value: Amount) -> str:
    """``value`` as the protocol's decimal string (``"12.5"``, no exponent)."""
    if type(value) is str:
        return value
    if isinstance(value, (bool, float)):
        raise TypeError(f"use Decimal or str for amounts, not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _optional(out: dict[str, Any], **values: Any) -> dict[str, Any]:
    for key, value in values.items():
        if value is not None:
            out[key] = value
    return out


@attrs.frozen(kw_only=True)
class Request(Generic[R]):
    """A journaled command: ``request_id`` and ``ts`` form its idempotency key.
    ``Client.submit`` answers a ``Request[R]`` with an ``R`` (its class is ``RESULT``)."""

    request_id: str = attrs.field(factory=new_request_id)
    ts: int = attrs.field(factory=now_ms)

    TYPE: ClassVar[str] = "?"
    RESULT: ClassVar[type[Any]] = object

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request_id": self.request_id, "ts": self.ts, **self.body()}


@attrs.frozen(kw_only=True)
class PlaceOrderRequest(Request[OrderResult]):
    TYPE = "PlaceOrder"
    RESULT = OrderResult
    symbol: str
    side: Side
    price: Amount
    size: Amount
    tif: TimeInForce | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    mmp: bool | None = None
    client_id: str | None = None
    stp: SelfTradePrevention | None = None

    def body(self) -> dict[str, Any]:
        out = {
            "symbol": self.symbol,
            "side": self.side,
            "price": decimal_string(self.price),
            "size": decimal_string(self.size),
        }
        return _optional(
            out,
            tif=self.tif,
            post_only=self.post_only,
            reduce_only=self.reduce_only,
            mmp=self.mmp,
            client_id=self.client_id,
            stp=self.stp,
        )


@attrs.frozen(kw_only=True)
class CancelOrderRequest(Request[OrderResult]):
    TYPE = "CancelOrder"
    RESULT = OrderResult
    order_id: int | None = None
    client_id: str | None = None

    def body(self) -> dict[str, Any]:
        return _optional({}, order_id=self.order_id, client_id=self.client_id)


@attrs.frozen(kw_only=True)
class ReplaceOrderRequest(Request[OrderResult]):
    TYPE = "ReplaceOrder"
    RESULT = OrderResult
    order_id: int
    price: Amount
    size: Amount
    tif: TimeInForce | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    mmp: bool | None = None
    client_id: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order_id": self.order_id,
            "price": decimal_string(self.price),
            "size": decimal_string(self.size),
        }
        return _optional(
            out,
            tif=self.tif,
            post_only=self.post_only,
            reduce_only=self.reduce_only,
            mmp=self.mmp,
            client_id=self.client_id,
        )


OrderRequest = PlaceOrderRequest | CancelOrderRequest | ReplaceOrderRequest


@attrs.frozen(kw_only=True)
class CancelAllRequest(Request[CancelAllResult]):
    TYPE = "CancelAll"
    RESULT = CancelAllResult
    symbol: str | None = None
    underlying: str | None = None

    def body(self) -> dict[str, Any]:
        return _optional({}, symbol=self.symbol, underlying=self.underlying)


@attrs.frozen(kw_only=True)
class WithdrawRequest(Request[BalanceResult]):
    TYPE = "Withdraw"
    RESULT = BalanceResult
    amount: Amount

    def body(self) -> dict[str, Any]:
        return {"amount": decimal_string(self.amount)}


@attrs.frozen(kw_only=True)
class CreateInstrumentRequest(Request[AdminResult]):
    TYPE = "CreateInstrument"
    RESULT = AdminResult
    symbol: str
    underlying: str
    expiry_ms: int
    strike: Amount
    option: OptionKind
    tick_size: Amount
    lot_size: Amount
    multiplier: Amount | None = None
    maker_fee_bps: int | None = None
    taker_fee_bps: int | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "underlying": self.underlying,
            "expiry_ms": self.expiry_ms,
            "strike": decimal_string(self.strike),
            "option": self.option,
            "tick_size": decimal_string(self.tick_size),
            "lot_size": decimal_string(self.lot_size),
        }
        return _optional(
            out,
            multiplier=None if self.multiplier is None else decimal_string(self.multiplier),
            maker_fee_bps=self.maker_fee_bps,
            taker_fee_bps=self.taker_fee_bps,
        )


@attrs.frozen(kw_only=True)
class DepositRequest(Request[AdminResult]):
    TYPE = "Deposit"
    RESULT = AdminResult
    wallet: str
    amount: Amount

    def body(self) -> dict[str, Any]:
        return {"wallet": self.wallet, "amount": decimal_string(self.amount)}


@attrs.frozen(kw_only=True)
class SetIndexPriceRequest(Request[AdminResult]):
    TYPE = "SetIndexPrice"
    RESULT = AdminResult
    underlying: str
    price: Amount
    vol: Amount | None = None

    def body(self) -> dict[str, Any]:
        out = {"underlying": self.underlying, "price": decimal_string(self.price)}
        return _optional(out, vol=None if self.vol is None else decimal_string(self.vol))


@attrs.frozen(kw_only=True)
class HaltInstrumentRequest(Request[AdminResult]):
    TYPE = "HaltInstrument"
    RESULT = AdminResult
    symbol: str

    def body(self) -> dict[str, Any]:
        return {"symbol": self.symbol}


@attrs.frozen(kw_only=True)
class ResumeInstrumentRequest(Request[AdminResult]):
    """A halted instrument trades again."""

    TYPE = "ResumeInstrument"
    RESULT = AdminResult
    symbol: str

    def body(self) -> dict[str, Any]:
        return {"symbol": self.symbol}


@attrs.frozen(kw_only=True)
class SettleRequest(Request[AdminResult]):
    TYPE = "Settle"
    RESULT = AdminResult
    symbol: str
    price: Amount

    def body(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "price": decimal_string(self.price)}


@attrs.frozen(kw_only=True)
class SetMmpRequest(Request[MmpResult]):
    TYPE = "SetMmp"
    RESULT = MmpResult
    underlying: str
    interval_ms: int
    frozen_ms: int
    qty_limit: Amount | None = None
    delta_limit: Amount | None = None
    enabled: bool = True

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "underlying": self.underlying,
            "interval_ms": self.interval_ms,
            "frozen_ms": self.frozen_ms,
            "enabled": self.enabled,
        }
        return _optional(
            out,
            qty_limit=None if self.qty_limit is None else decimal_string(self.qty_limit),
            delta_limit=None if self.delta_limit is None else decimal_string(self.delta_limit),
        )


@attrs.frozen(kw_only=True)
class ResetMmpRequest(Request[MmpResult]):
    TYPE = "ResetMmp"
    RESULT = MmpResult
    underlying: str

    def body(self) -> dict[str, Any]:
        return {"underlying": self.underlying}


@attrs.frozen(kw_only=True)
class CancelAfterRequest(Request[CancelAfterResult]):
    """The dead-man's switch: cancel every order of the wallet unless renewed within
    ``timeout_ms`` (0 turns it off)."""

    TYPE = "CancelAfter"
    RESULT = CancelAfterResult
    timeout_ms: int

    def body(self) -> dict[str, Any]:
        return {"timeout_ms": self.timeout_ms}


@attrs.frozen(kw_only=True)
class AcceptQuoteRequest(Request[RfqResult]):
    """Accept a quote on one's own RFQ: journaled like an order, so a repeat (same
    ``request_id`` and ``ts``) answers the stored ``RfqResult``."""

    TYPE = "AcceptQuote"
    RESULT = RfqResult
    rfq_id: str
    quote_id: str

    def body(self) -> dict[str, Any]:
        return {"rfq_id": self.rfq_id, "quote_id": self.quote_id}


@attrs.frozen(kw_only=True)
class TickRequest(Request[AdminResult]):
    """Admin: make happen what the exchange's time makes happen by now (expiry), as a
    journaled command of its own (``AdminResult`` with command ``Tick``)."""

    TYPE = "Tick"
    RESULT = AdminResult

    def body(self) -> dict[str, Any]:
        return {}


def leg_wire(leg: RfqLeg | QuoteLeg) -> dict[str, Any]:
    """A leg of ``RequestQuote`` or ``Quote`` as sent."""
    out = {"symbol": leg.symbol, "side": leg.side, "size": decimal_string(leg.size)}
    if isinstance(leg, QuoteLeg):
        out["price"] = decimal_string(leg.price)
    return out
