"""Subscriptions: one async iterator per channel, fed by the client's reader task; never
sends anything itself (a book resubscribes through the callable it was given).

* ``Subscription`` yields a public channel's messages as they arrive. Public channels
  have no history: what was published while the connection was down is not replayed.
* ``PrivateSubscription`` (``orders``, ``fills``, ``portfolio``) delivers every message
  of the channel exactly once across reconnects. It remembers how far it got (see
  ``ResumePoint``) and resubscribes with ``from_seq``; the server replays from its
  journal and continues live.
* The ``rfq`` channel is private (``RfqRequest`` for quoters, ``RfqQuote`` for the
  taker) but, like the public channels, has no history: RFQs and quotes live in the
  server's memory only.
* ``BookSubscription`` keeps a local ``OrderBook`` from the snapshot and the updates,
  and resubscribes for a new snapshot when it sees a gap in ``seq``.

The reader task waits when a subscription's queue is full (backpressure, like TCP): a
subscription that nobody drains eventually stalls the connection, and the server then
cuts it as a slow consumer.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import trio

from hcx.client.book import BookGap, OrderBook
from hcx.client.messages import BookSnapshot, BookUpdate
from hcx.protocol.channels import BOOK

T = TypeVar("T")


class Subscription(Generic[T]):
    """An async iterator over the messages of one channel (and symbol)."""

    def __init__(self, channel: str, symbol: str | None, queue_size: int) -> None:
        self.channel = channel
        self.symbol = symbol
        self._send, self._receive = trio.open_memory_channel[Any](
            math.inf if queue_size <= 0 else queue_size
        )
        self._error: BaseException | None = None
        self.finished = False

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.channel, self.symbol)

    def subscribe_message(self) -> dict[str, Any]:
        """What to send to (re)subscribe."""
        message: dict[str, Any] = {"type": "Subscribe", "channel": self.channel}
        if self.symbol is not None:
            message["symbol"] = self.symbol
        return message

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        try:
            item: T = await self._receive.receive()
        except trio.EndOfChannel:
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None
        return item

    async def next(self, timeout: float | None = None) -> T:
        """The next message (``trio.TooSlowError`` after ``timeout`` seconds)."""
        if timeout is None:
            return await self.__anext__()
        with trio.fail_after(timeout):
            return await self.__anext__()

    def pending(self) -> int:
        """Messages received and not yet iterated."""
        return self._receive.statistics().current_buffer_used

    # --- called by the client -------------------------------------------------------

    async def offer(self, message: Any) -> None:
        if self.finished:
            return
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await self._send.send(message)  # raises if finished while waiting for room

    def finish(self, error: BaseException | None = None) -> None:
        """No more messages; iteration ends after the queued ones, raising ``error`` if
        one is given."""
        if not self.finished:
            self.finished = True
            self._error = error
            self._send.close()


class ResumePoint:
    """How far a private channel got, so a resubscription delivers each message once.

    Messages arrive in ``seq`` order and one command can produce several messages with
    the same ``seq`` (a ``Balance`` and a ``Position``; several ``Fill``s). Seeing ``seq``
    s proves that every message below s has arrived, but not that all of s has. So a
    resume asks for everything from ``s`` on (``from_seq = s - 1``) and skips the
    messages of ``s`` it already has: the server replays a command's messages in the
    same order it published them.
    """

    __slots__ = ("count", "current", "done", "skip")

    def __init__(self, start_seq: int) -> None:
        self.done = start_seq  # every message with seq <= done is delivered (or older)
        self.current: int | None = None  # the latest seq delivered
        self.count = 0  # messages of ``current`` delivered
        self.skip = 0  # messages of ``current`` to drop after a resume

    def accept(self, seq: int) -> bool:
        """True if the message with ``seq`` is new; False for one already delivered."""
        if seq <= self.done:
            return False
        if self.current is None or seq > self.current:
            self.done = seq - 1
            self.current = seq
            self.count = 1
            self.skip = 0
            return True
        if seq < self.current:
            return False
        if self.skip:
            self.skip -= 1
            return False
        self.count += 1
        return True

    def resume(self) -> int:
        """The ``from_seq`` to resubscribe with; arms the skipping of what was seen."""
        self.skip = self.count if self.current is not None else 0
        return self.done


class PrivateSubscription(Subscription[T]):
    """A private channel with exactly-once delivery across reconnects."""

    def __init__(self, channel: str, start_seq: int, queue_size: int) -> None:
        super().__init__(channel, None, queue_size)
        self.position = ResumePoint(start_seq)
        self.dropped_duplicates = 0

    def subscribe_message(self) -> dict[str, Any]:
        message = super().subscribe_message()
        message["from_seq"] = self.position.resume()
        return message

    async def offer(self, message: Any) -> None:
        seq = getattr(message, "seq", None)
        if isinstance(seq, int) and not self.position.accept(seq):
            self.dropped_duplicates += 1
            return
        await super().offer(message)


Resubscribe = Callable[[Subscription[Any]], Awaitable[None]]
"""Asks the server again for a subscription's channel (the client's ``resubscribe``)."""


class BookSubscription(Subscription[BookSnapshot | BookUpdate]):
    """Iterating yields each ``BookSnapshot`` and ``BookUpdate`` after applying it to
    ``book``, so ``book`` is always the state as of the message just returned. A gap in
    ``seq`` triggers a resubscription (``resubscribe``): updates are skipped until the new
    snapshot."""

    def __init__(self, symbol: str, queue_size: int, resubscribe: Resubscribe) -> None:
        super().__init__(BOOK, symbol, queue_size)
        self._resubscribe = resubscribe
        self.book = OrderBook(symbol)
        self.gaps = 0  # resubscriptions after a gap
        self.snapshots = 0
        self.stale = 0  # updates already contained in the snapshot, skipped

    async def __anext__(self) -> BookSnapshot | BookUpdate:
        while True:
            message = await super().__anext__()
            if isinstance(message, BookSnapshot):
                self.book.apply_snapshot(message)
                self.snapshots += 1
                return message
            if not self.book.synced:
                continue  # waiting for the snapshot of a resubscription
            try:
                if self.book.apply_update(message):
                    return message
                self.stale += 1
            except BookGap:
                self.gaps += 1
                self.book.reset()
                await self._resubscribe(self)

    async def synced(self, timeout: float | None = None) -> OrderBook:
        """Iterate until the book has a snapshot (the first message after subscribing)."""
        while not self.book.synced:
            await self.next(timeout)
        return self.book
