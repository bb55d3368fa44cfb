"""One instrument's order book: price levels in price-time priority.

Each side maps price -> level in a dict and keeps its prices in a sorted list beside it,
so the best price is an end of that list; each level is an ``OrderedDict`` keyed by order
id, which keeps arrival order and removes any order in O(1) (a plain dict degrades when
drained from the front). The total size of each level is kept beside it for market-data
updates.

The sorted list is kept with ``bisect`` (C): opening or emptying a level costs one
memmove of the side's prices, far cheaper than ``sortedcontainers`` up to tens of
thousands of levels per side, while the orders at a level, the common case, never touch
it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Iterator
from typing import ClassVar

from hcx.engine.commands import SelfTradePrevention, Side, TimeInForce
from hcx.engine.outputs import Level, OrderStatus
from hcx.engine.plain import Fields


class Order(Fields):
    """A live order. ``reserved`` is the collateral a resting buy holds (0 for sells,
    whose margin is held per position in ``accounts``)."""

    # The snapshot's row order: changing it changes every digest.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "order_id",
        "request_id",
        "wallet",
        "symbol",
        "side",
        "price",
        "size",
        "remaining",
        "tif",
        "post_only",
        "reduce_only",
        "mmp",
        "client_id",
        "stp",
        "ts_ms",
        "reserved",
        "status",
        "reason",
        "mmp_triggered",
    )

    def __init__(
        self,
        order_id: int,
        request_id: str,
        wallet: str,
        symbol: str,
        side: Side,
        price: int,
        size: int,
        remaining: int,
        tif: TimeInForce,
        post_only: bool,
        reduce_only: bool,
        mmp: bool,
        client_id: str | None,
        stp: SelfTradePrevention,
        ts_ms: int,
        reserved: int = 0,
        status: OrderStatus = "open",
        reason: str | None = None,
        mmp_triggered: bool = False,
    ) -> None:
        self.order_id = order_id
        self.request_id = request_id
        self.wallet = wallet
        self.symbol = symbol
        self.side = side
        self.price = price
        self.size = size
        self.remaining = remaining
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.mmp = mmp
        self.client_id = client_id
        self.stp = stp
        self.ts_ms = ts_ms
        self.reserved = reserved
        self.status = status
        self.reason = reason
        self.mmp_triggered = mmp_triggered

    @property
    def filled(self) -> int:
        return self.size - self.remaining


class BookSide:
    """One side of a book. ``best()`` is the highest bid or the lowest ask."""

    __slots__ = ("_best_index", "levels", "prices", "sizes")

    def __init__(self, descending: bool) -> None:
        self.levels: dict[int, OrderedDict[int, Order]] = {}
        self.prices: list[int] = []  # the keys of ``levels``, ascending
        self.sizes: dict[int, int] = {}
        self._best_index = -1 if descending else 0

    def __bool__(self) -> bool:
        return bool(self.sizes)

    def best(self) -> tuple[int, OrderedDict[int, Order]]:
        """The best price and its level; only on a side that is not empty."""
        price = self.prices[self._best_index]
        return price, self.levels[price]

    def best_price(self) -> int | None:
        prices = self.prices
        return prices[self._best_index] if prices else None

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            self.levels[price] = OrderedDict(((order.order_id, order),))
            self.sizes[price] = order.remaining
            insort(self.prices, price)
        else:
            level[order.order_id] = order
            self.sizes[price] += order.remaining

    def remove(self, order: Order) -> None:
        """Take ``order`` out with its current ``remaining``."""
        price = order.price
        level = self.levels[price]
        del level[order.order_id]
        if level:
            self.sizes[price] -= order.remaining
        else:
            del self.levels[price]
            del self.sizes[price]
            prices = self.prices
            del prices[bisect_left(prices, price)]

    def reduce(self, order: Order, size: int) -> None:
        """``order`` lost ``size`` to a fill but keeps its place."""
        self.sizes[order.price] -= size

    def in_priority(self) -> Iterator[tuple[int, OrderedDict[int, Order]]]:
        """Levels from the best price outward (read only; do not mutate while iterating)."""
        prices = self.prices
        for price in reversed(prices) if self._best_index == -1 else prices:
            yield price, self.levels[price]

    def depth(self) -> list[Level]:
        """All levels as (price, size), best first."""
        return [(price, self.sizes[price]) for price, _ in self.in_priority()]

    def orders(self) -> Iterator[Order]:
        for _, level in self.in_priority():
            yield from level.values()


class Book:
    __slots__ = ("asks", "bids", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(descending=True)
        self.asks = BookSide(descending=False)

    def side(self, side: Side) -> BookSide:
        return self.bids if side == "buy" else self.asks

    def opposite(self, side: Side) -> BookSide:
        return self.asks if side == "buy" else self.bids

    def crosses(self, side: Side, price: int) -> bool:
        """Would an order at ``price`` on ``side`` meet a resting order?"""
        if side == "buy":
            asks = self.asks.prices
            return asks[0] <= price if asks else False
        bids = self.bids.prices
        return bids[-1] >= price if bids else False

    def level_size(self, side: Side, price: int) -> int:
        return self.side(side).sizes.get(price, 0)
