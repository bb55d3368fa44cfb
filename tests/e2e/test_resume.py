"""(h) Resume: a private subscriber that loses its connection gets, after reconnecting
with ``from_seq``, every message it missed exactly once, and then the live ones.

The truth is what a fresh subscription with ``from_seq`` from the start replays from the
journal once all trading is done.
"""

from __future__ import annotations

from typing import Any

import trio

import hcx.client
from hcx.client import Client, PrivateSubscription
from tests.e2e.conftest import Server
from tests.e2e.helpers import queued, settle
from tests.e2e.market import SYMBOL, list_market
from tests.e2e.proxy import Proxy

CHANNELS = ("orders", "fills", "portfolio")


async def _truth(url: str, wallet: str, start: int) -> dict[str, list[Any]]:
    """Every message of each private channel of ``wallet`` after ``start``."""
    async with (
        hcx.client.connect(url, wallet=wallet) as fresh,
        fresh.subscribe_orders(start) as orders,
        fresh.subscribe_fills(start) as fills,
        fresh.subscribe_portfolio(start) as portfolio,
    ):
        got = await settle(fresh, orders, fills, portfolio)
        return dict(zip(CHANNELS, got, strict=True))


async def _cross(maker: Client, taker: Client, price: int, size: int = 1) -> int:
    await maker.place_order(SYMBOL, "sell", price, size)
    return (await taker.place_order(SYMBOL, "buy", price, size)).seq


async def test_resume_after_network_loss(server: Server) -> None:
    with trio.fail_after(60):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            start = await list_market(admin, ("alice", "bob"))
        async with (
            trio.open_nursery() as nursery,
            hcx.client.connect(server.url, wallet="bob") as bob,
        ):
            proxy: Proxy = await nursery.start(Proxy(server.port).run)
            async with (
                hcx.client.connect(proxy.url, wallet="alice") as alice,
                alice.subscribe_orders() as orders,
                alice.subscribe_fills() as fills,
                alice.subscribe_portfolio() as portfolio,
                alice.subscribe_book(SYMBOL) as book,
            ):
                subs: dict[str, PrivateSubscription[Any]] = {
                    "orders": orders,
                    "fills": fills,
                    "portfolio": portfolio,
                }
                got: dict[str, list[Any]] = {channel: [] for channel in CHANNELS}

                async def drain() -> None:
                    for channel, sub in subs.items():
                        got[channel] += queued(sub)

                # Live: alice trades both ways.
                for price in (100, 101):
                    await _cross(alice, bob, price)
                    await _cross(bob, alice, price)
                resting = await alice.place_order(SYMBOL, "sell", "120", "5")
                await settle(alice)
                await drain()
                assert all(got.values())

                # The network fails; reconnecting is refused for a while.
                proxy.block()
                with trio.fail_after(5):
                    while alice.connected:
                        await trio.sleep(0.01)
                missed_from = max(m.seq for m in got["portfolio"])
                # Meanwhile bob takes alice's resting order in two trades: fills, order
                # updates, balances and positions for alice that she cannot receive now.
                await bob.place_order(SYMBOL, "buy", "120", "2")
                await bob.place_order(SYMBOL, "buy", "120", "3")
                missed_to = (await bob.place_order(SYMBOL, "sell", "140", "1")).seq
                await trio.sleep(0.2)  # alice's client keeps retrying meanwhile
                assert not alice.connected

                await proxy.unblock()
                await alice.wait_connected()
                assert alice.connections == 2
                # Live again.
                for price in (102, 103):
                    await _cross(alice, bob, price)
                    await _cross(bob, alice, price)
                await settle(alice)
                await drain()

                truth = await _truth(server.url, "alice", start)
                assert got == truth
                # The outage's messages were among them, and nothing came twice.
                missed = [m for m in truth["fills"] if missed_from < m.seq <= missed_to]
                assert [(f.order_id, f.size) for f in missed] == [
                    (resting.order_id, 2),
                    (resting.order_id, 3),
                ]
                for channel in CHANNELS:
                    keys = [_identity(m) for m in got[channel]]
                    assert len(keys) == len(set(keys)), channel

                # The book came back with a new snapshot and is right.
                async with (
                    hcx.client.connect(server.url) as other,
                    other.subscribe_book(SYMBOL) as fresh_book,
                ):
                    truth_book = await fresh_book.synced(5)
                with trio.fail_after(5):
                    while book.book.seq != truth_book.seq or book.snapshots < 2:
                        await book.next()
                assert (book.book.bids, book.book.asks) == (truth_book.bids, truth_book.asks)
                assert book.snapshots == 2 and book.gaps == 0
            nursery.cancel_scope.cancel()


def _identity(message: Any) -> tuple[Any, ...]:
    return (type(message).__name__, message.seq, repr(message))


async def test_resume_in_the_middle_of_a_command(server: Server) -> None:
    """The connection drops after the first of several messages one command caused on a
    channel (a trade's Position and Balance share their seq): the resume must deliver
    the rest of that command's messages, and the first one not again."""
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            start = await list_market(admin, ("alice", "bob"))
        async with (
            hcx.client.connect(server.url, wallet="alice") as alice,
            hcx.client.connect(server.url, wallet="bob") as bob,
            alice.subscribe_portfolio() as portfolio,
        ):
            await bob.place_order(SYMBOL, "sell", "100", "1")
            # alice's next command gets the seq after bob's next one.
            target = (await bob.place_order(SYMBOL, "buy", "1", "1")).seq + 1
            dispatch = alice._dispatch
            cut_at: list[dict[str, Any]] = []

            async def cut_after_first_of_a_trade(message: dict[str, Any]) -> None:
                await dispatch(message)
                portfolio_message = message.get("type") in ("Balance", "Position")
                if portfolio_message and not cut_at and message["seq"] == target:
                    cut_at.append(message)
                    alice.drop_connection()  # the rest of the same seq is lost

            alice._dispatch = cut_after_first_of_a_trade  # type: ignore[method-assign]
            traded = await alice.place_order(SYMBOL, "buy", "100", "1")
            assert traded.seq == target and traded.status == "filled"
            await alice.wait_connected()
            await _cross(bob, alice, 101)
            got = (await settle(alice, portfolio))[0]
            assert cut_at and alice.connections == 2

            truth = (await _truth(server.url, "alice", start))["portfolio"]
            same_seq = [type(m).__name__ for m in truth if m.seq == target]
            assert len(same_seq) >= 2 and same_seq[0] == cut_at[0]["type"], same_seq
            assert got == truth
            assert portfolio.dropped_duplicates == 1  # the replayed first one was skipped
