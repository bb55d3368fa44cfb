"""An in-process WebSocket: two ends joined by memory channels, for the embedded API.

Each end offers the part of trio-websocket's ``WebSocketConnection`` that the gateway and
the client use (``send_message``, ``get_message``, ``ping``, ``aclose``, ``remote``), so
an embedded program talks to the very same gateway session as a network client: the same
validation, the same durability boundary, the same typed client. Frames are message
dicts (``hcx.v1.local``), never encoded. The channels are bounded like a socket buffer,
so a reader that stops reading is a slow consumer here too.
"""

from __future__ import annotations

from typing import Any

import trio
from trio_websocket import CloseReason, ConnectionClosed

BUFFER_FRAMES = 1_024


class _Shared:
    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: CloseReason | None = None


class LocalEnd:
    def __init__(
        self,
        incoming: trio.MemoryReceiveChannel[Any],
        outgoing: trio.MemorySendChannel[Any],
        shared: _Shared,
        remote: str,
    ) -> None:
        self._incoming = incoming
        self._outgoing = outgoing
        self._shared = shared
        self.remote = remote
        self.subprotocol = "hcx.v1.local"

    @property
    def closed(self) -> CloseReason | None:
        return self._shared.reason

    def _closed_error(self) -> ConnectionClosed:
        return ConnectionClosed(self._shared.reason or CloseReason(1006, None))

    async def send_message(self, message: Any) -> None:
        if self._shared.reason is not None:
            raise self._closed_error()
        try:
            await self._outgoing.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._closed_error() from None

    async def get_message(self) -> Any:
        try:
            return await self._incoming.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise self._closed_error() from None

    async def ping(self, payload: bytes | None = None) -> None:
        if self._shared.reason is not None:
            raise self._closed_error()
        await trio.lowlevel.checkpoint()

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        if self._shared.reason is None:
            self._shared.reason = CloseReason(code, reason)
        self._outgoing.close()
        self._incoming.close()
        await trio.lowlevel.checkpoint()


def local_pair(remote: str = "local") -> tuple[LocalEnd, LocalEnd]:
    """(client end, server end) of one in-process connection."""
    to_server, from_client = trio.open_memory_channel[Any](BUFFER_FRAMES)
    to_client, from_server = trio.open_memory_channel[Any](BUFFER_FRAMES)
    shared = _Shared()
    client = LocalEnd(from_server, to_server, shared, "server")
    server = LocalEnd(from_client, to_client, shared, remote)
    return client, server
