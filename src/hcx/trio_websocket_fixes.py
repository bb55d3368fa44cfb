"""A fix for trio-websocket (0.12.2 and earlier), applied on import by the gateway and the
client.

trio-websocket's reader task answers every ping with a pong, even on a connection whose
Close frame it has already sent; wsproto refuses to send that pong (``LocalProtocolError``)
and the exception escapes the reader task. In ``hcx serve`` that task runs in the
gateway's handler nursery, so one ping racing a close stopped the whole server: a slow
consumer's client pinging just after the server cut it (close 1008), any client pinging
while the server closes its connection. In ``hcx.client`` it escaped ``connect()`` when
the server's heartbeat ping crossed the client's own close. RFC 6455 asks for a pong only
until a Close frame is exchanged, so a connection that has sent its Close now skips it.
Upstream: python-trio/trio-websocket#184 (fix proposed in #198).
"""

from __future__ import annotations

from typing import Any

from trio_websocket._impl import WebSocketConnection
from wsproto.connection import ConnectionState


async def _handle_ping_event(self: Any, event: Any) -> None:
    # No await between the check and wsproto's send: the state cannot change in between.
    if self._wsproto.state == ConnectionState.OPEN:
        await self._send(event.response())


if hasattr(WebSocketConnection, "_handle_ping_event"):  # the method this replaces
    WebSocketConnection._handle_ping_event = _handle_ping_event  # type: ignore[method-assign]
