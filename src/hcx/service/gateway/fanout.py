"""Fan-out: released outputs to the connections subscribed to them.

The release stage calls ``publish`` with committed entries, in order; each event goes to
the subscriptions of its channel and key (a symbol, or the wallet for private channels).
A message is turned into a wire dict only when someone listens, and encoded once per
subprotocol for all of them. Delivery never blocks: a full connection is cut off by its
own ``Outbound``.

Also kept here, from the same released stream: the final state of recently closed
orders, so ``GetOrder`` can answer for an order that has left the book.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hcx.durability.trade_history import TradeHistory
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
from hcx.protocol.channels import BOOK, FILLS, INSTRUMENTS, ORDERS, PORTFOLIO, TRADES
from hcx.protocol.messages import to_wire
from hcx.protocol.trades import trade_message
from hcx.sequencing import JournalEntry
from hcx.service.gateway.outbound import Frames, Outbound

CHANNEL_OF_EVENT: dict[type, str] = {
    OrderUpdate: ORDERS,
    Fill: FILLS,
    Balance: PORTFOLIO,
    Position: PORTFOLIO,
    PositionExpired: PORTFOLIO,
}
# Not a protocol channel: where quoters who subscribed to ``rfq`` receive RFQ requests.
RFQ_QUOTERS = "rfq_quoters"


class Subscription:
    """One connection's interest in one channel; buffers while a resume replays.

    Public market data (``urgent=False``: book, trades, instruments) may wait for the
    connection's ``channel_interval_ms`` so that one write carries many updates; private
    channels and RFQ traffic are written as soon as the connection's writer runs."""

    __slots__ = ("buffer", "limit", "outbound", "urgent")

    def __init__(
        self,
        outbound: Outbound,
        *,
        buffering: bool = False,
        limit: int = 10_000,
        urgent: bool = True,
    ):
        self.outbound = outbound
        self.buffer: list[Frames] | None = [] if buffering else None
        self.limit = limit
        self.urgent = urgent

    def deliver(self, frames: Frames) -> None:
        if self.buffer is None:
            self.outbound.offer(frames, self.urgent)
        elif len(self.buffer) < self.limit:
            self.buffer.append(frames)
        else:
            self.outbound._overflow()

    def go_live(self) -> None:
        buffered, self.buffer = self.buffer or [], None
        for frames in buffered:
            self.outbound.offer(frames, self.urgent)


Key = tuple[str, str | None]


class Fanout:
    def __init__(self, recent_orders_kept: int = 100_000) -> None:
        # (channel, symbol-or-wallet) -> subscriptions, in subscription order.
        self.routes: dict[Key, dict[Subscription, None]] = {}
        self.recent_orders: OrderedDict[int, OrderUpdate] = OrderedDict()
        self.recent_orders_kept = recent_orders_kept
        # Numbers every released trade per symbol (the wire's Trade.seq), listened to
        # or not; the gateway replaces it with one loaded from the journal.
        self.trade_history = TradeHistory()

    def add(self, channel: str, key: str | None, subscription: Subscription) -> None:
        self.routes.setdefault((channel, key), {})[subscription] = None

    def remove(self, channel: str, key: str | None, subscription: Subscription) -> None:
        subscriptions = self.routes.get((channel, key))
        if subscriptions is not None:
            subscriptions.pop(subscription, None)
            if not subscriptions:
                del self.routes[(channel, key)]

    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self.routes.values())

    def publish(self, entries: list[JournalEntry]) -> None:
        routes = self.routes
        for entry in entries:
            for event in entry.output.events:
                kind = type(event)
                if kind is OrderUpdate:
                    self._remember(event)  # type: ignore[arg-type]
                channel = CHANNEL_OF_EVENT.get(kind)
                if channel is not None:
                    self._send(routes.get((channel, event.wallet)), event)  # type: ignore[union-attr]
                elif kind is BookUpdate:
                    self._send(routes.get((BOOK, event.symbol)), event)  # type: ignore[union-attr]
                elif kind is Trade:
                    self._trade(event)  # type: ignore[arg-type]
                elif kind is InstrumentUpdate or kind is IndexPrice:
                    self._send(routes.get((INSTRUMENTS, None)), event)

    def deliver_to(self, channel: str, key: str | None, message: dict[str, Any]) -> None:
        """Publish a message that is not an engine event (RFQ traffic)."""
        subscriptions = self.routes.get((channel, key))
        if subscriptions:
            frames = Frames(message)
            for subscription in list(subscriptions):
                subscription.deliver(frames)

    def deliver_to_quoters(self, message: dict[str, Any], except_wallet: str) -> None:
        """An RFQ request to every quoter but the wallet that asked (quoters subscribe
        to ``rfq`` under their wallet)."""
        frames = Frames(message)
        for (channel, wallet), subscriptions in list(self.routes.items()):
            if channel == RFQ_QUOTERS and wallet != except_wallet:
                for subscription in list(subscriptions):
                    subscription.deliver(frames)

    def _send(self, subscriptions: dict[Subscription, None] | None, event: Any) -> None:
        if not subscriptions:
            return
        frames = Frames(to_wire(event))
        # No copy of the routes: delivering never changes them (a full queue only flags
        # its connection; the routes change when that connection's task closes it).
        for subscription in subscriptions:
            if subscription.buffer is None:
                subscription.outbound.offer(frames, subscription.urgent)
            else:
                subscription.deliver(frames)

    def _trade(self, event: Trade) -> None:
        row = self.trade_history.add(event)
        if row is None:
            return
        by_symbol = self.routes.get((TRADES, event.symbol))
        everything = self.routes.get((TRADES, None))
        if not by_symbol and not everything:
            return
        frames = Frames(trade_message(event.symbol, row))
        for subscriptions in (by_symbol, everything):
            for subscription in subscriptions or ():
                subscription.deliver(frames)

    def _remember(self, update: OrderUpdate) -> None:
        recent = self.recent_orders
        recent[update.order_id] = update  # type: ignore[index]
        recent.move_to_end(update.order_id)  # type: ignore[arg-type]
        if len(recent) > self.recent_orders_kept:
            recent.popitem(last=False)
