"""Writing WebSocket frames under trio-websocket: frame once, one ``send_all`` per batch.

trio-websocket sends every message on its own: wsproto frames it, then ``_send`` writes
it with one ``send_all`` under the connection's ``_stream_lock``. A server's frames are
not masked, so one message's frame is the same bytes for every connection of a
subprotocol as long as no extension (permessage-deflate) is negotiated. The gateway
therefore frames each message once (``frame``; ``Frames`` shares the result between the
subscribers of a book) and each connection's writer joins whatever is queued and writes
it with one ``send_all`` (``RawWriter.write``): still one protocol message per frame.

Close, ping and pong frames, the handshake and all reading stay with trio-websocket.
What this relies on, checked once per connection by ``raw_writer`` (which answers
``None``, keeping the connection on ``send_message``, when anything differs) and pinned
by ``tests/e2e/test_wire.py``:

- trio-websocket (0.12) ``WebSocketConnection`` attributes: ``_stream`` (the trio stream),
  ``_stream_lock`` (held by ``_send`` around each ``send_all``: taking it too keeps our
  writes whole between its ping, pong and close frames), ``_wsproto`` (wsproto's
  ``WSConnection``), ``_close_reason`` (set once it closes) and ``_abort_web_socket``
  (what ``_send`` calls when the stream breaks);
- wsproto (1.2, 1.3) keeps no state across complete outgoing data messages (its
  ``FrameProtocol._outbound_opcode`` is reset by ``fin=True``, and trio-websocket sends no
  fragments), so bytes written past it leave it consistent. Its ``state`` is read under
  the lock before each write: once a Close frame has been generated (our ``aclose`` or the
  answer to the peer's) no data follows, exactly what wsproto itself would allow;
- the server side of the connection, with no extension negotiated
  (``connection._proto.extensions`` empty: trio-websocket's ``accept`` offers none).
"""

from __future__ import annotations

from typing import Any

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection
from wsproto.connection import ConnectionState

_TEXT = 0x81  # FIN + text opcode
_BINARY = 0x82  # FIN + binary opcode
_CLOSING = CloseReason(1000, "closing")


def frame(payload: str | bytes) -> bytes:
    """One complete, unmasked server frame: text for ``str``, binary for ``bytes``."""
    if isinstance(payload, str):
        data = payload.encode("utf-8")
        first = _TEXT
    else:
        data = payload
        first = _BINARY
    size = len(data)
    if size < 126:
        return bytes((first, size)) + data
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + data
    return bytes((first, 127)) + size.to_bytes(8, "big") + data


class RawWriter:
    """Writes pre-framed data messages on a trio-websocket server connection."""

    __slots__ = ("_lock", "_stream", "_ws", "_wsproto")

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws: Any = ws
        self._stream = ws._stream
        self._lock = ws._stream_lock
        self._wsproto = ws._wsproto

    async def write(self, data: bytes) -> None:
        """Write ``data`` (whole frames) in one ``send_all``; ``ConnectionClosed`` once the
        connection is closing, like ``send_message``."""
        ws = self._ws
        async with self._lock:
            # Read under the lock: a Close frame generated while we waited is already
            # written (or next in line), and no data may follow it.
            if ws._close_reason is not None:
                raise ConnectionClosed(ws._close_reason)
            if self._wsproto.state is not ConnectionState.OPEN:
                raise ConnectionClosed(_CLOSING)
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await ws._abort_web_socket()
                raise ConnectionClosed(ws._close_reason or _CLOSING) from None


_RELIED_ON = ("_stream", "_stream_lock", "_wsproto", "_close_reason", "_abort_web_socket")


def raw_writer(ws: Any) -> RawWriter | None:
    """A ``RawWriter`` for ``ws`` if it is an open trio-websocket server connection with no
    extension negotiated and the internals described above; else ``None``."""
    if not isinstance(ws, WebSocketConnection) or ws.is_client:
        return None
    if not all(hasattr(ws, name) for name in _RELIED_ON) or ws._close_reason is not None:
        return None
    connection = getattr(ws._wsproto, "connection", None)
    proto = getattr(connection, "_proto", None)
    if (
        connection is None
        or connection.state is not ConnectionState.OPEN
        or getattr(proto, "extensions", None) != []
        or getattr(proto, "_outbound_opcode", False) is not None
    ):
        return None
    return RawWriter(ws)
