"""The client's typed calls: one method per command, query and subscription of the
protocol; never touches the connection (``submit``, ``_query`` and ``_subscribed`` do).

A command method only builds its ``Request`` (``hcx.client.requests``) and hands it to
``submit``, which answers with the request's own result type; the same request object can
be submitted again (a retry with the same ``request_id`` and ``ts`` answers the stored
result). Queries are not journaled and answer from the server's released state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from hcx.client.errors import HcxError
from hcx.client.messages import (
    AdminResult,
    Balance,
    BalanceResult,
    BulkResult,
    CancelAfterResult,
    CancelAllResult,
    Fill,
    IndexPrice,
    Instrument,
    Instruments,
    MmpResult,
    OpenOrders,
    OptionKind,
    Order,
    OrderResult,
    OrderUpdate,
    Pong,
    Portfolio,
    Position,
    PositionExpired,
    QuoteAck,
    QuoteLeg,
    RfqLeg,
    RfqOpened,
    RfqQuote,
    RfqRequest,
    RfqResult,
    SelfTradePrevention,
    Side,
    TimeInForce,
    Trade,
    Trades,
)
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
from hcx.client.subscriptions import BookSubscription, PrivateSubscription, Subscription
from hcx.protocol.channels import INSTRUMENTS, PRIVATE_CHANNELS, RFQ, TRADES

R = TypeVar("R")


class Calls:
    """The protocol's calls, for ``Client`` to inherit: it provides ``submit`` and
    ``_query`` (and the request id and clock this stamps commands with)."""

    _new_request_id: Callable[[], str]
    _now_ms: Callable[[], int]
    _queue_size: int
    _subscriptions: dict[tuple[str, str | None], Subscription[Any]]

    async def submit(self, request: Request[R]) -> R:
        raise NotImplementedError

    async def _query(self, message: dict[str, Any], *, resend: bool = True) -> Any:
        raise NotImplementedError

    def _subscribed(self, subscription: Subscription[Any]) -> AbstractAsyncContextManager[Any]:
        """Subscribe for the duration of the ``async with``."""
        raise NotImplementedError

    async def resubscribe(self, subscription: Subscription[Any]) -> None:
        raise NotImplementedError

    def _stamp(self, request_id: str | None, ts: int | None) -> dict[str, Any]:
        return {
            "request_id": request_id or self._new_request_id(),
            "ts": self._now_ms() if ts is None else ts,
        }

    async def ping(self) -> Pong:
        return expect(await self._query({"type": "Ping"}), Pong)

    # --- commands ----------------------------------------------------------------------

    async def place_order(
        self,
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
    ) -> OrderResult:
        request = PlaceOrderRequest(
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
            **self._stamp(request_id, ts),
        )
        return await self.submit(request)

    async def cancel_order(
        self,
        order_id: int | None = None,
        *,
        client_id: str | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> OrderResult:
        request = CancelOrderRequest(
            order_id=order_id, client_id=client_id, **self._stamp(request_id, ts)
        )
        return await self.submit(request)

    async def replace_order(
        self,
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
    ) -> OrderResult:
        request = ReplaceOrderRequest(
            order_id=order_id,
            price=price,
            size=size,
            tif=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            mmp=mmp,
            client_id=client_id,
            **self._stamp(request_id, ts),
        )
        return await self.submit(request)

    async def cancel_all(
        self,
        *,
        symbol: str | None = None,
        underlying: str | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> CancelAllResult:
        request = CancelAllRequest(
            symbol=symbol, underlying=underlying, **self._stamp(request_id, ts)
        )
        return await self.submit(request)

    async def bulk_orders(self, orders: Sequence[OrderRequest]) -> BulkResult:
        """Up to 50 order requests in one frame; each succeeds or fails on its own. A
        retry re-sends the same items, so executed items answer with their stored
        results."""
        message = {"type": "BulkOrders", "orders": [order.to_wire() for order in orders]}
        return expect(await self._query(message), BulkResult)

    async def withdraw(
        self, amount: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> BalanceResult:
        request = WithdrawRequest(amount=amount, **self._stamp(request_id, ts))
        return await self.submit(request)

    # --- market maker protection -------------------------------------------------------

    async def set_mmp(
        self,
        underlying: str,
        *,
        interval_ms: int,
        frozen_ms: int,
        qty_limit: Amount | None = None,
        delta_limit: Amount | None = None,
        enabled: bool = True,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> MmpResult:
        """Protect this wallet's ``mmp`` orders (and ``mmp`` quotes) on ``underlying``:
        when their fills within ``interval_ms`` reach ``qty_limit`` contracts or an
        absolute net delta of ``delta_limit``, the other ``mmp`` orders are canceled and
        new ones rejected ``mmp_frozen`` for ``frozen_ms`` (0: until ``reset_mmp``)."""
        request = SetMmpRequest(
            underlying=underlying,
            interval_ms=interval_ms,
            frozen_ms=frozen_ms,
            qty_limit=qty_limit,
            delta_limit=delta_limit,
            enabled=enabled,
            **self._stamp(request_id, ts),
        )
        return await self.submit(request)

    async def cancel_after(
        self, timeout_ms: int, *, request_id: str | None = None, ts: int | None = None
    ) -> CancelAfterResult:
        """Arm (or renew, or with 0 turn off) the dead-man's switch of this wallet."""
        request = CancelAfterRequest(timeout_ms=timeout_ms, **self._stamp(request_id, ts))
        return await self.submit(request)

    async def reset_mmp(
        self, underlying: str, *, request_id: str | None = None, ts: int | None = None
    ) -> MmpResult:
        """Lift a freeze on ``underlying`` (and start a fresh window)."""
        request = ResetMmpRequest(underlying=underlying, **self._stamp(request_id, ts))
        return await self.submit(request)

    # --- RFQ ---------------------------------------------------------------------------

    async def request_quote(self, legs: Sequence[RfqLeg], *, rfq_id: str | None = None) -> str:
        """Open an RFQ (legs from the taker's side); returns its ``rfq_id``. Quotes
        arrive on ``subscribe_rfq`` as ``RfqQuote``. RFQs live in the server's memory
        and are not journaled, so this is not re-sent after a reconnect: a connection
        lost in flight raises ``ConnectionLost`` and the RFQ may or may not be open."""
        message = {
            "type": "RequestQuote",
            "rfq_id": rfq_id or self._new_request_id(),
            "legs": [leg_wire(leg) for leg in legs],
        }
        return expect(await self._query(message, resend=False), RfqOpened).rfq_id

    async def quote(
        self,
        rfq_id: str,
        legs: Sequence[QuoteLeg],
        valid_ms: int,
        mmp: bool = False,
        *,
        quote_id: str | None = None,
    ) -> QuoteAck:
        """Quote an RFQ (role ``quoter`` or ``admin``). The legs are the quoter's own
        sides, opposite to the request's, with the same symbols and sizes. ``mmp``: the
        quote's fills count toward this wallet's MMP (and it cannot be accepted while
        frozen). Not journaled, not re-sent after a reconnect (see ``request_quote``)."""
        message: dict[str, Any] = {
            "type": "Quote",
            "rfq_id": rfq_id,
            "quote_id": quote_id or self._new_request_id(),
            "legs": [leg_wire(leg) for leg in legs],
            "valid_ms": valid_ms,
        }
        if mmp:
            message["mmp"] = True
        return expect(await self._query(message, resend=False), QuoteAck)

    async def accept_quote(
        self, rfq_id: str, quote_id: str, *, request_id: str | None = None, ts: int | None = None
    ) -> RfqResult:
        """Execute a quote on one's own RFQ: all legs at the quoted prices, or none. A
        journaled command like the order commands (re-sent after a reconnect; a repeat
        answers the stored result)."""
        request = AcceptQuoteRequest(
            rfq_id=rfq_id, quote_id=quote_id, **self._stamp(request_id, ts)
        )
        return await self.submit(request)

    # --- admin commands ----------------------------------------------------------------

    async def create_instrument(
        self,
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
    ) -> AdminResult:
        request = CreateInstrumentRequest(
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
            **self._stamp(request_id, ts),
        )
        return await self.submit(request)

    async def deposit(
        self, wallet: str, amount: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = DepositRequest(wallet=wallet, amount=amount, **self._stamp(request_id, ts))
        return await self.submit(request)

    async def set_index_price(
        self,
        underlying: str,
        price: Amount,
        *,
        vol: Amount | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> AdminResult:
        request = SetIndexPriceRequest(
            underlying=underlying, price=price, vol=vol, **self._stamp(request_id, ts)
        )
        return await self.submit(request)

    async def halt_instrument(
        self, symbol: str, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = HaltInstrumentRequest(symbol=symbol, **self._stamp(request_id, ts))
        return await self.submit(request)

    async def resume_instrument(
        self, symbol: str, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = ResumeInstrumentRequest(symbol=symbol, **self._stamp(request_id, ts))
        return await self.submit(request)

    async def settle(
        self, symbol: str, price: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        """Cash-settle the expired ``symbol`` at the underlying's settlement ``price``:
        every holder gets ``PositionExpired`` on its ``portfolio`` channel."""
        request = SettleRequest(symbol=symbol, price=price, **self._stamp(request_id, ts))
        return await self.submit(request)

    # --- queries -----------------------------------------------------------------------

    async def get_open_orders(self, symbol: str | None = None) -> OpenOrders:
        message: dict[str, Any] = {"type": "GetOpenOrders"}
        if symbol is not None:
            message["symbol"] = symbol
        return expect(await self._query(message), OpenOrders)

    async def get_portfolio(self) -> Portfolio:
        return expect(await self._query({"type": "GetPortfolio"}), Portfolio)

    async def get_order(
        self,
        order_id: int | None = None,
        *,
        client_id: str | None = None,
        request_id: str | None = None,
    ) -> Order:
        """One own order, open or recently closed; ``HcxError("not_found")`` otherwise."""
        message: dict[str, Any] = {"type": "GetOrder"}
        for name, value in (
            ("order_id", order_id),
            ("client_id", client_id),
            ("request_id", request_id),
        ):
            if value is not None:
                message[name] = value
        return expect(await self._query(message), Order)

    async def get_instruments(self) -> tuple[Instrument, ...]:
        return expect(await self._query({"type": "GetInstruments"}), Instruments).instruments

    async def get_trades(
        self, symbol: str, *, from_seq: int | None = None, limit: int | None = None
    ) -> tuple[Trade, ...]:
        """``symbol``'s trades with ``seq >= from_seq`` (else the latest), oldest first,
        at most ``limit`` (1 to 1000, default 100)."""
        message: dict[str, Any] = {"type": "GetTrades", "symbol": symbol}
        if from_seq is not None:
            message["from_seq"] = from_seq
        if limit is not None:
            message["limit"] = limit
        return expect(await self._query(message), Trades).trades

    # --- subscriptions -----------------------------------------------------------------

    @asynccontextmanager
    async def subscribe_book(self, symbol: str) -> AsyncIterator[BookSubscription]:
        """The book of ``symbol``: iterate to apply the snapshot and the updates."""
        async with self._subscribed(
            BookSubscription(symbol, self._queue_size, self.resubscribe)
        ) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_trades(
        self, symbol: str | None = None
    ) -> AsyncIterator[Subscription[Trade]]:
        """Trades of ``symbol``, or of every symbol (not both on one client)."""
        trades = [key for key in self._subscriptions if key[0] == TRADES]
        if (symbol is None and trades) or (TRADES, None) in trades:
            raise ValueError("subscribe to all trades or to trades per symbol, not both")
        subscription: Subscription[Trade] = Subscription(TRADES, symbol, self._queue_size)
        async with self._subscribed(subscription) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_instruments(
        self,
    ) -> AsyncIterator[Subscription[Instrument | IndexPrice]]:
        subscription: Subscription[Instrument | IndexPrice] = Subscription(
            INSTRUMENTS, None, self._queue_size
        )
        async with self._subscribed(subscription) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_orders(
        self, from_seq: int | None = None
    ) -> AsyncIterator[PrivateSubscription[OrderUpdate]]:
        """Own order updates after ``from_seq`` (default: from now on), exactly once."""
        async with self._private("orders", from_seq) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_fills(
        self, from_seq: int | None = None
    ) -> AsyncIterator[PrivateSubscription[Fill]]:
        async with self._private("fills", from_seq) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_portfolio(
        self, from_seq: int | None = None
    ) -> AsyncIterator[PrivateSubscription[Balance | Position | PositionExpired]]:
        async with self._private("portfolio", from_seq) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_rfq(self) -> AsyncIterator[Subscription[RfqRequest | RfqQuote]]:
        """RFQ traffic: ``RfqRequest`` for every RFQ other wallets open (quoters and
        admins only) and ``RfqQuote`` for quotes on one's own RFQs. Not journaled, so
        nothing published while the connection is down is replayed."""
        subscription: Subscription[RfqRequest | RfqQuote] = Subscription(
            RFQ, None, self._queue_size
        )
        async with self._subscribed(subscription) as sub:
            yield sub

    @asynccontextmanager
    async def _private(self, channel: str, from_seq: int | None) -> AsyncIterator[Any]:
        assert channel in PRIVATE_CHANNELS
        if from_seq is None:
            # "From now on", as a journal position, so that a reconnect before the first
            # message still resumes without a gap.
            from_seq = (await self.get_portfolio()).seq
        subscription: PrivateSubscription[Any] = PrivateSubscription(
            channel, from_seq, self._queue_size
        )
        async with self._subscribed(subscription) as sub:
            yield sub


def expect(answer: Any, cls: type[R]) -> R:
    """``answer`` if it is a ``cls``; else ``HcxError("unexpected_answer")``."""
    if not isinstance(answer, cls):
        raise HcxError("unexpected_answer", f"expected {cls.__name__}, got {answer!r}")
    return answer
