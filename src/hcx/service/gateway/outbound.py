"""A connection's outbound queue: bounded in messages and bytes, never awaited by others.

Publishers call ``offer`` from the release stage: it never blocks. When the queue is full
the connection is a slow consumer: the queue stops accepting and ``overflowed`` is set so
the connection task closes the socket with 1008 and the protocol's reason. Frames are
encoded once per subprotocol by the caller (``Frames``) and shared between connections.
"""

from __future__ import annotations

from typing import Any

import trio

from hcx.protocol.codec import encode

LOCAL_FRAME_BYTES = 256
SLOW_CONSUMER_REASON = '{"error":"slow_consumer","recovery":"resubscribe"}'


class Frames:
    """One message, encoded lazily once per subprotocol."""

    __slots__ = ("_encoded", "message")

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self._encoded: dict[str, Any] = {}

    def frame(self, subprotocol: str) -> Any:
        frame = self._encoded.get(subprotocol)
        if frame is None:
            frame = self._encoded[subprotocol] = encode(self.message, subprotocol)
        return frame


class Outbound:
    def __init__(self, subprotocol: str, max_messages: int, max_bytes: int) -> None:
        self.subprotocol = subprotocol
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.overflowed = trio.Event()
        self.closed = False
        self._send, self.receive = trio.open_memory_channel[Any](max_messages)

    def offer(self, message: dict[str, Any] | Frames) -> bool:
        """Queue a message; False if the connection is closed or just overflowed."""
        if self.closed:
            return False
        if isinstance(message, Frames):
            frame = message.frame(self.subprotocol)
        else:
            frame = encode(message, self.subprotocol)
        # An in-process frame is a dict, not bytes: count it at a typical frame's size.
        size = len(frame) if not isinstance(frame, dict) else LOCAL_FRAME_BYTES
        if self.queued_bytes + size > self.max_bytes:
            self._overflow()
            return False
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self._overflow()
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self.closed = True
            return False
        self.queued_bytes += size
        return True

    def sent(self, frame: Any) -> None:
        self.queued_bytes -= len(frame) if not isinstance(frame, dict) else LOCAL_FRAME_BYTES

    def close(self) -> None:
        self.closed = True
        self._send.close()

    def _overflow(self) -> None:
        self.closed = True
        self.overflowed.set()
