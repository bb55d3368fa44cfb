"""The gateway's listener: accepts WebSocket connections and runs each one's tasks; what
its sessions share lives in ``services``, what one session does in ``session``.

One task per connection reads frames and hands them to its ``Session``; a second task
drains the connection's ``Outbound`` queue into the socket, all that is queued in one
write (``wire``: frames built once, written under trio-websocket); a third pings every
``ping_interval_s`` and closes with 1008 when no pong comes within ``pong_timeout_s``.
trio-websocket enforces the frame limit (close 1009). A slow consumer is closed with 1008
and the protocol's JSON reason.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

import hcx.trio_websocket_fixes  # noqa: F401  (trio-websocket: no pong after our close)
from hcx.protocol import SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON
from hcx.service.clock import Clock
from hcx.service.exchange import Exchange
from hcx.service.gateway import disconnect
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.fanout import Fanout
from hcx.service.gateway.outbound import SLOW_CONSUMER_REASON, Outbound
from hcx.service.gateway.services import SessionServices
from hcx.service.gateway.session import Session
from hcx.service.gateway.wire import RawWriter, raw_writer
from hcx.service.metrics import Metrics

log = logging.getLogger("hcx.gateway")
WS_PATH = "/ws"
WRITE_CHUNK_BYTES = 256 * 1024


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        exchange: Exchange,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.services = SessionServices(config, exchange, metrics, clock)
        self.sessions: set[Session] = set()
        self._server: Any = None
        self.connection_count = 0

    @property
    def fanout(self) -> Fanout:
        return self.services.fanout

    @property
    def stopping(self) -> bool:
        return self.services.stopping

    # --- listening -------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    async def listen(
        self, handlers: trio.Nursery, *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept connections until cancelled; connections live in ``handlers``, so
        cancelling the listener stops new connections without dropping open ones."""
        if not self.services.read_only:
            await disconnect.close_stale(self.services)
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(
                    serve_websocket,
                    self._handle,
                    self.config.host,
                    self.config.port,
                    self.ssl_context(),
                    handler_nursery=handlers,
                    max_message_size=self.config.max_frame_bytes,
                    message_queue_size=64,
                )
            )
            self._server = server
            if not self.services.read_only:
                nursery.start_soon(disconnect.watch, self.services)
            task_status.started(server)

    @property
    def port(self) -> int:
        return int(self._server.port)

    async def _handle(self, request: WebSocketRequest) -> None:
        if request.path.split("?")[0] != WS_PATH:
            await request.reject(404, body=b"the hcx endpoint is /ws\n")
            return
        if self.connection_count >= self.config.max_connections or self.stopping:
            await request.reject(503, body=b"too many connections\n")
            return
        proposed = request.proposed_subprotocols
        if SUBPROTOCOL_CBOR in proposed:
            subprotocol = SUBPROTOCOL_CBOR
        elif SUBPROTOCOL_JSON in proposed or not proposed:
            subprotocol = SUBPROTOCOL_JSON
        else:
            await request.reject(400, body=b"subprotocols: hcx.v1.json or hcx.v1.cbor\n")
            return
        ws = await request.accept(subprotocol=subprotocol if proposed else None)
        remote = str(getattr(ws.remote, "address", ws.remote))
        await self.serve_connection(ws, subprotocol, remote)

    async def serve_connection(self, ws: Any, subprotocol: str, remote: str) -> None:
        """Run one accepted connection (a trio-websocket one, or an in-process
        ``hcx.service.local`` end) until it closes."""
        writer = raw_writer(ws)
        outbound = Outbound(
            subprotocol,
            self.config.outbound_messages,
            self.config.outbound_bytes,
            framed=writer is not None,
            interval_s=self.config.channel_interval_ms / 1000.0,
        )
        session = Session(self.services, outbound, remote)
        self.sessions.add(session)
        self.connection_count += 1
        self.metrics.connections.set(self.connection_count)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, ws, writer, outbound, nursery.cancel_scope)
                # A cut connection's cancel-on-disconnect goes in as the cut is decided,
                # not after its close handshake (up to close_timeout_s).
                cut = partial(disconnect.closed, self.services, session)
                nursery.start_soon(self._heartbeat, ws, nursery.cancel_scope, cut)
                nursery.start_soon(self._watch_overflow, ws, outbound, nursery.cancel_scope, cut)
                try:
                    while True:
                        frame = await ws.get_message()
                        await session.handle(frame)
                except ConnectionClosed:
                    pass
                nursery.cancel_scope.cancel()
        finally:
            session.close()
            await disconnect.closed(self.services, session)
            self.sessions.discard(session)
            self.connection_count -= 1
            self.metrics.connections.set(self.connection_count)

    async def _write(
        self,
        ws: WebSocketConnection,
        writer: RawWriter | None,
        outbound: Outbound,
        scope: trio.CancelScope,
    ) -> None:
        try:
            while True:
                batch, size = await outbound.take()
                if not batch:
                    return
                if writer is not None:
                    # Whole frames, all that is queued, in few send_alls; each at most
                    # WRITE_CHUNK_BYTES, so a close (a slow consumer's 1008) waits behind
                    # one chunk, not a backlog of megabytes.
                    for chunk in _chunks(batch, WRITE_CHUNK_BYTES):
                        await writer.write(chunk)
                else:
                    for frame in batch:
                        await ws.send_message(frame)
                outbound.sent(len(batch), size)
        except ConnectionClosed:
            # After an overflow the socket is closing on purpose: leave the connection to
            # ``_watch_overflow``, or the 1008 close frame would be cancelled unsent.
            if not outbound.overflowed.is_set():
                scope.cancel()

    async def _watch_overflow(
        self,
        ws: WebSocketConnection,
        outbound: Outbound,
        scope: trio.CancelScope,
        cut: Callable[[], Awaitable[None]],
    ) -> None:
        await outbound.overflowed.wait()
        self.metrics.slow_consumers.inc()
        await cut()
        log.info("closing slow consumer %s", ws.remote)
        with trio.move_on_after(self.config.close_timeout_s):
            await ws.aclose(code=1008, reason=SLOW_CONSUMER_REASON)
        scope.cancel()

    async def _heartbeat(
        self, ws: WebSocketConnection, scope: trio.CancelScope, cut: Callable[[], Awaitable[None]]
    ) -> None:
        try:
            while True:
                await trio.sleep(self.config.ping_interval_s)
                with trio.move_on_after(self.config.pong_timeout_s) as timer:
                    await ws.ping()
                if timer.cancelled_caught:
                    await cut()
                    with trio.move_on_after(self.config.close_timeout_s):
                        await ws.aclose(code=1008, reason="heartbeat timeout")
                    scope.cancel()
                    return
        except ConnectionClosed:
            scope.cancel()

    def announce_shutdown(self) -> None:
        self.services.stopping = True
        for session in list(self.sessions):
            session.outbound.offer(
                {"type": "Error", "code": "unavailable", "message": "the exchange is stopping"}
            )

    def close(self) -> None:
        self.services.close()


def _chunks(frames: list[bytes], limit: int) -> Iterator[bytes]:
    """Consecutive frames joined into pieces of at most ``limit`` bytes (a frame longer
    than that is a piece of its own)."""
    if len(frames) == 1:
        yield frames[0]
        return
    piece: list[bytes] = []
    size = 0
    for frame in frames:
        if piece and size + len(frame) > limit:
            yield b"".join(piece)
            piece, size = [], 0
        piece.append(frame)
        size += len(frame)
    if piece:
        yield b"".join(piece)
