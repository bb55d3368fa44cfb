"""The gateway: the WebSocket listener and what its sessions share.

One task per connection reads frames and hands them to its ``Session``; a second task
drains the connection's ``Outbound`` queue into the socket, all that is queued in one
write (``wire``: frames built once, written under trio-websocket); a third pings every
``ping_interval_s`` and closes with 1008 when no pong comes within ``pong_timeout_s``.
trio-websocket enforces the frame limit (close 1009). A slow consumer is closed with 1008
and the protocol's JSON reason. Reads of journal history (resume) run on a reader
connection of their own, off the event loop.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

import hcx.trio_websocket_fixes  # noqa: F401  (trio-websocket: no pong after our close)
from hcx.durability.journal import MEMORY, Journal
from hcx.durability.records import decode_output_object, decode_record
from hcx.protocol import SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON
from hcx.service.clock import Clock
from hcx.service.exchange import Exchange
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.fanout import CHANNEL_OF_EVENT, Fanout
from hcx.service.gateway.keys import KeyStore
from hcx.service.gateway.limits import BucketMap
from hcx.service.gateway.outbound import SLOW_CONSUMER_REASON, Outbound
from hcx.service.gateway.rfq import RfqDesk
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
        self.exchange = exchange
        # A standby's gateway (``hcx.replication.replica``): commands are refused.
        self.read_only: bool = getattr(exchange, "read_only", False)
        self.metrics = metrics
        self.clock = clock
        self.fanout = Fanout(config.recent_orders_kept)
        self.rfq = RfqDesk(config.rfq_ttl_ms)
        exchange.add_publisher(self.fanout.publish)
        self.order_rate = BucketMap(config.order_rate_per_wallet, config.order_burst_per_wallet)
        self._failures: dict[str, collections.deque[float]] = {}
        self.sessions: set[Session] = set()
        self.stopping = False
        db = exchange.config.db
        self._memory = exchange.config.durability == "memory"
        self._reader = exchange.writer.journal if self._memory else Journal(db)
        self._reader_limiter = exchange.writer.limiter if self._memory else trio.CapacityLimiter(1)
        self._keys = KeyStore(self._reader if not self._memory else Journal(MEMORY))
        self._server: Any = None
        self.connection_count = 0

    # --- shared services for sessions ------------------------------------------------

    async def verify_key(self, wallet: str, key: str) -> str | None:
        role: str | None = await trio.to_thread.run_sync(
            self._keys.verify, wallet, key, limiter=self._reader_limiter
        )
        return role

    def failed_auth_wait_ms(self, remote: str) -> float:
        failures = self._failures.get(remote)
        if not failures:
            return 0.0
        now = time.monotonic()
        while failures and failures[0] < now - 60.0:
            failures.popleft()
        if len(failures) < self.config.failed_auth_per_minute:
            return 0.0
        return (failures[0] + 60.0 - now) * 1000.0

    def begin_auth_attempt(self, remote: str) -> float:
        """Count an attempt against ``remote`` before its key is checked: the check is slow
        and awaited, so attempts racing in on many connections must not all pass the limit
        first. Returns the attempt's stamp for ``end_auth_attempt``."""
        if len(self._failures) > 100_000:
            self._failures.clear()
        stamp = time.monotonic()
        self._failures.setdefault(remote, collections.deque()).append(stamp)
        return stamp

    def end_auth_attempt(self, remote: str, stamp: float, *, ok: bool) -> None:
        """A failed attempt stays counted; a successful one is taken back."""
        if not ok:
            self.metrics.auth_failures.inc()
            return
        failures = self._failures.get(remote)
        if failures is not None:
            with contextlib.suppress(ValueError):  # already pruned or cleared
                failures.remove(stamp)

    async def first_kept_seq(self) -> int:
        def first() -> int:
            rows: Any = list(self._reader.connection.execute("SELECT min(seq) FROM journal"))
            return int(rows[0][0] or 1)

        return await trio.to_thread.run_sync(first, limiter=self._reader_limiter)

    async def history(self, wallet: str, channel: str, after: int, upto: int) -> list[Any]:
        """Events of ``channel`` for ``wallet`` in records ``after < seq <= upto``."""

        def read() -> list[Any]:
            events = []
            for seq, _, _, blob, _, _ in self._reader.scan(after):
                if seq > upto:
                    break
                for data in decode_record(blob).events:
                    event = decode_output_object(data)
                    if CHANNEL_OF_EVENT.get(type(event)) == channel and event.wallet == wallet:
                        events.append(event)
            return events

        result: list[Any] = await trio.to_thread.run_sync(read, limiter=self._reader_limiter)
        return result

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
        session = Session(self, outbound, remote)
        self.sessions.add(session)
        self.connection_count += 1
        self.metrics.connections.set(self.connection_count)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, ws, writer, outbound, nursery.cancel_scope)
                nursery.start_soon(self._heartbeat, ws, nursery.cancel_scope)
                nursery.start_soon(self._watch_overflow, ws, outbound, nursery.cancel_scope)
                try:
                    while True:
                        frame = await ws.get_message()
                        await session.handle(frame)
                except ConnectionClosed:
                    pass
                nursery.cancel_scope.cancel()
        finally:
            session.close()
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
        self, ws: WebSocketConnection, outbound: Outbound, scope: trio.CancelScope
    ) -> None:
        await outbound.overflowed.wait()
        self.metrics.slow_consumers.inc()
        log.info("closing slow consumer %s", ws.remote)
        with trio.move_on_after(self.config.close_timeout_s):
            await ws.aclose(code=1008, reason=SLOW_CONSUMER_REASON)
        scope.cancel()

    async def _heartbeat(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                await trio.sleep(self.config.ping_interval_s)
                with trio.move_on_after(self.config.pong_timeout_s) as timer:
                    await ws.ping()
                if timer.cancelled_caught:
                    with trio.move_on_after(self.config.close_timeout_s):
                        await ws.aclose(code=1008, reason="heartbeat timeout")
                    scope.cancel()
                    return
        except ConnectionClosed:
            scope.cancel()

    def announce_shutdown(self) -> None:
        self.stopping = True
        for session in list(self.sessions):
            session.outbound.offer(
                {"type": "Error", "code": "unavailable", "message": "the exchange is stopping"}
            )

    def close(self) -> None:
        if not self._memory:
            self._reader.close()


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
