"""The simulator's channels: engine events to callbacks and queues, synchronously.

Routing is the gateway fan-out's: private events (orders, fills, portfolio) by wallet,
book updates by symbol, trades by symbol and to everyone listening to all trades,
instrument and index changes to everyone, RFQ traffic by wallet. A message is built
(``hcx.client`` classes, the ones a client's channels deliver) only when someone listens,
and once for all of them. It never sequences, reads the clock or blocks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hcx.client.messages import parse_message
from hcx.engine.outputs import (
    Balance,
    BookUpdate,
    Fill,
    IndexPrice,
    InstrumentUpdate,
    OrderUpdate,
    Position,
    PositionExpired,
    Trade,
)
from hcx.protocol.trades import NumberedTrade, trade_message
from hcx.simulator.typed import message_of

PRIVATE_CHANNELS = ("orders", "fills", "portfolio")
CHANNELS = ("book", "trades", "instruments", "rfq", *PRIVATE_CHANNELS)
_CHANNEL_OF_EVENT: dict[type, str] = {
    OrderUpdate: "orders",
    Fill: "fills",
    Balance: "portfolio",
    Position: "portfolio",
    PositionExpired: "portfolio",
}
Handler = Callable[[Any], None]
Key = tuple[str, str | None]


class EventQueue:
    """A channel's messages in arrival order, for code that polls instead of calling
    back: ``pending()``, ``get()`` (None when empty), ``drain()``, or iterate (drains)."""

    def __init__(self, hub: EventHub, key: Key) -> None:
        self._items: deque[Any] = deque()
        self._hub = hub
        self._key = key
        self.closed = False

    def __call__(self, message: Any) -> None:
        self._items.append(message)

    def pending(self) -> int:
        return len(self._items)

    def get(self) -> Any:
        return self._items.popleft() if self._items else None

    def drain(self) -> list[Any]:
        items = list(self._items)
        self._items.clear()
        return items

    def __iter__(self) -> Iterator[Any]:
        while self._items:
            yield self._items.popleft()

    def close(self) -> None:
        """Stop receiving (what is queued stays readable)."""
        if not self.closed:
            self.closed = True
            self._hub.remove(self._key, self)


class EventHub:
    def __init__(self) -> None:
        self.routes: dict[Key, list[Handler]] = {}
        # Whether anyone listens to a channel of engine events (not only ``rfq``, which
        # ``deliver`` serves): otherwise a command's events need not be looked at.
        self.wants_events = False

    def add(self, key: Key, handler: Handler) -> Callable[[], None]:
        self.routes.setdefault(key, []).append(handler)
        self._listening()
        return lambda: self.remove(key, handler)

    def remove(self, key: Key, handler: Handler) -> None:
        handlers = self.routes.get(key)
        if handlers is not None and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self.routes[key]
                self._listening()

    def _listening(self) -> None:
        self.wants_events = any(channel != "rfq" for channel, _ in self.routes)

    def publish(self, events: Iterable[Any], trades: Iterable[NumberedTrade]) -> None:
        """Deliver one command's events, in order, to whoever listens; ``trades`` are its
        ``Trade`` events as numbered by the trade history, in the same order (a trade
        goes out as the server sends it: ``seq`` its number within its symbol)."""
        routes = self.routes
        numbered = iter(trades)
        for event in events:
            kind = type(event)
            channel = _CHANNEL_OF_EVENT.get(kind)
            if channel is not None:
                self._send(routes.get((channel, event.wallet)), event)
            elif kind is BookUpdate:
                self._send(routes.get(("book", event.symbol)), event)
            elif kind is Trade:
                row = next(numbered)
                by_symbol = routes.get(("trades", event.symbol))
                everyone = routes.get(("trades", None))
                if by_symbol or everyone:
                    parsed = parse_message(trade_message(event.symbol, row))
                    for handlers in (by_symbol, everyone):
                        for handler in list(handlers or ()):
                            handler(parsed)
            elif kind is InstrumentUpdate or kind is IndexPrice:
                self._send(routes.get(("instruments", None)), event)

    def deliver(self, key: Key, message: dict[str, Any]) -> None:
        """A message that is not an engine event (RFQ traffic), as a wire object."""
        handlers = self.routes.get(key)
        if handlers:
            parsed = parse_message(message)
            for handler in list(handlers):
                handler(parsed)

    def deliver_to_quoters(self, message: dict[str, Any], except_wallet: str) -> None:
        """An RFQ to every wallet listening on ``rfq`` but the one that asked (every
        simulator session may quote, as every embedded session is an admin)."""
        parsed = None
        for (channel, wallet), handlers in list(self.routes.items()):
            if channel == "rfq" and wallet != except_wallet:
                parsed = parsed or parse_message(message)
                for handler in list(handlers):
                    handler(parsed)

    @staticmethod
    def _send(handlers: list[Handler] | None, event: Any) -> None:
        if not handlers:
            return
        message = message_of(event)
        for handler in list(handlers):
            handler(message)
