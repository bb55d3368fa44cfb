"""(b) A book subscriber's snapshot plus updates rebuild exactly the engine's book.

The truth is checked two ways: a fresh snapshot taken after the trading, and the levels
aggregated from every wallet's ``GetOpenOrders``. Subscribers join before and during
heavy trading; the protocol says updates start right after the snapshot's ``seq`` and
rise by exactly one, so a client never has to skip or resubscribe (``stale``/``gaps``).
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import trio

import hcx.client
from hcx.client import BookUpdate, Client
from hcx.client.messages import Side
from tests.e2e.conftest import Server
from tests.e2e.market import SYMBOL, TICK, levels_from_orders, list_market

WORKERS_PER_WALLET = 3
ACTIONS_PER_WORKER = 60


async def _trader(client: Client, seed: int, progress: list[int]) -> None:
    rng = random.Random(seed)
    mine: list[int] = []
    for _ in range(ACTIONS_PER_WORKER):
        roll = rng.random()
        price = Decimal(100) + rng.randint(-8, 8) * TICK
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        size = rng.randint(1, 5)
        if roll < 0.55 or not mine:
            result = await client.place_order(SYMBOL, side, price, size)
            if result.order_id is not None and result.status in ("open", "partially_filled"):
                mine.append(result.order_id)
        elif roll < 0.7:
            await client.cancel_order(mine.pop(rng.randrange(len(mine))))
        elif roll < 0.85:
            result = await client.replace_order(mine.pop(rng.randrange(len(mine))), price, size)
            if result.order_id is not None and result.status in ("open", "partially_filled"):
                mine.append(result.order_id)
        elif roll < 0.97:
            await client.place_order(SYMBOL, side, price, size, tif="ioc")
        else:
            await client.cancel_all(symbol=SYMBOL)
            mine.clear()
        progress[0] += 1


async def _hopper(url: str, stop: trio.Event, seen: dict[str, int]) -> None:
    """Subscribes again and again while the others trade; counts protocol slips."""
    async with hcx.client.connect(url) as client:
        while not stop.is_set():
            async with client.subscribe_book(SYMBOL) as book:
                await book.synced(timeout=10)
                for _ in range(3):
                    with trio.move_on_after(0.2):
                        await book.next()
                seen["subscriptions"] += 1
                seen["stale"] += book.stale
                seen["gaps"] += book.gaps


async def _catch_up(book: Any, seq: int) -> None:
    with trio.fail_after(10):
        while book.book.seq != seq:
            await book.next()


async def test_book_rebuilt_from_snapshot_and_updates(server: Server) -> None:
    with trio.fail_after(60):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice", "bob"))
        async with (
            hcx.client.connect(server.url, wallet="alice") as alice,
            hcx.client.connect(server.url, wallet="bob") as bob,
            hcx.client.connect(server.url) as early_client,
            hcx.client.connect(server.url) as late_client,
            early_client.subscribe_book(SYMBOL) as early,
        ):
            snapshot = await early.next(5)
            assert (snapshot.seq, snapshot.bids, snapshot.asks) == (0, (), ())
            progress = [0]
            seen = {"subscriptions": 0, "stale": 0, "gaps": 0}
            stop = trio.Event()
            async with trio.open_nursery() as nursery, trio.open_nursery() as traders:
                for worker in range(WORKERS_PER_WALLET):
                    traders.start_soon(_trader, alice, 100 + worker, progress)
                    traders.start_soon(_trader, bob, 200 + worker, progress)
                nursery.start_soon(_hopper, server.url, stop, seen)
                # A subscriber that joins in the middle and stays.
                while progress[0] < ACTIONS_PER_WORKER * WORKERS_PER_WALLET:
                    await trio.sleep(0.01)
                async with late_client.subscribe_book(SYMBOL) as late:
                    await late.synced(timeout=10)
                    assert late.book.seq is not None and late.book.seq > 0
                    # `late` stays subscribed until the trading is over
                    while progress[0] < 2 * ACTIONS_PER_WORKER * WORKERS_PER_WALLET:
                        await trio.sleep(0.01)
                    stop.set()
                    # Both sides end non-empty whatever the random trading left.
                    await alice.place_order(SYMBOL, "sell", "120", "1")
                    await alice.place_order(SYMBOL, "buy", "80", "1")
                    # The truth after the trading: a fresh snapshot ...
                    async with (
                        hcx.client.connect(server.url) as final_client,
                        final_client.subscribe_book(SYMBOL) as final,
                    ):
                        truth = await final.synced(timeout=10)
                        final_seq = truth.seq
                        assert final_seq is not None
                        truth_levels = {"bids": truth.bids, "asks": truth.asks}
                    # ... and the resting orders of every wallet.
                    orders = [
                        *(await alice.get_open_orders(SYMBOL)).orders,
                        *(await bob.get_open_orders(SYMBOL)).orders,
                    ]
                    assert levels_from_orders(orders) == truth_levels
                    assert truth_levels["bids"] and truth_levels["asks"]
                    best_bid, best_ask = truth_levels["bids"][0], truth_levels["asks"][0]
                    assert best_bid[0] < best_ask[0]  # the book is not crossed

                    for book in (early, late):
                        await _catch_up(book, final_seq)
                        assert {"bids": book.book.bids, "asks": book.book.asks} == truth_levels
                        assert (book.gaps, book.stale, book.snapshots) == (0, 0, 1)
            assert seen["subscriptions"] > 0
            assert (seen["stale"], seen["gaps"]) == (0, 0), seen


async def test_book_gap_triggers_resubscription(server: Server) -> None:
    """A lost update (dropped here inside the client) is noticed by its ``seq``; the
    subscription asks for a new snapshot and converges on the engine's book."""
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice",))
        async with (
            hcx.client.connect(server.url, wallet="alice") as alice,
            hcx.client.connect(server.url) as reader,
            reader.subscribe_book(SYMBOL) as book,
        ):
            await book.synced(timeout=5)
            dispatch = reader._dispatch
            dropped: list[int] = []

            async def lossy(message: dict[str, Any]) -> None:
                if message.get("type") == "BookUpdate" and message["seq"] == 3 and not dropped:
                    dropped.append(message["seq"])
                    return
                await dispatch(message)

            reader._dispatch = lossy  # type: ignore[method-assign]
            placed = []
            for i in range(6):
                placed.append(await alice.place_order(SYMBOL, "buy", 90 + i, 1))
            last = (await alice.cancel_order(placed[0].order_id)).seq
            applied: list[Any] = []
            with trio.fail_after(10):
                while not (book.snapshots == 2 and book.book.seq == 7):
                    applied.append(await book.next())
            assert dropped == [3] and book.gaps == 1
            assert [m.seq for m in applied if isinstance(m, BookUpdate)][:2] == [1, 2]
            assert last > 0
            assert book.book.bids == [(Decimal(90 + i), Decimal(1)) for i in range(5, 0, -1)]
            assert book.book.asks == []
