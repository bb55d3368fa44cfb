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
``reconnect_timeout``; given several URLs, it moves on to the next after an attempt that
fails, and at once after a ``read_only`` answer from a standby), authenticates again,
resubscribes (private channels with ``from_seq``, the book for a new snapshot) and
re-sends every call still waiting: the same frames, so a command keeps its
``request_id`` and ``ts`` and the server answers a repeat of one that already executed
with the stored result. Nothing is executed twice;
the caller just sees its answer arrive later.
"""

from __future__ import annotations

import collections
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar, Unpack

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

import hcx.trio_websocket_fixes  # noqa: F401  (trio-websocket: no pong after our close)
from hcx.client.calls import Calls, expect
from hcx.client.endpoints import Endpoints
from hcx.client.errors import ConnectionLost, HcxError
from hcx.client.messages import (
    RESULT_TYPES,
    Authenticated,
    Subscribed,
    parse_message,
)
from hcx.client.options import ClientOptions, OptionFields, resolve
from hcx.client.pending import PendingCall
from hcx.client.requests import Request, new_request_id, now_ms
from hcx.client.subscriptions import PrivateSubscription, Subscription
from hcx.protocol import SUBPROTOCOL_LOCAL
from hcx.protocol.channels import (
    MESSAGE_CHANNELS,
    RFQ,
    TRADES,
)
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


class Client(Calls):
    """Use ``connect`` to get one. Every method is safe to call from many tasks at once.
    Settings: ``ClientOptions`` (``options``), or its fields as keyword arguments."""

    def __init__(
        self,
        url: str | Sequence[str],
        options: ClientOptions | None = None,
        **fields: Unpack[OptionFields],
    ) -> None:
        self.options = resolved = resolve(options, fields)
        self._transport = resolved.transport
        self._new_request_id = resolved.request_ids or new_request_id
        self._now_ms = resolved.clock_ms or now_ms
        subprotocol = resolved.subprotocol
        self._endpoints: Endpoints | None = None
        if self._transport is not None:
            subprotocol = SUBPROTOCOL_LOCAL
            self._local_url = url if isinstance(url, str) and url else "local://hcx"
        else:
            self._endpoints = Endpoints(
                url, ca_file=resolved.ca_file, ssl_context=resolved.ssl_context
            )
        self.subprotocol = subprotocol
        self.wallet = resolved.wallet
        self._key = resolved.key
        self.role: str | None = None
        # Set by a ``read_only`` answer: the session ends and the next URL is tried.
        self._move_on = False
        self._reconnect = resolved.reconnect
        self._reconnect_timeout = resolved.reconnect_timeout
        self._open_timeout = resolved.open_timeout
        self._queue_size = resolved.queue_size
        self._max_message_bytes = resolved.max_message_bytes
        self._heartbeat_interval = resolved.heartbeat_interval
        self._heartbeat_timeout = resolved.heartbeat_timeout

        self._ws: WebSocketConnection | None = None
        self._session_scope: trio.CancelScope | None = None
        self._closing = False
        self._dead: ConnectionLost | None = None
        self._ids = itertools.count(1)
        self._commands: dict[str, PendingCall] = {}
        self._queries: dict[int, PendingCall] = {}
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
    def url(self) -> str:
        """The URL in use (or tried next)."""
        return self._local_url if self._endpoints is None else self._endpoints.current.url

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
        untried = len(self._endpoints.all) - 1 if self._endpoints is not None else 0
        while True:
            established, error = await self._session(ready)
            moving_on = self._move_on or not established
            self._move_on = False
            if moving_on and self._endpoints is not None and len(self._endpoints.all) > 1:
                log.info("moving on from %s to %s", self.url, self._endpoints.advance().url)
            if not started:
                if untried and not isinstance(error, HcxError):
                    untried -= 1  # the first connection tries every URL once
                    continue
                if isinstance(error, HcxError):
                    raise error
                raise ConnectionLost(f"cannot connect to {self.url}: {error!r}") from error
            if self._closing:
                return
            if established:
                lost_at, delay = trio.current_time(), 0.0
                log.info("connection lost (%s); reconnecting to %s", self.last_close, self.url)
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
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | None = None
        endpoint = self._endpoints.current if self._endpoints is not None else None
        try:
            if endpoint is not None:
                assert self._endpoints is not None
                with trio.fail_after(self._open_timeout):
                    stream = await self._endpoints.open_stream(endpoint)
            async with trio.open_nursery() as nursery:
                self._session_scope = nursery.cancel_scope
                try:
                    with trio.fail_after(self._open_timeout):
                        if self._transport is not None:
                            ws = await self._transport(nursery)
                        else:
                            assert stream is not None and endpoint is not None
                            ws = await wrap_client_stream(
                                nursery,
                                stream,
                                endpoint.host_header,
                                endpoint.resource,
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
        route = MESSAGE_CHANNELS.get(kind) if isinstance(kind, str) else None
        if route is None:
            return
        channel, by_symbol = route
        symbol = message.get("symbol") if by_symbol else None
        subscription = self._subscriptions.get((channel, symbol))
        if subscription is None and channel == TRADES:
            subscription = self._subscriptions.get((channel, None))
        if subscription is None:
            return
        try:
            parsed = parse_message(message)
        except ValueError as exc:
            log.warning("%s", exc)
            return
        await subscription.offer(parsed)

    def _resolve(self, pending: PendingCall, message: dict[str, Any]) -> None:
        try:
            pending.resolve(parse_message(message))
        except ValueError as exc:
            pending.fail(HcxError("invalid_message", str(exc)))

    def _on_error(self, message: dict[str, Any]) -> None:
        error = HcxError.from_wire(message)
        endpoints = self._endpoints
        if error.code == "read_only" and endpoints is not None and len(endpoints.all) > 1:
            # A standby: what was asked stays pending and is sent again to the next URL.
            if not self._move_on:
                self._move_on = True
                self.drop_connection()
            return
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

    async def submit(self, request: Request[R]) -> R:
        """Send a prepared request (or the same one again) and return its result, of
        the request's own ``RESULT`` type."""
        pending = self._commands.get(request.request_id)
        if pending is None:
            self._check_open()
            pending = self._commands[request.request_id] = PendingCall(request.to_wire())
            await self._transmit(pending.message)
        answer: R = expect(await pending.wait(), request.RESULT)
        return answer

    async def _query(self, message: dict[str, Any], *, resend: bool = True) -> Any:
        self._check_open()
        msg_id = next(self._ids)
        pending = self._queries[msg_id] = PendingCall({**message, "id": msg_id}, resend=resend)
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
        if self.options.cancel_on_disconnect:
            message["cancel_on_disconnect"] = True
        msg_id = next(self._ids)
        pending = self._queries[msg_id] = PendingCall({**message, "id": msg_id}, resend=False)
        await self._transmit(pending.message, ws)
        answer = expect(await pending.wait(), Authenticated)
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
                if isinstance(s, PrivateSubscription) or s.channel == RFQ
            ]:
                self._subscriptions.pop(subscription.key, None)
                subscription.finish(HcxError("auth_required", f"re-authenticated as {wallet!r}"))
        self.wallet, self._key = wallet, key
        return Authenticated(wallet=wallet, role=self.role or "")

    # --- subscriptions (the methods are in ``Calls``) ------------------------------

    @asynccontextmanager
    async def _subscribed(self, subscription: Subscription[Any]) -> AsyncIterator[Any]:
        key = subscription.key
        if key in self._subscriptions:
            raise ValueError(f"already subscribed to {key}")
        self._check_open()
        self._subscriptions[key] = subscription
        try:
            try:
                expect(await self._query(subscription.subscribe_message()), Subscribed)
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
    url: str | Sequence[str],
    options: ClientOptions | None = None,
    **fields: Unpack[OptionFields],
) -> AsyncIterator[Client]:
    """Connect (and authenticate, if ``wallet`` is given) to an hcx server; the settings
    are ``ClientOptions``' (``options``, or its fields as keyword arguments). ``url``:
    ``ws://`` or ``wss://``, or a list of them to fail over to, in order (a primary and
    its standbys).

    Raises ``HcxError`` (``auth_failed``) or ``ConnectionLost`` if the first connection
    cannot be made. Afterwards a dropped connection is re-established for up to
    ``reconnect_timeout`` seconds (``reconnect=False``: calls fail with
    ``ConnectionLost`` instead); calls in flight are re-sent unchanged, so a command
    executes at most once (one re-sent after the server's ``ts`` window, 60 s by default,
    is refused with ``stale_request``).
    """
    client = Client(url, options, **fields)
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


__all__ = ["Client", "connect"]
