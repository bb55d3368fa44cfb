"""A local copy of one order book, kept from a ``BookSnapshot`` and the ``BookUpdate``s
after it. Sans-I/O: it never asks for a new snapshot itself, it only says when it needs
one (``BookGap``)."""

from __future__ import annotations

from decimal import Decimal

from hcx.client.messages import BookSnapshot, BookUpdate, Level


class BookGap(Exception):
    """An update's ``seq`` is not the next one: updates were missed."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"book update seq {got}, expected {expected}")
        self.expected = expected
        self.got = got


class OrderBook:
    """Aggregated price levels of one symbol. ``seq`` is ``None`` until a snapshot."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seq: int | None = None
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}

    @property
    def synced(self) -> bool:
        return self.seq is not None

    def reset(self) -> None:
        """Forget everything: the next message that counts is a snapshot."""
        self.seq = None
        self._bids.clear()
        self._asks.clear()

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        self._bids = {price: size for price, size in snapshot.bids if size}
        self._asks = {price: size for price, size in snapshot.asks if size}
        self.seq = snapshot.seq

    def apply_update(self, update: BookUpdate) -> bool:
        """Apply ``update``; False (and no change) for an update this book already has.
        Raises ``BookGap`` if updates are missing, ``RuntimeError`` before a snapshot."""
        if self.seq is None:
            raise RuntimeError("no snapshot yet")
        if update.seq <= self.seq:
            return False
        if update.seq != self.seq + 1:
            raise BookGap(self.seq + 1, update.seq)
        _merge(self._bids, update.bids)
        _merge(self._asks, update.asks)
        self.seq = update.seq
        return True

    @property
    def bids(self) -> list[Level]:
        """Bid levels, best (highest) first."""
        return sorted(self._bids.items(), reverse=True)

    @property
    def asks(self) -> list[Level]:
        """Ask levels, best (lowest) first."""
        return sorted(self._asks.items())

    def best_bid(self) -> Level | None:
        return max(self._bids.items()) if self._bids else None

    def best_ask(self) -> Level | None:
        return min(self._asks.items()) if self._asks else None

    def __repr__(self) -> str:
        return f"OrderBook({self.symbol!r}, seq={self.seq}, bids={self.bids}, asks={self.asks})"


def _merge(side: dict[Decimal, Decimal], levels: tuple[Level, ...]) -> None:
    for price, size in levels:
        if size:
            side[price] = size
        else:
            side.pop(price, None)
