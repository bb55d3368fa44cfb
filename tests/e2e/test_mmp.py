"""(h) Market maker protection over the wire.

A market maker sets a quantity limit on BTC; its ``mmp`` orders are hit until the limit,
which freezes it: its other ``mmp`` orders are canceled (``mmp_triggered``), new ``mmp``
orders and ``mmp`` quotes are refused ``mmp_frozen`` until ``ResetMmp``; orders without
``mmp`` are not touched. MMP commands are journaled like orders: a repeat answers the
stored result.
"""

from __future__ import annotations

from decimal import Decimal

import trio

import hcx.client
from hcx.client import OrderUpdate, QuoteLeg, RfqLeg, RfqQuote, SetMmpRequest
from tests.e2e.conftest import Server
from tests.e2e.helpers import settle, take
from tests.e2e.market import SYMBOL, list_market

UNTIL_RESET = -1  # ``frozen_until_ms`` of a freeze that lasts until ResetMmp


async def test_mmp_freezes_and_resets(server: Server) -> None:
    with trio.fail_after(30):
        async with (
            hcx.client.connect(server.url, wallet="admin") as admin,
            hcx.client.connect(server.url, wallet="mm") as mm,
            hcx.client.connect(server.url, wallet="bob") as bob,
            mm.subscribe_orders() as m_orders,
            bob.subscribe_rfq() as b_rfq,
        ):
            await list_market(admin, ("mm", "bob"))

            # Refused settings change nothing.
            unknown = await mm.set_mmp("DOGE", interval_ms=60_000, frozen_ms=0, qty_limit=3)
            assert (unknown.status, unknown.reason) == ("rejected", "unknown_underlying")
            no_limit = await mm.set_mmp("BTC", interval_ms=60_000, frozen_ms=0)
            assert (no_limit.status, no_limit.reason) == ("rejected", "invalid_limits")
            not_set = await mm.reset_mmp("BTC")
            assert (not_set.status, not_set.reason) == ("rejected", "mmp_not_set")

            # Freeze after 3 contracts within a minute, until reset. A repeat of the
            # command answers the stored result.
            setting = SetMmpRequest(underlying="BTC", interval_ms=60_000, frozen_ms=0, qty_limit=3)
            result = await mm.submit(setting)
            assert (result.status, result.underlying, result.frozen_until_ms) == ("ok", "BTC", None)
            assert await mm.submit(setting) == result

            a1 = await mm.place_order(SYMBOL, "sell", "110", "2", mmp=True)
            a2 = await mm.place_order(SYMBOL, "sell", "111", "2", mmp=True)
            a3 = await mm.place_order(SYMBOL, "sell", "112", "2", mmp=True)
            b1 = await mm.place_order(SYMBOL, "buy", "90", "2", mmp=True)
            plain = await mm.place_order(SYMBOL, "sell", "120", "1")
            assert all(o.status == "open" for o in (a1, a2, a3, b1, plain))
            await settle(mm, m_orders)

            # 2 contracts: under the limit, nothing else happens.
            hit = await bob.place_order(SYMBOL, "buy", "110", "2", tif="ioc")
            assert hit.status == "filled"
            (update,) = (await settle(mm, m_orders))[0]
            assert (update.order_id, update.status, update.mmp_triggered) == (
                a1.order_id,
                "filled",
                False,
            )

            # The 3rd contract reaches it: the order that traded and every other mmp
            # order of mm on BTC are canceled, marked mmp_triggered, in that command.
            breach = await bob.place_order(SYMBOL, "buy", "111", "1", tif="ioc")
            assert (breach.status, breach.filled_size) == ("filled", Decimal(1))
            (updates,) = await settle(mm, m_orders)
            assert all(isinstance(u, OrderUpdate) and u.seq == breach.seq for u in updates)
            assert sorted(
                (u.order_id, u.status, u.filled_size, u.reason, u.mmp_triggered) for u in updates
            ) == [
                (a2.order_id, "canceled", 1, "mmp_frozen", True),
                (a3.order_id, "canceled", 0, "mmp_frozen", True),
                (b1.order_id, "canceled", 0, "mmp_frozen", True),
            ]
            (still,) = (await mm.get_open_orders()).orders
            assert still.order_id == plain.order_id  # not an mmp order: untouched

            # Frozen: new mmp orders are refused, others are not; new limits do not
            # lift the freeze.
            refused = await mm.place_order(SYMBOL, "sell", "115", "1", mmp=True)
            assert (refused.status, refused.reason) == ("rejected", "mmp_frozen")
            other = await mm.place_order(SYMBOL, "sell", "125", "1")
            assert other.status == "open"
            again = await mm.set_mmp("BTC", interval_ms=60_000, frozen_ms=0, qty_limit=3)
            assert (again.status, again.frozen_until_ms) == ("ok", UNTIL_RESET)
            refused = await mm.place_order(SYMBOL, "sell", "115", "1", mmp=True)
            assert (refused.status, refused.reason) == ("rejected", "mmp_frozen")

            # An mmp quote of a frozen market maker cannot be accepted either.
            rfq_id = await bob.request_quote([RfqLeg(symbol=SYMBOL, side="buy", size=1)])
            offer = [QuoteLeg(symbol=SYMBOL, side="sell", size=1, price="113")]
            frozen_quote = await mm.quote(rfq_id, offer, 20_000, mmp=True)
            assert [type(m) for m in await take(b_rfq, 1)] == [RfqQuote]
            declined = await bob.accept_quote(rfq_id, frozen_quote.quote_id)
            assert (declined.status, declined.reason) == ("rejected", "mmp_frozen")

            # ResetMmp lifts it: mmp orders and quotes trade again, in a fresh window.
            reset = await mm.reset_mmp("BTC")
            assert (reset.status, reset.reason, reset.frozen_until_ms) == ("ok", None, None)
            requote = await mm.place_order(SYMBOL, "sell", "115", "2", mmp=True)
            assert requote.status == "open"
            quote = await mm.quote(rfq_id, offer, 20_000, mmp=True)
            (shown,) = await take(b_rfq, 1)
            assert isinstance(shown, RfqQuote) and shown.quote_id == quote.quote_id
            accepted = await bob.accept_quote(rfq_id, quote.quote_id)
            assert accepted.status == "filled"
            # 1 (RFQ) + 1 (book) = 2 contracts since the reset: under the limit.
            partial = await bob.place_order(SYMBOL, "buy", "115", "1", tif="ioc")
            assert partial.status == "filled"
            (updates,) = await settle(mm, m_orders)
            assert [
                (u.order_id, u.status, u.mmp_triggered)
                for u in updates
                if u.order_id == requote.order_id
            ][-1] == (requote.order_id, "partially_filled", False)
            # The 3rd contract freezes it again.
            last = await bob.place_order(SYMBOL, "buy", "115", "1", tif="ioc")
            assert last.filled_size == 1
            (updates,) = await settle(mm, m_orders)
            assert [(u.order_id, u.status, u.reason, u.mmp_triggered) for u in updates] == [
                (requote.order_id, "filled", None, True)
            ]
            assert (await mm.place_order(SYMBOL, "sell", "116", "1", mmp=True)).reason == (
                "mmp_frozen"
            )
            portfolio = await mm.get_portfolio()
            assert [(p.symbol, p.size) for p in portfolio.positions] == [(SYMBOL, Decimal(-6))]
