"""The typed calls' arguments, once: each command call builds its ``Request`` here, and
``async_call``/``sync_call`` make it a method over a ``submit``; it never sends anything.

``hcx.client.Client`` (``async``, over the wire) and ``hcx.Simulator``'s sessions (plain
calls, in-process) bind the same builders, so both take the same arguments, stamp
``request_id`` and ``ts`` the same way (the caller's ids and clock unless given) and send
the same request. The messages of the calls that are not journaled (RFQs, queries) are
built here too.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from hcx.client.messages import OptionKind, QuoteLeg, RfqLeg, SelfTradePrevention, Side, TimeInForce
from hcx.client.requests import (
    AcceptQuoteRequest,
    Amount,
    CancelAfterRequest,
    CancelAllRequest,
    CancelOrderRequest,
    CreateInstrumentRequest,
    DepositRequest,
    HaltInstrumentRequest,
    OrderRequest,
    PlaceOrderRequest,
    ReplaceOrderRequest,
    Request,
    ResetMmpRequest,
    ResumeInstrumentRequest,
    SetIndexPriceRequest,
    SetMmpRequest,
    SettleRequest,
    WithdrawRequest,
    leg_wire,
)

P = ParamSpec("P")
R = TypeVar("R")


class Caller(Protocol):
    """Whoever stamps requests: its fresh request ids and its clock, in ms."""

    _new_request_id: Callable[[], str]
    _now_ms: Callable[[], int]


class SyncSubmitter(Caller, Protocol):
    def submit(self, request: Request[R]) -> R: ...


class AsyncSubmitter(Caller, Protocol):
    async def submit(self, request: Request[R]) -> R: ...


Builder = Callable[Concatenate[Caller, P], Request[R]]


def stamp(caller: Caller, request_id: str | None, ts: int | None) -> dict[str, Any]:
    """``request_id`` and ``ts`` as given, else a fresh id and now by ``caller``'s clock.
    (The order calls, the hot ones, spell this out: no dict to build and unpack.)"""
    return {
        "request_id": request_id or caller._new_request_id(),
        "ts": caller._now_ms() if ts is None else ts,
    }


def sync_call(build: Builder[P, R]) -> Callable[Concatenate[SyncSubmitter, P], R]:
    """``build`` as a method that submits the request and returns its result."""

    @functools.wraps(build)
    def call(self: SyncSubmitter, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.submit(build(self, *args, **kwargs))

    call.__signature__ = _method_signature(build)  # type: ignore[attr-defined]
    return call


def async_call(
    build: Builder[P, R],
) -> Callable[Concatenate[AsyncSubmitter, P], Coroutine[Any, Any, R]]:
    """``build`` as an ``async`` method that submits the request and awaits its result."""

    @functools.wraps(build)
    async def call(self: AsyncSubmitter, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.submit(build(self, *args, **kwargs))

    call.__signature__ = _method_signature(build)  # type: ignore[attr-defined]
    return call


def _method_signature(build: Callable[..., Any]) -> inspect.Signature:
    """What ``help()`` and editors show for the method: the builder's arguments, with
    ``self`` first and the request's result (not the request) as what it returns."""
    signature = inspect.signature(build)
    caller, *rest = signature.parameters.values()
    result = typing.get_type_hints(build)["return"].RESULT
    this = caller.replace(name="self", annotation=inspect.Parameter.empty)
    return signature.replace(parameters=[this, *rest], return_annotation=result)


# --- orders ----------------------------------------------------------------------------


def place_order(
    caller: Caller,
    symbol: str,
    side: Side,
    price: Amount,
    size: Amount,
    *,
    tif: TimeInForce | None = None,
    post_only: bool | None = None,
    reduce_only: bool | None = None,
    mmp: bool | None = None,
    client_id: str | None = None,
    stp: SelfTradePrevention | None = None,
    request_id: str | None = None,
    ts: int | None = None,
) -> PlaceOrderRequest:
    """A limit order (``tif`` ``gtc``, ``ioc`` or ``fok``); its ``OrderResult``."""
    return PlaceOrderRequest(
        symbol=symbol,
        side=side,
        price=price,
        size=size,
        tif=tif,
        post_only=post_only,
        reduce_only=reduce_only,
        mmp=mmp,
        client_id=client_id,
        stp=stp,
        request_id=request_id or caller._new_request_id(),
        ts=caller._now_ms() if ts is None else ts,
    )


def cancel_order(
    caller: Caller,
    order_id: int | None = None,
    *,
    client_id: str | None = None,
    request_id: str | None = None,
    ts: int | None = None,
) -> CancelOrderRequest:
    """Cancel one own order, by ``order_id`` or ``client_id``."""
    return CancelOrderRequest(
        order_id=order_id,
        client_id=client_id,
        request_id=request_id or caller._new_request_id(),
        ts=caller._now_ms() if ts is None else ts,
    )


def replace_order(
    caller: Caller,
    order_id: int,
    price: Amount,
    size: Amount,
    *,
    tif: TimeInForce | None = None,
    post_only: bool | None = None,
    reduce_only: bool | None = None,
    mmp: bool | None = None,
    client_id: str | None = None,
    request_id: str | None = None,
    ts: int | None = None,
) -> ReplaceOrderRequest:
    """Replace an own order's price and size (a new order id; the old one is canceled)."""
    return ReplaceOrderRequest(
        order_id=order_id,
        price=price,
        size=size,
        tif=tif,
        post_only=post_only,
        reduce_only=reduce_only,
        mmp=mmp,
        client_id=client_id,
        request_id=request_id or caller._new_request_id(),
        ts=caller._now_ms() if ts is None else ts,
    )


def cancel_all(
    caller: Caller,
    *,
    symbol: str | None = None,
    underlying: str | None = None,
    request_id: str | None = None,
    ts: int | None = None,
) -> CancelAllRequest:
    """Cancel every own order (of ``symbol``, or of ``underlying``'s instruments)."""
    return CancelAllRequest(symbol=symbol, underlying=underlying, **stamp(caller, request_id, ts))


def withdraw(
    caller: Caller, amount: Amount, *, request_id: str | None = None, ts: int | None = None
) -> WithdrawRequest:
    return WithdrawRequest(amount=amount, **stamp(caller, request_id, ts))


def bulk_message(orders: Sequence[OrderRequest]) -> dict[str, Any]:
    """``BulkOrders``: each item as sent on its own (stamped when it was built)."""
    return {"type": "BulkOrders", "orders": [order.to_wire() for order in orders]}


# --- market maker protection -----------------------------------------------------------


def set_mmp(
    caller: Caller,
    underlying: str,
    *,
    interval_ms: int,
    frozen_ms: int,
    qty_limit: Amount | None = None,
    delta_limit: Amount | None = None,
    enabled: bool = True,
    request_id: str | None = None,
    ts: int | None = None,
) -> SetMmpRequest:
    """Protect this wallet's ``mmp`` orders (and ``mmp`` quotes) on ``underlying``:
    when their fills within ``interval_ms`` reach ``qty_limit`` contracts or an
    absolute net delta of ``delta_limit``, the other ``mmp`` orders are canceled and
    new ones rejected ``mmp_frozen`` for ``frozen_ms`` (0: until ``reset_mmp``)."""
    return SetMmpRequest(
        underlying=underlying,
        interval_ms=interval_ms,
        frozen_ms=frozen_ms,
        qty_limit=qty_limit,
        delta_limit=delta_limit,
        enabled=enabled,
        **stamp(caller, request_id, ts),
    )


def cancel_after(
    caller: Caller, timeout_ms: int, *, request_id: str | None = None, ts: int | None = None
) -> CancelAfterRequest:
    """Arm (or renew, or with 0 turn off) the dead-man's switch of this wallet."""
    return CancelAfterRequest(timeout_ms=timeout_ms, **stamp(caller, request_id, ts))


def reset_mmp(
    caller: Caller, underlying: str, *, request_id: str | None = None, ts: int | None = None
) -> ResetMmpRequest:
    """Lift a freeze on ``underlying`` (and start a fresh window)."""
    return ResetMmpRequest(underlying=underlying, **stamp(caller, request_id, ts))


# --- RFQ -------------------------------------------------------------------------------


def request_quote_message(
    caller: Caller, legs: Sequence[RfqLeg], rfq_id: str | None
) -> dict[str, Any]:
    """``RequestQuote``: the legs from the taker's side (not journaled)."""
    return {
        "type": "RequestQuote",
        "rfq_id": rfq_id or caller._new_request_id(),
        "legs": [leg_wire(leg) for leg in legs],
    }


def quote_message(
    caller: Caller,
    rfq_id: str,
    legs: Sequence[QuoteLeg],
    valid_ms: int,
    mmp: bool,
    quote_id: str | None,
) -> dict[str, Any]:
    """``Quote``: the quoter's own sides (not journaled)."""
    message: dict[str, Any] = {
        "type": "Quote",
        "rfq_id": rfq_id,
        "quote_id": quote_id or caller._new_request_id(),
        "legs": [leg_wire(leg) for leg in legs],
        "valid_ms": valid_ms,
    }
    if mmp:
        message["mmp"] = True
    return message


def accept_quote(
    caller: Caller,
    rfq_id: str,
    quote_id: str,
    *,
    request_id: str | None = None,
    ts: int | None = None,
) -> AcceptQuoteRequest:
    """Execute a quote on one's own RFQ: all legs at the quoted prices, or none. A
    journaled command like the order commands (a repeat answers the stored result)."""
    return AcceptQuoteRequest(rfq_id=rfq_id, quote_id=quote_id, **stamp(caller, request_id, ts))


# --- admin commands --------------------------------------------------------------------


def create_instrument(
    caller: Caller,
    symbol: str,
    underlying: str,
    expiry_ms: int,
    strike: Amount,
    option: OptionKind,
    tick_size: Amount,
    lot_size: Amount,
    *,
    multiplier: Amount | None = None,
    maker_fee_bps: int | None = None,
    taker_fee_bps: int | None = None,
    request_id: str | None = None,
    ts: int | None = None,
) -> CreateInstrumentRequest:
    return CreateInstrumentRequest(
        symbol=symbol,
        underlying=underlying,
        expiry_ms=expiry_ms,
        strike=strike,
        option=option,
        tick_size=tick_size,
        lot_size=lot_size,
        multiplier=multiplier,
        maker_fee_bps=maker_fee_bps,
        taker_fee_bps=taker_fee_bps,
        **stamp(caller, request_id, ts),
    )


def deposit(
    caller: Caller,
    wallet: str,
    amount: Amount,
    *,
    request_id: str | None = None,
    ts: int | None = None,
) -> DepositRequest:
    return DepositRequest(wallet=wallet, amount=amount, **stamp(caller, request_id, ts))


def set_index_price(
    caller: Caller,
    underlying: str,
    price: Amount,
    *,
    vol: Amount | None = None,
    request_id: str | None = None,
    ts: int | None = None,
) -> SetIndexPriceRequest:
    return SetIndexPriceRequest(
        underlying=underlying, price=price, vol=vol, **stamp(caller, request_id, ts)
    )


def halt_instrument(
    caller: Caller, symbol: str, *, request_id: str | None = None, ts: int | None = None
) -> HaltInstrumentRequest:
    return HaltInstrumentRequest(symbol=symbol, **stamp(caller, request_id, ts))


def resume_instrument(
    caller: Caller, symbol: str, *, request_id: str | None = None, ts: int | None = None
) -> ResumeInstrumentRequest:
    """A halted instrument trades again."""
    return ResumeInstrumentRequest(symbol=symbol, **stamp(caller, request_id, ts))


def settle(
    caller: Caller,
    symbol: str,
    price: Amount,
    *,
    request_id: str | None = None,
    ts: int | None = None,
) -> SettleRequest:
    """Cash-settle the expired ``symbol`` at the underlying's settlement ``price``:
    every holder gets ``PositionExpired`` on its ``portfolio`` channel."""
    return SettleRequest(symbol=symbol, price=price, **stamp(caller, request_id, ts))


# --- queries ---------------------------------------------------------------------------


def open_orders_message(symbol: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "GetOpenOrders"}
    if symbol is not None:
        message["symbol"] = symbol
    return message


def get_order_message(
    order_id: int | None, client_id: str | None, request_id: str | None
) -> dict[str, Any]:
    """``GetOrder`` by whichever of the three is given (the server wants exactly one)."""
    message: dict[str, Any] = {"type": "GetOrder"}
    for name, value in (
        ("order_id", order_id),
        ("client_id", client_id),
        ("request_id", request_id),
    ):
        if value is not None:
            message[name] = value
    return message


def trades_message(symbol: str, from_seq: int | None, limit: int | None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "GetTrades", "symbol": symbol}
    if from_seq is not None:
        message["from_seq"] = from_seq
    if limit is not None:
        message["limit"] = limit
    return message
