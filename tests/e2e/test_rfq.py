"""(g) Requests for quote over the wire, with real API keys (``--auth keys``): alice and
bob are traders, quinn a quoter, admin the admin.

A taker's RFQ reaches the quoters without the taker's name; a quote reaches only the
taker, priced from its side; accepting executes every leg at the quoted prices (fills
on both sides carry the RFQ's ids), once: a repeat returns the stored result, a second
acceptance is refused. Roles, leg matching, self-trades and expired quotes are refused
with the right codes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

import hcx.client
from hcx.client import (
    AcceptQuoteRequest,
    Client,
    Fill,
    HcxError,
    QuoteLeg,
    RfqLeg,
    RfqQuote,
    RfqRequest,
    RfqResult,
)
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from tests.e2e.conftest import Server
from tests.e2e.helpers import settle, take
from tests.e2e.market import EXPIRY_MS, FUNDS, SYMBOL, list_market, now_ms
from tests.e2e.proxy import Proxy

PUT = expected_symbol("BTC", EXPIRY_MS, parse_decimal("3200"), "put")
RFQ_TTL_MS = 30_000  # the server's default rfq_ttl_ms


async def _list(admin: Client) -> None:
    """The call of ``market``, a BTC put, and funds for the three non-admin wallets."""
    await list_market(admin, ("alice", "bob", "quinn"))
    listed = await admin.create_instrument(PUT, "BTC", EXPIRY_MS, "3200", "put", "0.1", "1")
    assert listed.status == "ok", listed


async def _ask(ws: WebSocketConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send_message(json.dumps(message))
    answer: dict[str, Any] = json.loads(await ws.get_message())
    return answer


async def test_rfq_flow(keyed_server: Server) -> None:
    server = keyed_server
    keys = server.keys
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin", key=keys["admin"]) as admin:
            await _list(admin)
        async with (
            hcx.client.connect(server.url, wallet="alice", key=keys["alice"]) as alice,
            hcx.client.connect(server.url, wallet="bob", key=keys["bob"]) as bob,
            hcx.client.connect(server.url, wallet="quinn", key=keys["quinn"]) as quinn,
            open_websocket_url(server.url, subprotocols=["hcx.v1.json"]) as raw,
            alice.subscribe_rfq() as a_rfq,
            alice.subscribe_fills() as a_fills,
            bob.subscribe_rfq() as b_rfq,
            quinn.subscribe_rfq() as q_rfq,
            quinn.subscribe_fills() as q_fills,
        ):
            assert (alice.role, bob.role, quinn.role) == ("trader", "trader", "quoter")
            # A second connection of the quoter, raw, to see the exact frame it gets.
            authenticated = await _ask(
                raw, {"type": "Authenticate", "wallet": "quinn", "key": keys["quinn"]}
            )
            assert authenticated["role"] == "quoter"
            assert (await _ask(raw, {"type": "Subscribe", "channel": "rfq", "id": 1}))[
                "type"
            ] == "Subscribed"

            # The taker asks: buy 2 calls, sell 1 put.
            legs = [
                RfqLeg(symbol=SYMBOL, side="buy", size=2),
                RfqLeg(symbol=PUT, side="sell", size=1),
            ]
            before = now_ms()
            rfq_id = await alice.request_quote(legs)

            # Quoters get it, without the taker's identity; traders do not.
            (request,) = await take(q_rfq, 1)
            assert isinstance(request, RfqRequest)
            assert (request.rfq_id, request.legs) == (rfq_id, tuple(legs))
            assert before + RFQ_TTL_MS <= request.expires_ms <= now_ms() + RFQ_TTL_MS
            with trio.fail_after(5):
                frame = await raw.get_message()
            assert "alice" not in frame
            wire = json.loads(frame)
            assert set(wire) == {"type", "rfq_id", "legs", "expires_ms"}
            assert wire["type"] == "RfqRequest" and wire["rfq_id"] == rfq_id
            assert await settle(bob, b_rfq) == [[]]
            assert await settle(alice, a_rfq) == [[]]

            # Only quoters quote, and only the request's legs, on the opposite sides.
            offer = [
                QuoteLeg(symbol=SYMBOL, side="sell", size=2, price="105.5"),
                QuoteLeg(symbol=PUT, side="buy", size=1, price="50"),
            ]
            for trader in (alice, bob):
                with pytest.raises(HcxError) as forbidden:
                    await trader.quote(rfq_id, offer, 20_000)
                assert forbidden.value.code == "forbidden"
            for wrong in (
                [offer[0]],  # a leg missing
                [offer[0], QuoteLeg(symbol=PUT, side="buy", size=2, price="50")],  # size
                [offer[0], QuoteLeg(symbol=PUT, side="sell", size=1, price="50")],  # side
                [offer[0], QuoteLeg(symbol=SYMBOL, side="buy", size=1, price="50")],  # symbol
            ):
                with pytest.raises(HcxError) as mismatch:
                    await quinn.quote(rfq_id, wrong, 20_000)
                assert (mismatch.value.code, mismatch.value.field) == ("invalid_field", "legs")
            assert await settle(alice, a_rfq) == [[]]  # nothing reached the taker

            ack = await quinn.quote(rfq_id, offer, 20_000)
            assert ack.rfq_id == rfq_id

            # The taker sees the quote from its own side, and what it would pay:
            # 2 x 105.5 for the calls, less 1 x 50 for the put.
            (quote,) = await take(a_rfq, 1)
            assert isinstance(quote, RfqQuote)
            assert (quote.rfq_id, quote.quote_id) == (rfq_id, ack.quote_id)
            assert quote.legs == (
                QuoteLeg(symbol=SYMBOL, side="buy", size=2, price="105.5"),
                QuoteLeg(symbol=PUT, side="sell", size=1, price="50"),
            )
            assert quote.net_premium == Decimal(161)
            assert now_ms() < quote.expires_ms <= request.expires_ms
            assert await settle(quinn, q_rfq) == [[]]  # the quote goes to the taker only

            # Nobody but the taker can accept it.
            stolen = await bob.accept_quote(rfq_id, ack.quote_id)
            assert (stolen.status, stolen.reason, stolen.fill_id) == (
                "rejected",
                "unknown_quote",
                None,
            )

            accept = AcceptQuoteRequest(rfq_id=rfq_id, quote_id=ack.quote_id)
            result = await alice.submit(accept)
            assert isinstance(result, RfqResult)
            assert (result.request_id, result.rfq_id, result.quote_id, result.status) == (
                accept.request_id,
                rfq_id,
                ack.quote_id,
                "filled",
            )
            assert result.fill_id is not None and result.reason is None

            # Both sides get a fill per leg at the quoted prices, tagged with the RFQ;
            # the taker pays the taker fee (5 bps), the quoter the maker fee (2 bps).
            a_fill = await take(a_fills, 2)
            q_fill = await take(q_fills, 2)
            assert all(isinstance(f, Fill) for f in [*a_fill, *q_fill])
            assert [
                (f.symbol, f.side, f.price, f.size, f.fee, f.liquidity, f.order_id) for f in a_fill
            ] == [
                (SYMBOL, "buy", Decimal("105.5"), Decimal(2), Decimal("0.1055"), "taker", None),
                (PUT, "sell", Decimal(50), Decimal(1), Decimal("0.025"), "taker", None),
            ]
            assert [
                (f.symbol, f.side, f.price, f.size, f.fee, f.liquidity, f.order_id) for f in q_fill
            ] == [
                (SYMBOL, "sell", Decimal("105.5"), Decimal(2), Decimal("0.0422"), "maker", None),
                (PUT, "buy", Decimal(50), Decimal(1), Decimal("0.01"), "maker", None),
            ]
            assert a_fill[0].fill_id == result.fill_id
            for fill in (*a_fill, *q_fill):
                assert (fill.source.type, fill.source.rfq_id, fill.source.quote_id) == (
                    "rfq",
                    rfq_id,
                    ack.quote_id,
                )
                assert fill.seq == result.seq
            assert [f.trade_id for f in a_fill] == [f.trade_id for f in q_fill]

            # A repeat (same request_id and ts) answers the stored result, by the same
            # request object or by the same key given again, and executes nothing.
            assert await alice.submit(accept) == result
            again = await alice.accept_quote(
                rfq_id, ack.quote_id, request_id=accept.request_id, ts=accept.ts
            )
            assert again == result
            # A new acceptance (a new request_id) of the filled RFQ is refused: the
            # gateway forgets an RFQ once its fill is released, so it is
            # ``unknown_quote`` (``quote_already_filled`` is the engine's answer while
            # the RFQ is still in memory: see the race in ``test_rfq_refusals``).
            second = await alice.accept_quote(rfq_id, ack.quote_id)
            assert (second.status, second.reason, second.fill_id) == (
                "rejected",
                "unknown_quote",
                None,
            )
            assert second.seq > result.seq
            assert await settle(alice, a_fills) == [[]]
            assert await settle(quinn, q_fills) == [[]]

            # Positions and cash: premiums and fees, nothing else.
            taker = await alice.get_portfolio()
            quoter = await quinn.get_portfolio()
            assert {(p.symbol, int(p.size)) for p in taker.positions} == {(SYMBOL, 2), (PUT, -1)}
            assert {(p.symbol, int(p.size)) for p in quoter.positions} == {(SYMBOL, -2), (PUT, 1)}
            funds = Decimal(FUNDS)
            assert taker.balance.total == funds - 211 + 50 - Decimal("0.1305")
            assert quoter.balance.total == funds + 211 - 50 - Decimal("0.0522")
            # Bob saw nothing of it.
            assert (await bob.get_portfolio()).positions == ()
            assert await settle(bob, b_rfq) == [[]]


async def test_rfq_refusals(keyed_server: Server) -> None:
    server = keyed_server
    keys = server.keys
    with trio.fail_after(30):
        async with (
            hcx.client.connect(server.url, wallet="admin", key=keys["admin"]) as admin,
            hcx.client.connect(server.url, wallet="alice", key=keys["alice"]) as alice,
            hcx.client.connect(server.url, wallet="quinn", key=keys["quinn"]) as quinn,
            admin.subscribe_rfq() as d_rfq,
            alice.subscribe_rfq() as a_rfq,
            alice.subscribe_fills() as a_fills,
        ):
            await _list(admin)
            await admin.deposit("admin", FUNDS)
            # Settle is an admin command; the MMP commands are any trader's.
            with pytest.raises(HcxError) as forbidden:
                await alice.settle(SYMBOL, "3000")
            assert forbidden.value.code == "forbidden"
            assert (
                await alice.set_mmp("BTC", interval_ms=1000, frozen_ms=0, qty_limit=5)
            ).status == "ok"
            legs = [RfqLeg(symbol=SYMBOL, side="sell", size=1)]

            def offer(price: str) -> list[QuoteLeg]:
                return [QuoteLeg(symbol=SYMBOL, side="buy", size=1, price=price)]

            # The admin quotes its own RFQ (a quoter is not sent its own requests, but
            # can quote one it knows, and gets the quote as the taker); accepting it
            # would be a trade with itself.
            own = await admin.request_quote(legs)
            assert await settle(admin, d_rfq) == [[]]
            ack = await admin.quote(own, offer("100"), 20_000)
            (quote,) = await take(d_rfq, 1)
            assert isinstance(quote, RfqQuote) and quote.quote_id == ack.quote_id
            assert quote.net_premium == Decimal(-100)  # the taker would receive 100
            self_trade = await admin.accept_quote(own, ack.quote_id)
            assert (self_trade.status, self_trade.reason) == ("rejected", "self_trade")

            # An expired quote is refused, and the refusal does not close the RFQ.
            rfq_id = await alice.request_quote(legs)
            (request,) = await take(d_rfq, 1)
            assert request.rfq_id == rfq_id
            short = await quinn.quote(rfq_id, offer("101"), 1)
            (quote,) = await take(a_rfq, 1)
            assert isinstance(quote, RfqQuote) and quote.quote_id == short.quote_id
            while now_ms() <= quote.expires_ms:
                await trio.sleep(0.01)
            expired = await alice.accept_quote(rfq_id, short.quote_id)
            assert (expired.status, expired.reason) == ("rejected", "quote_expired")

            # Two live quotes accepted at once: exactly one fills, the RFQ fills once.
            first = await quinn.quote(rfq_id, offer("102"), 20_000)
            second = await quinn.quote(rfq_id, offer("103"), 20_000)
            await take(a_rfq, 2)
            results: dict[str, RfqResult] = {}

            async def accept(quote_id: str) -> None:
                results[quote_id] = await alice.accept_quote(rfq_id, quote_id)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(accept, first.quote_id)
                nursery.start_soon(accept, second.quote_id)
            outcomes = sorted((r.status, r.reason or "") for r in results.values())
            assert outcomes[0] == ("filled", "")
            assert outcomes[1][0] == "rejected"
            assert outcomes[1][1] in ("quote_already_filled", "unknown_quote")
            (filled,) = [r for r in results.values() if r.status == "filled"]
            fills = await take(a_fills, 1)
            assert [(f.side, f.size, f.source.quote_id) for f in fills] == [
                ("sell", Decimal(1), filled.quote_id)
            ]
            assert fills[0].price == Decimal(102 if filled.quote_id == first.quote_id else 103)
            assert await settle(alice, a_fills) == [[]]
            (position,) = (await alice.get_portfolio()).positions
            assert (position.symbol, position.size) == (SYMBOL, Decimal(-1))


async def test_lost_acceptance_is_retried_once(server: Server) -> None:
    """The acceptance executes but its answer is lost with the connection: the client
    reconnects and re-sends the same request; the gateway has forgotten the filled RFQ
    by then, yet the answer is the stored fill, and the journal holds one acceptance."""
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice", "bob"))
        async with (
            trio.open_nursery() as nursery,
            hcx.client.connect(server.url, wallet="bob") as bob,  # admin role: may quote
        ):
            proxy: Proxy = await nursery.start(Proxy(server.port).run)
            async with hcx.client.connect(proxy.url, wallet="alice") as alice:
                rfq_id = await alice.request_quote([RfqLeg(symbol=SYMBOL, side="buy", size=3)])
                offer = [QuoteLeg(symbol=SYMBOL, side="sell", size=3, price="99.5")]
                ack = await bob.quote(rfq_id, offer, 20_000)
                proxy.swallow_next_reply()
                result = await alice.accept_quote(rfq_id, ack.quote_id)
                assert proxy.swallowed == 1
                assert (alice.connections, alice.resent) == (2, 1)
                assert (result.status, result.rfq_id, result.quote_id) == (
                    "filled",
                    rfq_id,
                    ack.quote_id,
                )
                (position,) = (await alice.get_portfolio()).positions
                assert position.size == Decimal(3)
            nursery.cancel_scope.cancel()
    assert server.stop() == 0
    mine = [r for r in server.records() if r.wallet == "alice"]
    assert [(r.request_id, r.command[0]) for r in mine] == [(result.request_id, "AcceptQuote")]
