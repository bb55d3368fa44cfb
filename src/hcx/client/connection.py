"""The client: one WebSocket connection kept alive, calls correlated, subscriptions fed.

Theory of operation. ``connect`` starts a supervisor task that opens the connection,
authenticates and then runs a reader task that hands every incoming frame to
``_dispatch``:

* command results (``OrderResult``, ``AdminResult``, ...) and their ``Error``s go to the
  waiting call with the same ``request_id``;
* answers to queries, pings and subscriptions go to the call with the same ``id`` (the
  client numbers them; the server echoes ``id``);
* channel messages go to the subscription of their channel (and symbol).

When the connection drops the supervisor reconnects (backoff, up to
``reconnect_timeout``), authenticates again, resubscribes (private channels with
``from_seq``, the book for a new snapshot) and re-sends every call still waiting: the
same frames, so a command keeps its ``request_id`` and ``ts`` and the server answers a
repeat of one that already executed with the stored result. Nothing is executed twice;
the caller just sees its answer arrive later.
"""

from __future__ import annotations

import collections
import itertools
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

import hcx.trio_websocket_fixes  # noqa: F401  (trio-websocket: no pong after our close)
from hcx.client.errors import ConnectionLost, HcxError
from hcx.client.messages import (
    RESULT_TYPES,
    AdminResult,
    Authenticated,
    Balance,
    BalanceResult,
    BulkResult,
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
    Subscribed,
    TimeInForce,
    Trade,
    parse_message,
)
from hcx.client.requests import (
    AcceptQuoteRequest,
    Amount,
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
    SetIndexPriceRequest,
    SetMmpRequest,
    SettleRequest,
    WithdrawRequest,
    leg_wire,
    new_request_id,
    now_ms,
)
from hcx.client.subscriptions import (
    PRIVATE_CHANNELS,
    RFQ_CHANNEL,
    BookSubscription,
    PrivateSubscription,
    Subscription,
)
from hcx.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_LOCAL, SUBPROTOCOLS
from hcx.protocol.codec import decode, encode
from hcx.protocol.errors import ProtocolError

log = logging.getLogger("hcx.client")
R = TypeVar("R")
_NETWORK_ERRORS = (
    OSError,
    HandshakeError,
    ConnectionClosed,
    trio.TooSlowError,
    trio.BrokenResourceError,
)

# Channel messages: type -> (channel, routed by symbol)
_ROUTES: dict[str, tuple[str, bool]] = {
    "BookSnapshot": ("book", True),
    "BookUpdate": ("book", True),
    "Trade": ("trades", True),
    "Instrument": ("instruments", False),
    "IndexPrice": ("instruments", False),
    "OrderUpdate": ("orders", False),
    "Fill": ("fills", False),
    "Balance": ("portfolio", False),
    "Position": ("portfolio", False),
    "PositionExpired": ("portfolio", False),
    "RfqRequest": (RFQ_CHANNEL, False),
    "RfqQuote": (RFQ_CHANNEL, False),
}


class _Pending:
    """A call waiting for its answer. ``resend``: re-send it after a reconnect (False for
    messages that only make sense on the connection they were sent on)."""

    __slots__ = ("_error", "_event", "_value", "message", "resend")

    def __init__(self, message: dict[str, Any], *, resend: bool = True) -> None:
        self.message = message
        self.resend = resend
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def resolve(self, value: Any) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


# Opens one in-process connection inside the given nursery (see ``hcx.service.local``).
Transport = Callable[[trio.Nursery], Awaitable[Any]]


class Client:
    """Use ``connect`` to get one. Every method is safe to call from many tasks at once."""

    def __init__(
        self,
        url: str,
        *,
        wallet: str | None = None,
        key: str | None = None,
        subprotocol: str = SUBPROTOCOL_JSON,
        reconnect: bool = True,
        reconnect_timeout: float = 30.0,
        open_timeout: float = 10.0,
        queue_size: int = 10_000,
        max_message_bytes: int = 16 * 1024 * 1024,
        heartbeat_interval: float | None = 20.0,
        heartbeat_timeout: float = 20.0,
        transport: Transport | None = None,
        request_ids: Callable[[], str] | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        # ``transport`` opens an in-process connection instead of a socket (the embedded
        # API); ``request_ids`` and ``clock_ms`` make a simulation's requests repeatable.
        self._transport = transport
        self._new_request_id = request_ids or new_request_id
        self._now_ms = clock_ms or now_ms
        if transport is not None:
            subprotocol = SUBPROTOCOL_LOCAL
            url = url or "local://hcx"
        elif subprotocol not in SUBPROTOCOLS:
            raise ValueError(f"subprotocol must be one of {SUBPROTOCOLS}")
        parts = urllib.parse.urlsplit(url)
        if transport is None and (parts.scheme != "ws" or parts.hostname is None):
            raise ValueError(f"expected a ws:// URL, not {url!r}")
        self.url = url
        self.subprotocol = subprotocol
        self.wallet = wallet
        self._key = key
        self.role: str | None = None
        self._host = parts.hostname or ""
        self._port = parts.port or 80
        self._host_header = parts.netloc
        self._resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._reconnect = reconnect
        self._reconnect_timeout = reconnect_timeout
        self._open_timeout = open_timeout
        self._queue_size = queue_size
        self._max_message_bytes = max_message_bytes
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout

        self._ws: WebSocketConnection | None = None
        self._session_scope: trio.CancelScope | None = None
        self._closing = False
        self._dead: ConnectionLost | None = None
        self._ids = itertools.count(1)
        self._commands: dict[str, _Pending] = {}
        self._queries: dict[int, _Pending] = {}
        self._subscriptions: dict[tuple[str, str | None], Subscription[Any]] = {}
        self._background_ids: dict[int, Subscription[Any]] = {}
        self._connected = trio.Event()

        # Observable state, for tests and monitoring.
        self.connections = 0
        self.resent = 0
        self.last_close: tuple[int, str | None] | None = None
        self.server_stopping = False
        self.notices: collections.deque[HcxError] = collections.deque(maxlen=100)

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def wait_connected(self) -> None:
        """Return once a connection is up (and authenticated)."""
        self._check_open()
        await self._connected.wait()
        self._check_open()

    def drop_connection(self) -> None:
        """Abort the current connection as a network failure would, without a close
        handshake; frames not yet dispatched are lost. The client reconnects (if
        enabled) and recovers as after any other failure. For tests and failover drills."""
        if self._session_scope is not None:
            self._session_scope.cancel()

    async def aclose(self) -> None:
        """Close the connection (close handshake, 1 s at most) and fail whatever is
        still waiting with ``ConnectionLost``."""
        if self._closing:
            return
        self._closing = True
        ws = self._ws
        if ws is not None:
            with trio.move_on_after(1.0):
                await ws.aclose()
        if self._session_scope is not None:
            self._session_scope.cancel()
        self._fail_all(ConnectionLost("the client is closed"))

    def _check_open(self) -> None:
        if self._dead is not None:
            raise self._dead
        if self._closing:
            raise ConnectionLost("the client is closed")

    def _fail_all(self, error: ConnectionLost) -> None:
        if self._dead is None:
            self._dead = error
        for pending in [*self._commands.values(), *self._queries.values()]:
            pending.fail(error)
        self._commands.clear()
        self._queries.clear()
        for subscription in self._subscriptions.values():
            subscription.finish(error)
        self._subscriptions.clear()
        self._connected.set()  # wake waiters so they see the error

    # --- the supervisor ------------------------------------------------------------------

    async def _maintain(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, and reconnect after every loss until closed or out of patience."""
        started = False

        def ready() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        lost_at = trio.current_time()
        delay = 0.0
        while True:
            established, error = await self._session(ready)
            if not started:
                if isinstance(error, HcxError):
                    raise error
                raise ConnectionLost(f"cannot connect to {self.url}: {error!r}") from error
            if self._closing:
                return
            if established:
                lost_at, delay = trio.current_time(), 0.0
                log.info("connection to %s lost (%s); reconnecting", self.url, self.last_close)
            if isinstance(error, HcxError):
                self._fail_all(ConnectionLost(f"authentication failed on reconnect: {error}"))
                return
            if not self._reconnect:
                self._fail_all(ConnectionLost(f"connection lost: {self.last_close}"))
                return
            if trio.current_time() - lost_at > self._reconnect_timeout:
                self._fail_all(
                    ConnectionLost(f"could not reconnect within {self._reconnect_timeout} s")
                )
                return
            await trio.sleep(delay)
            delay = min(max(delay * 2, 0.05), 2.0)

    async def _session(self, ready: Any) -> tuple[bool, BaseException | None]:
        """One connection from open to loss: (whether it got established, the error)."""
        established = False
        error: BaseException | None = None
        stream: trio.SocketStream | None = None
        try:
            if self._transport is None:
                with trio.fail_after(self._open_timeout):
                    stream = await trio.open_tcp_stream(self._host, self._port)
            async with trio.open_nursery() as nursery:
                self._session_scope = nursery.cancel_scope
                try:
                    with trio.fail_after(self._open_timeout):
                        if self._transport is not None:
                            ws = await self._transport(nursery)
                        else:
                            assert stream is not None
                            ws = await wrap_client_stream(
                                nursery,
                                stream,
                                self._host_header,
                                self._resource,
                                subprotocols=[self.subprotocol],
                                max_message_size=self._max_message_bytes,
                            )
                        nursery.start_soon(self._read_loop, ws, nursery.cancel_scope)
                        if self.wallet is not None:
                            await self._authenticate_on(ws, self.wallet, self._key)
                    self._ws = ws
                    established = True
                    if self._heartbeat_interval is not None:
                        nursery.start_soon(self._heartbeat, ws, self._heartbeat_interval)
                    self.connections += 1
                    await self._restore(ws)
                    self._connected.set()
                    ready()
                    await trio.sleep_forever()
                except (HcxError, *_NETWORK_ERRORS) as exc:
                    error = exc
                    nursery.cancel_scope.cancel()
        except* _NETWORK_ERRORS as group:
            error = _first_leaf(group)
        finally:
            self._ws = None
            self._session_scope = None
            if self._connected.is_set() and self._dead is None:
                self._connected = trio.Event()
            for msg_id, pending in list(self._queries.items()):
                if not pending.resend:
                    del self._queries[msg_id]
                    pending.fail(ConnectionLost("the connection dropped"))
            if stream is not None:
                await stream.aclose()
        return established, error

    async def _read_loop(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                frame = await ws.get_message()
                try:
                    message = decode(frame, self.subprotocol)
                except ProtocolError as exc:
                    log.warning("undecodable frame from the server: %s", exc)
                    continue
                await self._dispatch(message)
        except ConnectionClosed as exc:
            reason = exc.reason
            self.last_close = (reason.code, reason.reason) if reason else (1006, None)
            if self._closing:
                return  # aclose() is waiting for the close handshake to finish
        scope.cancel()

    async def _heartbeat(self, ws: WebSocketConnection, interval: float) -> None:
        """Ping; a connection that stays silent is dead even if TCP has not noticed."""
        try:
            while True:
                await trio.sleep(interval)
                with trio.move_on_after(self._heartbeat_timeout) as timer:
                    await ws.ping()
                if timer.cancelled_caught:
                    log.warning(
                        "no pong from %s in %s s: reconnecting", self.url, self._heartbeat_timeout
                    )
                    self.drop_connection()
                    return
        except ConnectionClosed:
            return

    async def _restore(self, ws: WebSocketConnection) -> None:
        """After a reconnect: resubscribe, then re-send every call still waiting."""
        for subscription in list(self._subscriptions.values()):
            await self._send_background(subscription, subscription.subscribe_message(), ws)
        for pending in list(self._queries.values()):
            if pending.resend:
                await self._transmit(pending.message, ws)
        for pending in list(self._commands.values()):
            self.resent += 1
            await self._transmit(pending.message, ws)

    # --- dispatch ----------------------------------------------------------------------

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        msg_id = message.get("id")
        if kind == "Error":
            self._on_error(message)
            return
        if kind in RESULT_TYPES:
            request_id = message.get("request_id")
            pending = self._commands.pop(request_id, None) if isinstance(request_id, str) else None
            if pending is not None:
                self._resolve(pending, message)
            return
        if msg_id is not None:
            pending = self._queries.pop(msg_id, None)
            if pending is not None:
                self._resolve(pending, message)
                return
            if self._background_ids.pop(msg_id, None) is not None:
                return
        route = _ROUTES.get(kind) if isinstance(kind, str) else None
        if route is None:
            return
        channel, by_symbol = route
        symbol = message.get("symbol") if by_symbol else None
        subscription = self._subscriptions.get((channel, symbol))
        if subscription is None and channel == "trades":
            subscription = self._subscriptions.get((channel, None))
        if subscription is None:
            return
        try:
            parsed = parse_message(message)
        except ValueError as exc:
            log.warning("%s", exc)
            return
        await subscription.offer(parsed)

    def _resolve(self, pending: _Pending, message: dict[str, Any]) -> None:
        try:
            pending.resolve(parse_message(message))
        except ValueError as exc:
            pending.fail(HcxError("invalid_message", str(exc)))

    def _on_error(self, message: dict[str, Any]) -> None:
        error = HcxError.from_wire(message)
        msg_id = message.get("id")
        if msg_id is not None:
            pending = self._queries.pop(msg_id, None)
            if pending is not None:
                pending.fail(error)
                return
            subscription = self._background_ids.pop(msg_id, None)
            if subscription is not None:
                self._subscriptions.pop(subscription.key, None)
                subscription.finish(error)
                return
        request_id = message.get("request_id")
        if isinstance(request_id, str):
            pending = self._commands.pop(request_id, None)
            if pending is not None:
                pending.fail(error)
                return
        if error.code == "unavailable":
            self.server_stopping = True
        self.notices.append(error)

    # --- sending -----------------------------------------------------------------------

    async def _transmit(
        self, message: dict[str, Any], ws: WebSocketConnection | None = None
    ) -> None:
        """Send on the current connection; if there is none, or it drops, the message
        is sent again after the reconnect (it is still registered as pending)."""
        ws = ws or self._ws
        if ws is None:
            return
        with suppress(ConnectionClosed):
            await ws.send_message(encode(message, self.subprotocol))

    async def _send_background(
        self, subscription: Subscription[Any], message: dict[str, Any], ws: WebSocketConnection
    ) -> None:
        msg_id = next(self._ids)
        self._background_ids[msg_id] = subscription
        await self._transmit({**message, "id": msg_id}, ws)

    async def _command(self, request: Request) -> Any:
        pending = self._commands.get(request.request_id)
        if pending is None:
            self._check_open()
            pending = self._commands[request.request_id] = _Pending(request.to_wire())
            await self._transmit(pending.message)
        return await pending.wait()

    async def _query(self, message: dict[str, Any], *, resend: bool = True) -> Any:
        self._check_open()
        msg_id = next(self._ids)
        pending = self._queries[msg_id] = _Pending({**message, "id": msg_id}, resend=resend)
        await self._transmit(pending.message)
        return await pending.wait()

    async def send_raw(self, message: dict[str, Any]) -> Any:
        """Send any message with a fresh ``id`` and return its typed answer (raises
        ``HcxError`` for an ``Error``). For messages this client has no method for."""
        return await self._query(message)

    # --- session -----------------------------------------------------------------------

    async def _authenticate_on(self, ws: WebSocketConnection, wallet: str, key: str | None) -> None:
        message: dict[str, Any] = {"type": "Authenticate", "wallet": wallet}
        if key is not None:
            message["key"] = key
        msg_id = next(self._ids)
        pending = self._queries[msg_id] = _Pending({**message, "id": msg_id}, resend=False)
        await self._transmit(pending.message, ws)
        answer = _expect(await pending.wait(), Authenticated)
        self.role = answer.role

    async def authenticate(self, wallet: str, key: str | None = None) -> Authenticated:
        """Authenticate this connection (and every reconnect) as ``wallet``. On
        ``auth_failed`` the previous identity stays."""
        self._check_open()
        await self._connected.wait()
        self._check_open()
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        await self._authenticate_on(ws, wallet, key)
        if wallet != self.wallet:
            for subscription in [
                s
                for s in self._subscriptions.values()
                if isinstance(s, PrivateSubscription) or s.channel == RFQ_CHANNEL
            ]:
                self._subscriptions.pop(subscription.key, None)
                subscription.finish(HcxError("auth_required", f"re-authenticated as {wallet!r}"))
        self.wallet, self._key = wallet, key
        return Authenticated(wallet=wallet, role=self.role or "")

    async def ping(self) -> Pong:
        return _expect(await self._query({"type": "Ping"}), Pong)

    # --- commands ----------------------------------------------------------------------

    def _stamp(self, request_id: str | None, ts: int | None) -> dict[str, Any]:
        return {
            "request_id": request_id or self._new_request_id(),
            "ts": self._now_ms() if ts is None else ts,
        }

    async def submit(self, request: Request) -> Any:
        """Send a prepared request (or the same one again) and return its result."""
        return await self._command(request)

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
        return _expect(await self._command(request), OrderResult)

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
        return _expect(await self._command(request), OrderResult)

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
        return _expect(await self._command(request), OrderResult)

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
        return _expect(await self._command(request), CancelAllResult)

    async def bulk_orders(self, orders: Sequence[OrderRequest]) -> BulkResult:
        """Up to 50 order requests in one frame; each succeeds or fails on its own. A
        retry re-sends the same items, so executed items answer with their stored
        results."""
        message = {"type": "BulkOrders", "orders": [order.to_wire() for order in orders]}
        return _expect(await self._query(message), BulkResult)

    async def withdraw(
        self, amount: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> BalanceResult:
        request = WithdrawRequest(amount=amount, **self._stamp(request_id, ts))
        return _expect(await self._command(request), BalanceResult)

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
        return _expect(await self._command(request), MmpResult)

    async def reset_mmp(
        self, underlying: str, *, request_id: str | None = None, ts: int | None = None
    ) -> MmpResult:
        """Lift a freeze on ``underlying`` (and start a fresh window)."""
        request = ResetMmpRequest(underlying=underlying, **self._stamp(request_id, ts))
        return _expect(await self._command(request), MmpResult)

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
        return _expect(await self._query(message, resend=False), RfqOpened).rfq_id

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
        return _expect(await self._query(message, resend=False), QuoteAck)

    async def accept_quote(
        self, rfq_id: str, quote_id: str, *, request_id: str | None = None, ts: int | None = None
    ) -> RfqResult:
        """Execute a quote on one's own RFQ: all legs at the quoted prices, or none. A
        journaled command like the order commands (re-sent after a reconnect; a repeat
        answers the stored result)."""
        request = AcceptQuoteRequest(
            rfq_id=rfq_id, quote_id=quote_id, **self._stamp(request_id, ts)
        )
        return _expect(await self._command(request), RfqResult)

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
        return _expect(await self._command(request), AdminResult)

    async def deposit(
        self, wallet: str, amount: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = DepositRequest(wallet=wallet, amount=amount, **self._stamp(request_id, ts))
        return _expect(await self._command(request), AdminResult)

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
        return _expect(await self._command(request), AdminResult)

    async def halt_instrument(
        self, symbol: str, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = HaltInstrumentRequest(symbol=symbol, **self._stamp(request_id, ts))
        return _expect(await self._command(request), AdminResult)

    async def settle(
        self, symbol: str, price: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        """Cash-settle the expired ``symbol`` at the underlying's settlement ``price``:
        every holder gets ``PositionExpired`` on its ``portfolio`` channel."""
        request = SettleRequest(symbol=symbol, price=price, **self._stamp(request_id, ts))
        return _expect(await self._command(request), AdminResult)

    # --- queries -----------------------------------------------------------------------

    async def get_open_orders(self, symbol: str | None = None) -> OpenOrders:
        message: dict[str, Any] = {"type": "GetOpenOrders"}
        if symbol is not None:
            message["symbol"] = symbol
        return _expect(await self._query(message), OpenOrders)

    async def get_portfolio(self) -> Portfolio:
        return _expect(await self._query({"type": "GetPortfolio"}), Portfolio)

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
        return _expect(await self._query(message), Order)

    async def get_instruments(self) -> tuple[Instrument, ...]:
        return _expect(await self._query({"type": "GetInstruments"}), Instruments).instruments

    # --- subscriptions -----------------------------------------------------------------

    @asynccontextmanager
    async def subscribe_book(self, symbol: str) -> AsyncIterator[BookSubscription]:
        """The book of ``symbol``: iterate to apply the snapshot and the updates."""
        async with self._subscribed(BookSubscription(self, symbol, self._queue_size)) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_trades(
        self, symbol: str | None = None
    ) -> AsyncIterator[Subscription[Trade]]:
        """Trades of ``symbol``, or of every symbol (not both on one client)."""
        trades = [key for key in self._subscriptions if key[0] == "trades"]
        if (symbol is None and trades) or ("trades", None) in trades:
            raise ValueError("subscribe to all trades or to trades per symbol, not both")
        subscription: Subscription[Trade] = Subscription(self, "trades", symbol, self._queue_size)
        async with self._subscribed(subscription) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_instruments(
        self,
    ) -> AsyncIterator[Subscription[Instrument | IndexPrice]]:
        subscription: Subscription[Instrument | IndexPrice] = Subscription(
            self, "instruments", None, self._queue_size
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
            self, RFQ_CHANNEL, None, self._queue_size
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
            self, channel, from_seq, self._queue_size
        )
        async with self._subscribed(subscription) as sub:
            yield sub

    @asynccontextmanager
    async def _subscribed(self, subscription: Subscription[Any]) -> AsyncIterator[Any]:
        key = subscription.key
        if key in self._subscriptions:
            raise ValueError(f"already subscribed to {key}")
        self._check_open()
        self._subscriptions[key] = subscription
        try:
            try:
                _expect(await self._query(subscription.subscribe_message()), Subscribed)
            except BaseException:
                self._subscriptions.pop(key, None)
                raise
            yield subscription
        finally:
            if self._subscriptions.get(key) is subscription:
                del self._subscriptions[key]
                message: dict[str, Any] = {"type": "Unsubscribe", "channel": subscription.channel}
                if subscription.symbol is not None:
                    message["symbol"] = subscription.symbol
                ws = self._ws
                if ws is not None and not self._closing:
                    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                        await self._send_background(subscription, message, ws)
            subscription.finish()

    async def resubscribe(self, subscription: Subscription[Any]) -> None:
        """Ask again for a subscription's channel (a book: for a new snapshot)."""
        ws = self._ws
        if ws is None or self._subscriptions.get(subscription.key) is not subscription:
            return  # the reconnect will resubscribe
        unsubscribe: dict[str, Any] = {"type": "Unsubscribe", "channel": subscription.channel}
        if subscription.symbol is not None:
            unsubscribe["symbol"] = subscription.symbol
        await self._send_background(subscription, unsubscribe, ws)
        await self._send_background(subscription, subscription.subscribe_message(), ws)


@asynccontextmanager
async def connect(
    url: str,
    *,
    wallet: str | None = None,
    key: str | None = None,
    subprotocol: str = SUBPROTOCOL_JSON,
    reconnect: bool = True,
    reconnect_timeout: float = 30.0,
    open_timeout: float = 10.0,
    queue_size: int = 10_000,
    heartbeat_interval: float | None = 20.0,
    heartbeat_timeout: float = 20.0,
    transport: Transport | None = None,
    request_ids: Callable[[], str] | None = None,
    clock_ms: Callable[[], int] | None = None,
) -> AsyncIterator[Client]:
    """Connect (and authenticate, if ``wallet`` is given) to an hcx server.

    Raises ``HcxError`` (``auth_failed``) or ``ConnectionLost`` if the first connection
    cannot be made. Afterwards a dropped connection is re-established for up to
    ``reconnect_timeout`` seconds (``reconnect=False``: calls fail with
    ``ConnectionLost`` instead); calls in flight are re-sent unchanged, so a command
    executes at most once (one re-sent after the server's ``ts`` window, 60 s by default,
    is refused with ``stale_request``). ``queue_size`` bounds each subscription's queue
    (the reader waits when it is full); ``heartbeat_interval`` is how often the client
    pings to notice a silently dead connection (``None``: never), giving up on a pong
    after ``heartbeat_timeout`` seconds.
    """
    client = Client(
        url,
        wallet=wallet,
        key=key,
        subprotocol=subprotocol,
        reconnect=reconnect,
        reconnect_timeout=reconnect_timeout,
        open_timeout=open_timeout,
        queue_size=queue_size,
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        transport=transport,
        request_ids=request_ids,
        clock_ms=clock_ms,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client._maintain)
            try:
                yield client
            finally:
                with trio.CancelScope(shield=True):
                    await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The background task does not raise: unwrap the caller's own exception.
        leaves = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for sub in error.exceptions for leaf in _leaves(sub)]
    return [error]


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    return _leaves(group)[0]


def _expect(answer: Any, cls: type[R]) -> R:
    if not isinstance(answer, cls):
        raise HcxError("unexpected_answer", f"expected {cls.__name__}, got {answer!r}")
    return answer


__all__ = ["Client", "connect"]
