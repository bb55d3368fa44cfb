"""A connection's outbound queue: bounded in messages and bytes, never awaited by others.

Publishers call ``offer`` from the release stage: it never blocks. When the queue is full
the connection is a slow consumer: the queue stops accepting, drops what it holds and
sets ``overflowed`` so the connection task closes the socket with 1008 and the protocol's
reason (the writer stops, so the close frame is not stuck behind a backlog). Messages are
encoded once per subprotocol by the caller (``Frames``) and shared between connections.

A network connection's queue holds complete WebSocket frames (``framed``, see ``wire``)
and its writer takes everything queued at once (``take``) to write it with one
``send_all``; an in-process connection's holds message dicts, handed over one by one.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from hcx.protocol import SUBPROTOCOL_LOCAL
from hcx.protocol.codec import encode
from hcx.service.gateway.wire import frame as ws_frame

LOCAL_FRAME_BYTES = 256
SLOW_CONSUMER_REASON = '{"error":"slow_consumer","recovery":"resubscribe"}'
FRAMED = "+frame"  # suffix of a Frames key: the encoding inside a WebSocket frame


class Frames:
    """One message, encoded lazily once per subprotocol (and framed once, for the
    connections that write frames)."""

    __slots__ = ("_encoded", "message")

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self._encoded: dict[str, Any] = {}

    def frame(self, key: str) -> Any:
        encoded = self._encoded.get(key)
        if encoded is None:
            if key.endswith(FRAMED):
                encoded = ws_frame(self.frame(key[: -len(FRAMED)]))
            else:
                encoded = encode(self.message, key)
            self._encoded[key] = encoded
        return encoded


class Outbound:
    def __init__(
        self,
        subprotocol: str,
        max_messages: int,
        max_bytes: int,
        *,
        framed: bool = False,
        interval_s: float = 0.0,
    ) -> None:
        self.subprotocol = subprotocol
        self.framed = framed and subprotocol != SUBPROTOCOL_LOCAL
        self.key = subprotocol + FRAMED if self.framed else subprotocol
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        # Queued or being written: what a slow consumer is measured by.
        self.queued_bytes = 0
        self.queued_messages = 0
        self.overflowed = trio.Event()
        self.closed = False
        self._queue: list[Any] = []
        self._queue_bytes = 0  # of ``_queue`` (not yet taken by the writer)
        self._wakeup: trio.Event | None = None
        # Channel traffic is written at most once per ``interval_s`` (answers at once).
        self.interval_s = interval_s
        self._urgent = False
        self._holding = False  # the writer waits for the interval: only urgent wakes it
        self._last_take = -math.inf

    def offer(self, message: dict[str, Any] | Frames, urgent: bool = True) -> bool:
        """Queue a message; False if the connection is closed or just overflowed. An
        ``urgent`` message (an answer to this connection) is written as soon as the writer
        runs, with whatever is queued before it; channel traffic (``urgent=False``) may
        wait for the connection's ``interval_s``."""
        if self.closed:
            return False
        if type(message) is Frames:
            frame = message._encoded.get(self.key) or message.frame(self.key)
        else:
            frame = encode(message, self.subprotocol)  # type: ignore[arg-type]
            if self.framed:
                frame = ws_frame(frame)
        # An in-process frame is a dict, not bytes: count it at a typical frame's size.
        size = LOCAL_FRAME_BYTES if type(frame) is dict else len(frame)
        if self.queued_bytes + size > self.max_bytes or self.queued_messages >= self.max_messages:
            self._overflow()
            return False
        self._queue.append(frame)
        self._queue_bytes += size
        self.queued_bytes += size
        self.queued_messages += 1
        if urgent or (
            # Half full: write now. Holding is for efficiency, and must not make a reader
            # that keeps up look slow.
            2 * self.queued_messages >= self.max_messages or 2 * self.queued_bytes >= self.max_bytes
        ):
            self._urgent = True
        elif self._holding:
            return True
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()
        return True

    async def take(self) -> tuple[list[Any], int]:
        """Everything queued and its size in bytes, once there is something; ``([], 0)``
        once the queue is closed. Call ``sent`` when it is written."""
        while True:
            if not self._queue:
                if self.closed:
                    return [], 0
                self._wakeup = wakeup = trio.Event()
                await wakeup.wait()
                continue
            if self._urgent or self.closed or not self.interval_s:
                break
            due = self._last_take + self.interval_s
            if trio.current_time() >= due:
                break
            # Only channel traffic, and the last write was recent: let more gather (one
            # write, one wakeup of the reader, for many updates) unless an answer comes.
            self._holding = True
            self._wakeup = wakeup = trio.Event()
            try:
                with trio.move_on_at(due):
                    await wakeup.wait()
            finally:
                self._holding = False
        if self.interval_s:
            self._last_take = trio.current_time()
        self._urgent = False
        batch, size = self._queue, self._queue_bytes
        self._queue, self._queue_bytes = [], 0
        return batch, size

    def sent(self, count: int, size: int) -> None:
        self.queued_messages -= count
        self.queued_bytes -= size

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _overflow(self) -> None:
        self.closed = True
        self.queued_bytes -= self._queue_bytes
        self.queued_messages -= len(self._queue)
        self._queue, self._queue_bytes = [], 0
        self.overflowed.set()
        self._wake()

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None:
            wakeup.set()
