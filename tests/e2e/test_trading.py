"""(a) Two traders cross: both get their results, and their private channels carry the
fills and the portfolio changes (Balance, Position) of their own side only."""

from __future__ import annotations

from decimal import Decimal

import trio

import hcx.client
from hcx.client import Balance, Fill, OrderUpdate, Position
from tests.e2e.conftest import Server
from tests.e2e.helpers import settle
from tests.e2e.market import FUNDS, SYMBOL, list_market


async def test_two_traders_cross(server: Server) -> None:
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin)
        async with (
            hcx.client.connect(server.url, wallet="alice") as alice,
            hcx.client.connect(server.url, wallet="bob") as bob,
            hcx.client.connect(server.url) as watcher,
            alice.subscribe_orders() as a_orders,
            alice.subscribe_fills() as a_fills,
            alice.subscribe_portfolio() as a_portfolio,
            bob.subscribe_orders() as b_orders,
            bob.subscribe_fills() as b_fills,
            bob.subscribe_portfolio() as b_portfolio,
            watcher.subscribe_trades(SYMBOL) as trades,
        ):
            ask = await alice.place_order(SYMBOL, "sell", "105.5", "3", client_id="a-1")
            assert (ask.status, ask.wallet, ask.side, ask.client_id) == (
                "open",
                "alice",
                "sell",
                "a-1",
            )
            assert ask.order_id is not None and ask.filled_size == 0
            bid = await bob.place_order(SYMBOL, "buy", "106", "2")
            assert (bid.status, bid.wallet, bid.filled_size) == ("filled", "bob", Decimal(2))
            assert bid.seq > ask.seq

            a_ord, a_fill, a_port = await settle(alice, a_orders, a_fills, a_portfolio)
            b_ord, b_fill, b_port = await settle(bob, b_orders, b_fills, b_portfolio)
            (trade,) = (await settle(watcher, trades))[0]

            # The resting order: open, then partially filled by bob's order.
            assert [(u.order_id, u.status, u.filled_size, u.seq) for u in a_ord] == [
                (ask.order_id, "open", 0, ask.seq),
                (ask.order_id, "partially_filled", 2, bid.seq),
            ]
            assert [(u.order_id, u.status, u.filled_size) for u in b_ord] == [
                (bid.order_id, "filled", 2)
            ]
            assert all(isinstance(u, OrderUpdate) for u in [*a_ord, *b_ord])

            # One trade at the resting price; maker 2 bps, taker 5 bps. Its seq is its
            # number among the symbol's trades (docs/protocol.md, Trade history): the
            # first. (It was the journal seq, bid.seq, before Trade.seq was defined; that
            # is now the wire's journal_seq, checked in test_trade_history.py.)
            assert (trade.price, trade.size, trade.taker_side, trade.seq) == (
                Decimal("105.5"),
                Decimal(2),
                "buy",
                1,
            )
            (maker,) = a_fill
            (taker,) = b_fill
            assert isinstance(maker, Fill) and isinstance(taker, Fill)
            assert (maker.side, maker.liquidity, maker.order_id, maker.fee) == (
                "sell",
                "maker",
                ask.order_id,
                Decimal("0.0422"),
            )
            assert (taker.side, taker.liquidity, taker.order_id, taker.fee) == (
                "buy",
                "taker",
                bid.order_id,
                Decimal("0.1055"),
            )
            for fill in (maker, taker):
                assert (fill.price, fill.size, fill.trade_id, fill.seq) == (
                    Decimal("105.5"),
                    Decimal(2),
                    trade.trade_id,
                    bid.seq,
                )
                assert fill.source.type == "book"

            # Portfolio: the last Balance is the cash after premium and fee, and
            # matches GetPortfolio; the Position is signed.
            for port, wallet, cash, size in (
                (a_port, alice, Decimal(FUNDS) + Decimal("211") - Decimal("0.0422"), -2),
                (b_port, bob, Decimal(FUNDS) - Decimal("211") - Decimal("0.1055"), 2),
            ):
                balances = [m for m in port if isinstance(m, Balance)]
                positions = [m for m in port if isinstance(m, Position)]
                assert balances and balances[-1].total == cash
                assert balances[-1].seq == bid.seq
                assert [(p.symbol, p.size, p.entry_price, p.seq) for p in positions] == [
                    (SYMBOL, Decimal(size), Decimal("105.5"), bid.seq)
                ]
                portfolio = await wallet.get_portfolio()
                assert portfolio.balance.total == balances[-1].total
                assert portfolio.balance.available == balances[-1].available
                assert portfolio.balance.reserved == balances[-1].reserved
                assert [(p.symbol, p.size) for p in portfolio.positions] == [
                    (SYMBOL, Decimal(size))
                ]
                assert all(m.seq <= bid.seq for m in port)

            # Alice's rest is still on the book; bob has no open order.
            (open_order,) = (await alice.get_open_orders(SYMBOL)).orders
            assert (open_order.order_id, open_order.remaining) == (ask.order_id, Decimal(1))
            assert (await bob.get_open_orders()).orders == ()
