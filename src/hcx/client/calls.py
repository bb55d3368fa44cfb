"""The client's typed calls: one method per command, query and subscription of the
protocol; never touches the connection (``submit``, ``_query`` and ``_subscribed`` do).

A command method only builds its ``Request`` (``hcx.client.builders``, which the
simulator's sessions bind too) and hands it to ``submit``, which answers with the
request's own result type; the same request object can be submitted again (a retry with
the same ``request_id`` and ``ts`` answers the stored result). Queries are not journaled
and answer from the server's released state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from hcx.client import builders as build
from hcx.client.builders import async_call
from hcx.client.errors import HcxError
from hcx.client.messages import (
    Balance,
    BulkResult,
    Fill,
    IndexPrice,
    Instrument,
    Instruments,
    OpenOrders,
    Order,
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
    Trade,
    Trades,
)
from hcx.client.requests import OrderRequest, Request
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

    async def ping(self) -> Pong:
        return expect(await self._query({"type": "Ping"}), Pong)

    # --- commands: each a ``Request`` built by ``hcx.client.builders``, then ``submit`` ----

    place_order = async_call(build.place_order)
    cancel_order = async_call(build.cancel_order)
    replace_order = async_call(build.replace_order)
    cancel_all = async_call(build.cancel_all)
    withdraw = async_call(build.withdraw)
    set_mmp = async_call(build.set_mmp)
    cancel_after = async_call(build.cancel_after)
    reset_mmp = async_call(build.reset_mmp)
    accept_quote = async_call(build.accept_quote)
    create_instrument = async_call(build.create_instrument)
    deposit = async_call(build.deposit)
    set_index_price = async_call(build.set_index_price)
    halt_instrument = async_call(build.halt_instrument)
    resume_instrument = async_call(build.resume_instrument)
    settle = async_call(build.settle)

    async def bulk_orders(self, orders: Sequence[OrderRequest]) -> BulkResult:
        """Up to 50 order requests in one frame; each succeeds or fails on its own. A
        retry re-sends the same items, so executed items answer with their stored
        results."""
        return expect(await self._query(build.bulk_message(orders)), BulkResult)

    # --- RFQ (not journaled) -----------------------------------------------------------

    async def request_quote(self, legs: Sequence[RfqLeg], *, rfq_id: str | None = None) -> str:
        """Open an RFQ (legs from the taker's side); returns its ``rfq_id``. Quotes
        arrive on ``subscribe_rfq`` as ``RfqQuote``. RFQs live in the server's memory
        and are not journaled, so this is not re-sent after a reconnect: a connection
        lost in flight raises ``ConnectionLost`` and the RFQ may or may not be open."""
        message = build.request_quote_message(self, legs, rfq_id)
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
        message = build.quote_message(self, rfq_id, legs, valid_ms, mmp, quote_id)
        return expect(await self._query(message, resend=False), QuoteAck)

    # --- queries -----------------------------------------------------------------------

    async def get_open_orders(self, symbol: str | None = None) -> OpenOrders:
        return expect(await self._query(build.open_orders_message(symbol)), OpenOrders)

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
        message = build.get_order_message(order_id, client_id, request_id)
        return expect(await self._query(message), Order)

    async def get_instruments(self) -> tuple[Instrument, ...]:
        return expect(await self._query({"type": "GetInstruments"}), Instruments).instruments

    async def get_trades(
        self, symbol: str, *, from_seq: int | None = None, limit: int | None = None
    ) -> tuple[Trade, ...]:
        """``symbol``'s trades with ``seq >= from_seq`` (else the latest), oldest first,
        at most ``limit`` (1 to 1000, default 100)."""
        message = build.trades_message(symbol, from_seq, limit)
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
