"""(i) Expiry and cash settlement over the wire.

Two ETH options expire a few seconds after listing. Positions are opened while they
trade; once past ``expiry_ms`` the next command expires them first (resting orders
canceled ``instrument_not_active``, the instruments ``expired``); ``Settle`` then pays
each holder ``size x intrinsic x multiplier`` (``PositionExpired`` with
``settlement_value`` and ``pnl``, a ``Balance``, a flat ``Position``) and money is
conserved: balances plus fees equal deposits. A resume of the portfolio channel across
the settlement replays the same messages from the journal.
"""

from __future__ import annotations

from decimal import Decimal

import trio

import hcx.client
from hcx.client import Balance, Fill, Instrument, Position, PositionExpired
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from tests.e2e.conftest import Server
from tests.e2e.helpers import settle
from tests.e2e.market import FUNDS, now_ms

LEAD_MS = 2_000  # how far in the future the options expire


async def test_expiry_and_settlement(server: Server) -> None:
    expiry_ms = now_ms() + LEAD_MS
    call = expected_symbol("ETH", expiry_ms, parse_decimal("3000"), "call")
    put = expected_symbol("ETH", expiry_ms, parse_decimal("3200"), "put")
    with trio.fail_after(30):
        async with (
            hcx.client.connect(server.url, wallet="admin") as admin,
            hcx.client.connect(server.url, wallet="alice") as alice,
            hcx.client.connect(server.url, wallet="bob") as bob,
            admin.subscribe_instruments() as instruments,
            alice.subscribe_orders() as a_orders,
            alice.subscribe_fills() as a_fills,
            alice.subscribe_portfolio() as a_portfolio,
            bob.subscribe_orders() as b_orders,
            bob.subscribe_fills() as b_fills,
            bob.subscribe_portfolio() as b_portfolio,
        ):
            for symbol, strike in ((call, "3000"), (put, "3200")):
                listed = await admin.create_instrument(
                    symbol,
                    "ETH",
                    expiry_ms,
                    strike,
                    "call" if symbol == call else "put",
                    "0.1",
                    "1",
                )
                assert listed.status == "ok", listed
            assert (await admin.set_index_price("ETH", "3000")).status == "ok"
            for wallet in ("alice", "bob"):
                assert (await admin.deposit(wallet, FUNDS)).status == "ok"
            early = await admin.settle(call, "3100")
            assert (early.status, early.reason) == ("rejected", "not_expired")

            # Bob buys 2 calls from alice at 105.5; alice buys 1 put from bob at 150.
            # Each leaves an order resting.
            assert (await alice.place_order(call, "sell", "105.5", "2")).status == "open"
            assert (await bob.place_order(call, "buy", "105.5", "2")).status == "filled"
            assert (await bob.place_order(put, "sell", "150", "1")).status == "open"
            assert (await alice.place_order(put, "buy", "150", "1")).status == "filled"
            a_rest = await alice.place_order(call, "buy", "50", "1")
            b_rest = await bob.place_order(put, "sell", "200", "3")
            assert a_rest.status == b_rest.status == "open"
            assert now_ms() < expiry_ms, "too slow: the options expired while trading"
            fills = [*(await settle(alice, a_fills))[0], *(await settle(bob, b_fills))[0]]
            assert len(fills) == 4 and all(isinstance(f, Fill) for f in fills)
            fees = sum((f.fee for f in fills), Decimal(0))
            assert fees == Decimal("0.0422") + Decimal("0.1055") + Decimal("0.03") + Decimal(
                "0.075"
            )
            await settle(alice, a_orders, a_portfolio)
            await settle(bob, b_orders, b_portfolio)
            await settle(admin, instruments)

            # Past expiry, the next command applies it before its own effect.
            while now_ms() <= expiry_ms:
                await trio.sleep(0.05)
            late = await alice.place_order(call, "buy", "60", "1")
            assert (late.status, late.reason) == ("rejected", "instrument_not_active")
            (a_upd,), a_port = await settle(alice, a_orders, a_portfolio)
            (b_upd,), b_port = await settle(bob, b_orders, b_portfolio)
            # The canceled orders' collateral is released (positions stay open).
            for port in (a_port, b_port):
                assert [(type(m), m.seq) for m in port] == [(Balance, late.seq)]
            for update, order in ((a_upd, a_rest), (b_upd, b_rest)):
                assert (update.order_id, update.status, update.reason, update.seq) == (
                    order.order_id,
                    "canceled",
                    "instrument_not_active",
                    late.seq,
                )
            (updates,) = await settle(admin, instruments)
            assert sorted((u.symbol, u.status, u.seq) for u in updates) == sorted(
                [(call, "expired", late.seq), (put, "expired", late.seq)]
            )
            assert all(isinstance(u, Instrument) for u in updates)
            assert (await alice.get_open_orders()).orders == ()
            assert (await bob.get_open_orders()).orders == ()
            before_settle = (await alice.get_portfolio()).seq

            # Settle at 3100: the call (K 3000) is worth 100, the put (K 3200) 100.
            settled_call = await admin.settle(call, "3100")
            settled_put = await admin.settle(put, "3100")
            assert settled_call.status == settled_put.status == "ok"
            expected = {
                # wallet: [(symbol, size, settlement_value, pnl = value - cost)]
                "alice": [(call, -2, -200, -200 + 211), (put, 1, 100, 100 - 150)],
                "bob": [(call, 2, 200, 200 - 211), (put, -1, -100, -100 + 150)],
            }
            cash = {
                "alice": Decimal(FUNDS) + 211 - 150 - Decimal("0.0422") - Decimal("0.075") - 100,
                "bob": Decimal(FUNDS) - 211 + 150 - Decimal("0.1055") - Decimal("0.03") + 100,
            }
            messages = {
                "alice": (await settle(alice, a_portfolio))[0],
                "bob": (await settle(bob, b_portfolio))[0],
            }
            for wallet, port in messages.items():
                expired = [m for m in port if isinstance(m, PositionExpired)]
                assert [
                    (m.symbol, m.size, m.settlement_price, m.settlement_value, m.pnl, m.seq)
                    for m in expired
                ] == [
                    (symbol, Decimal(size), Decimal(3100), Decimal(value), Decimal(pnl), result.seq)
                    for (symbol, size, value, pnl), result in zip(
                        expected[wallet], (settled_call, settled_put), strict=True
                    )
                ]
                positions = [m for m in port if isinstance(m, Position)]
                assert sorted((p.symbol, p.size) for p in positions) == sorted(
                    [(call, Decimal(0)), (put, Decimal(0))]
                )
                balances = [m for m in port if isinstance(m, Balance)]
                assert [b.seq for b in balances] == [settled_call.seq, settled_put.seq]
                final = balances[-1]
                assert (final.total, final.reserved, final.available) == (
                    cash[wallet],
                    Decimal(0),
                    cash[wallet],
                )
            (updates,) = await settle(admin, instruments)
            assert sorted((u.symbol, u.status) for u in updates) == sorted(
                [(call, "settled"), (put, "settled")]
            )

            # Money is conserved: every deposit is in a balance or was paid as fees.
            totals = Decimal(0)
            for client in (alice, bob):
                portfolio = await client.get_portfolio()
                assert portfolio.balance.total == cash[portfolio.wallet]
                assert all(p.size == 0 for p in portfolio.positions)
                totals += portfolio.balance.total
            assert totals + fees == 2 * Decimal(FUNDS)

            # Settled once only; an unknown symbol is not settled at all.
            twice = await admin.settle(call, "3100")
            assert (twice.status, twice.reason) == ("rejected", "already_settled")
            unknown = await admin.settle("ETH-20000101-1-C", "3100")
            assert (unknown.status, unknown.reason) == ("rejected", "unknown_symbol")

        # A resume from before the settlement replays it from the journal, identically.
        async with (
            hcx.client.connect(server.url, wallet="alice") as alice,
            alice.subscribe_portfolio(from_seq=before_settle) as replay,
        ):
            (replayed,) = await settle(alice, replay)
            assert replayed == messages["alice"]
