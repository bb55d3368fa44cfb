"""(g) A consumer that stops reading is cut off with 1008 and the protocol's reason,
while everybody else keeps trading and reading.

The server runs with a small outbound queue (``[gateway] outbound_messages = 50``,
``outbound_bytes = 65536``). The slow consumer is a raw trio-websocket connection with
a small socket receive buffer that subscribes to the book and then reads nothing while
two traders send bulks of orders. The server's metrics tell when it was cut off; it pings
(the ping crosses the server's close frame), then reads what reached it, up to the close
frame.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from decimal import Decimal

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

import hcx.client
from hcx.client import Client, PlaceOrderRequest
from hcx.client.messages import Side
from tests.e2e.conftest import StartServer
from tests.e2e.helpers import open_small_window_connection
from tests.e2e.market import SYMBOL, list_market

SLOW_CONSUMER = '{"error":"slow_consumer","recovery":"resubscribe"}'
# Each bulk is published at once: two traders put at most 2 * BULK book updates into a
# subscriber's queue in one go, well under its 50 messages, so a reader keeps up.
BULK = 10
MAX_ROUNDS = 400


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(metrics_port: int) -> str:
    return (
        f"metrics_port = {metrics_port}\n"
        "[gateway]\noutbound_messages = 50\noutbound_bytes = 65536\n"
    )


async def _slow_closes(metrics_port: int) -> int:
    def read() -> str:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    for line in (await trio.to_thread.run_sync(read)).splitlines():
        if line.startswith("hcx_slow_consumer_closes_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no hcx_slow_consumer_closes_total metric")


async def _slow_consumer(nursery: trio.Nursery, port: int) -> WebSocketConnection:
    ws = await open_small_window_connection(nursery, port)
    await ws.send_message(json.dumps({"type": "Subscribe", "channel": "book", "symbol": SYMBOL}))
    assert json.loads(await ws.get_message())["type"] == "Subscribed"
    assert json.loads(await ws.get_message())["type"] == "BookSnapshot"
    return ws


async def _round(client: Client, side: Side, base: int) -> None:
    """BULK resting orders at distinct prices, cancelled again: 2 * BULK book updates."""
    step = -1 if side == "buy" else 1
    orders = [
        PlaceOrderRequest(symbol=SYMBOL, side=side, price=Decimal(base + step * i), size=1)
        for i in range(BULK)
    ]
    result = await client.bulk_orders(orders)
    assert [r.status for r in result.results] == ["open"] * BULK, result  # type: ignore[union-attr]
    assert len((await client.cancel_all(symbol=SYMBOL)).canceled) == BULK


async def test_slow_consumer_is_cut_off(start_server: StartServer) -> None:
    metrics_port = _free_port()
    server = start_server(config=_config(metrics_port))
    with trio.fail_after(60):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, ("alice", "bob"))
        async with (
            trio.open_nursery() as nursery,
            hcx.client.connect(server.url, wallet="alice") as alice,
            hcx.client.connect(server.url, wallet="bob") as bob,
            hcx.client.connect(server.url) as healthy,
            healthy.subscribe_book(SYMBOL) as book,
        ):
            slow = await _slow_consumer(nursery, server.port)

            async def follow() -> None:
                async for _ in book:
                    pass

            nursery.start_soon(follow)

            # Trade until the server reports the cut (checked every round).
            rounds = 0
            while await _slow_closes(metrics_port) == 0:
                assert rounds < MAX_ROUNDS, "the slow consumer was never cut off"
                async with trio.open_nursery() as traders:
                    traders.start_soon(_round, alice, "buy", 90)
                    traders.start_soon(_round, bob, "sell", 110)
                rounds += 1

            # Its ping crosses the server's close frame: no pong may go out after the
            # close, and trying one used to stop the whole server (hcx.trio_websocket_fixes).
            with trio.move_on_after(0.5):
                await slow.ping(b"crossing the close")

            # The slow consumer reads what reached it: then the close frame.
            received = 0
            try:
                while True:
                    await slow.get_message()
                    received += 1
            except ConnectionClosed as closed:
                assert closed.reason is not None
                assert (closed.reason.code, closed.reason.reason) == (1008, SLOW_CONSUMER)
            assert 0 < received < rounds * 4 * BULK  # it did not get everything

            # Trading and reading go on for everyone else.
            for _ in range(5):
                await _round(alice, "buy", 90)
                await _round(bob, "sell", 110)
            more = await alice.place_order(SYMBOL, "buy", "95", "2")
            assert more.status == "open"
            with trio.fail_after(10):
                while book.book.bids != [(Decimal(95), Decimal(2))]:
                    await trio.sleep(0.01)
            assert book.book.asks == [] and book.gaps == 0 and book.snapshots == 1
            assert (healthy.connections, alice.connections, bob.connections) == (1, 1, 1)
            assert await _slow_closes(metrics_port) == 1
            nursery.cancel_scope.cancel()
