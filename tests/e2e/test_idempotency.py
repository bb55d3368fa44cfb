"""(c) A repeated request is answered with the identical result and executed once,
including the client's automatic retry when the connection drops with the answer lost."""

from __future__ import annotations

import json
import uuid
from typing import Any

import trio
from trio_websocket import open_websocket_url

import hcx.client
from hcx.client import CancelOrderRequest, PlaceOrderRequest
from tests.e2e.conftest import Server
from tests.e2e.market import SYMBOL, list_market, now_ms
from tests.e2e.proxy import Proxy


async def _raw_request(url: str, wallet: str, message: dict[str, Any]) -> dict[str, Any]:
    """Send one command on a fresh raw connection; its answer exactly as received."""
    async with open_websocket_url(url, subprotocols=["hcx.v1.json"]) as ws:
        await ws.send_message(json.dumps({"type": "Authenticate", "wallet": wallet}))
        assert json.loads(await ws.get_message())["type"] == "Authenticated"
        await ws.send_message(json.dumps(message))
        answer: dict[str, Any] = json.loads(await ws.get_message())
        return answer


async def test_repeats_get_the_identical_result(server: Server) -> None:
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice",))
        request_id, ts = str(uuid.uuid4()), now_ms()
        place = {
            "type": "PlaceOrder",
            "request_id": request_id,
            "ts": ts,
            "symbol": SYMBOL,
            "side": "buy",
            "price": "99.5",
            "size": "3",
            "client_id": "once",
        }
        first = await _raw_request(server.url, "alice", place)
        assert first["type"] == "OrderResult" and first["status"] == "open"
        # The same request on another connection, then through the client: identical.
        again = await _raw_request(server.url, "alice", place)
        assert again == first
        async with hcx.client.connect(server.url, wallet="alice") as alice:
            typed = await alice.place_order(
                SYMBOL, "buy", "99.5", "3", client_id="once", request_id=request_id, ts=ts
            )
            assert typed == hcx.client.parse_message(first)
            assert typed.seq == first["seq"] and typed.order_id == first["order_id"]

            # A cancel repeated after the order's state moved on still answers with the
            # stored result, and executes once.
            cancel = CancelOrderRequest(order_id=typed.order_id)
            canceled = await alice.submit(cancel)
            assert canceled.status == "canceled"
            assert await alice.submit(cancel) == canceled

            # Bulk items are idempotent one by one.
            items = [
                PlaceOrderRequest(symbol=SYMBOL, side="buy", price="98", size="1"),
                PlaceOrderRequest(symbol=SYMBOL, side="buy", price="97", size="1"),
            ]
            bulk = await alice.bulk_orders(items)
            assert [r.status for r in bulk.results] == ["open", "open"]  # type: ignore[union-attr]
            assert (await alice.bulk_orders(items)).results == bulk.results

            orders = (await alice.get_open_orders(SYMBOL)).orders
            assert sorted(o.price for o in orders) == [97, 98]  # type: ignore[type-var]
            assert (await alice.get_order(request_id=request_id)).status == "canceled"
    assert server.stop() == 0
    records = server.records()
    counts: dict[str, int] = {}
    for record in records:
        counts[record.request_id] = counts.get(record.request_id, 0) + 1
    assert counts[request_id] == 1
    assert counts[cancel.request_id] == 1
    assert [counts[item.request_id] for item in items] == [1, 1]
    assert len(records) == 2 + 1 + 1 + 1 + 2  # listing, funding, place, cancel, bulk


async def test_lost_answer_is_retried_with_the_same_request(server: Server) -> None:
    """The server executes the command but the answer is lost with the connection: the
    client reconnects, re-sends the same request_id and ts, and gets the stored result."""
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice",))
        async with trio.open_nursery() as nursery:
            proxy: Proxy = await nursery.start(Proxy(server.port).run)
            async with hcx.client.connect(proxy.url, wallet="alice") as alice:
                proxy.swallow_next_reply()
                result = await alice.place_order(SYMBOL, "sell", "101", "2", client_id="r1")
                assert proxy.swallowed == 1
                assert alice.connections == 2 and alice.resent == 1
                assert alice.last_close is not None and alice.last_close[0] == 1006
                assert result.status == "open" and result.client_id == "r1"

                # Exactly one order exists, and a deliberate repeat matches the retry.
                (order,) = (await alice.get_open_orders()).orders
                assert order.order_id == result.order_id
                again = await alice.place_order(
                    SYMBOL,
                    "sell",
                    "101",
                    "2",
                    client_id="r1",
                    request_id=result.request_id,
                    ts=result.ts,
                )
                assert again == result

                # The same while a cancel is in flight.
                proxy.swallow_next_reply()
                canceled = await alice.cancel_order(result.order_id)
                assert canceled.status == "canceled" and alice.resent == 2
                assert (await alice.get_open_orders()).orders == ()
            nursery.cancel_scope.cancel()
    assert server.stop() == 0
    mine = [r for r in server.records() if r.wallet == "alice"]
    assert [r.request_id for r in mine] == [result.request_id, canceled.request_id]


async def test_silently_dead_connection_is_noticed_and_the_command_retried(
    server: Server,
) -> None:
    """The link goes quiet without closing (no FIN, no RST) while a command is on its
    way: the client's heartbeat notices, reconnects and re-sends; it executes once."""
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice",))
        async with trio.open_nursery() as nursery:
            proxy: Proxy = await nursery.start(Proxy(server.port).run)
            async with hcx.client.connect(
                proxy.url, wallet="alice", heartbeat_interval=0.2, heartbeat_timeout=0.3
            ) as alice:
                proxy.freeze()
                started = trio.current_time()
                result = await alice.place_order(SYMBOL, "buy", "90", "1")
                assert trio.current_time() - started < 5
                assert result.status == "open"
                assert alice.connections == 2 and alice.resent == 1
                assert [o.order_id for o in (await alice.get_open_orders()).orders] == [
                    result.order_id
                ]
            nursery.cancel_scope.cancel()
    assert server.stop() == 0
    assert [r.request_id for r in server.records() if r.wallet == "alice"] == [result.request_id]


async def test_a_rejection_stays_the_answer_after_the_symbol_is_listed(server: Server) -> None:
    """Regression (the chaos campaign's late listing and repeats catch it): an order on a
    symbol not yet listed was refused ``unknown_symbol`` without a journal entry, so a
    repeat of the same request after the listing executed it: the client was told
    "rejected", then "open". The rejection is journaled now; every repeat gets it back."""
    with trio.fail_after(30):
        place = {
            "type": "PlaceOrder",
            "request_id": str(uuid.uuid4()),
            "ts": now_ms(),
            "symbol": SYMBOL,
            "side": "buy",
            "price": "99.5",
            "size": "1",
        }
        first = await _raw_request(server.url, "alice", place)
        assert (first["status"], first["reason"]) == ("rejected", "unknown_symbol"), first
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice",))
        again = await _raw_request(server.url, "alice", place)
        assert again == first
        async with hcx.client.connect(server.url, wallet="alice") as alice:
            assert (await alice.get_open_orders()).orders == ()
    assert server.stop() == 0
    mine = [r for r in server.records() if r.wallet == "alice"]
    assert [r.request_id for r in mine] == [place["request_id"]]
