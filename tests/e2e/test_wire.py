"""The gateway writes data frames under trio-websocket (``hcx.service.gateway.wire``).

Pinned here, what that relies on:
* ``frame`` builds byte for byte what wsproto builds for a server's complete message;
* wsproto keeps no outgoing state between complete messages, and trio-websocket's
  ``_send`` still writes under ``_stream_lock`` (so our writes never split its frames);
* ``raw_writer`` takes only an open server connection with no extension negotiated;
* on a real trio-websocket connection: many frames in one write arrive as as many
  messages, the connection's own pings and pongs stay whole between them, and nothing is
  written after the Close frame;
* against ``hcx serve``: clients that offer permessage-deflate (the ``websockets``
  library does by default) get no extension, and every subscriber (``websockets`` JSON
  and CBOR, ``hcx.client``) reads each book update once, in order, one object per frame,
  while bulks of orders make the server write many frames at a time.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from decimal import Decimal
from typing import Any

import cbor2
import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket,
    open_websocket_url,
    serve_websocket,
)
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol

import hcx.client
from hcx.client import BookUpdate, PlaceOrderRequest
from hcx.service.gateway.outbound import Outbound
from hcx.service.gateway.wire import RawWriter, frame, raw_writer
from tests.e2e.conftest import Server
from tests.e2e.market import SYMBOL, list_market

SIZES = [0, 1, 125, 126, 127, 200, 65535, 65536, 70_000]


@pytest.mark.parametrize("size", SIZES)
def test_frame_is_what_wsproto_sends(size: int) -> None:
    text = ("é" * size)[: max(0, size - size // 3)] + "x" * (size // 3)
    data = bytes(range(256)) * (size // 256 + 1)
    for payload in (text, data[:size]):
        protocol = FrameProtocol(client=False, extensions=[])
        assert frame(payload) == bytes(protocol.send_data(payload, fin=True))


def test_wsproto_and_trio_websocket_are_as_relied_on() -> None:
    connection = Connection(ConnectionType.SERVER)
    for event in (TextMessage(data="a"), BytesMessage(data=b"b" * 300), TextMessage(data="c")):
        connection.send(event)
        # A complete message leaves nothing behind: frames written past wsproto fit.
        assert connection._proto._outbound_opcode is None
    source = inspect.getsource(WebSocketConnection._send)
    assert "self._stream_lock" in source and "self._stream.send_all" in source
    assert "self._wsproto.send(event)" in source


async def test_raw_writes_on_a_real_connection() -> None:
    """Frames written in bulk, the server's pings between them, then a close: the client
    reads every message whole and in order, and nothing after the Close frame."""
    messages = [json.dumps({"n": n, "pad": "x" * (n * 37 % 300)}) for n in range(400)]
    checked: dict[str, Any] = {}

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        writer = raw_writer(ws)
        assert isinstance(writer, RawWriter)
        frames = [frame(m) for m in messages]
        async with trio.open_nursery() as nursery:

            async def ping_meanwhile() -> None:
                for _ in range(5):
                    await ws.ping()

            nursery.start_soon(ping_meanwhile)
            for at in range(0, len(frames), 50):
                await writer.write(b"".join(frames[at : at + 50]))
                await trio.sleep(0)
        await ws.aclose(code=4000, reason="done")
        with pytest.raises(ConnectionClosed):
            await writer.write(frame("after the close"))
        checked["after_close"] = True

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as client:
            assert raw_writer(client) is None  # a client's frames are masked
            received = [await client.get_message() for _ in messages]
            assert received == messages
            with pytest.raises(ConnectionClosed) as closed:
                await client.get_message()
            assert closed.value.reason is not None and closed.value.reason.code == 4000
        nursery.cancel_scope.cancel()
    assert checked == {"after_close": True}


async def test_raw_writer_refuses_what_it_cannot_frame() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        seen["open"] = raw_writer(ws)
        proto: Any = ws._wsproto.connection._proto  # type: ignore[union-attr]
        proto.extensions = [PerMessageDeflate()]
        seen["deflate"] = raw_writer(ws)
        proto.extensions = []
        await ws.aclose()
        seen["closed"] = raw_writer(ws)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as client:
            with pytest.raises(ConnectionClosed):
                await client.get_message()
        nursery.cancel_scope.cancel()
    assert isinstance(seen["open"], RawWriter)
    assert seen["deflate"] is None and seen["closed"] is None


# --- against hcx serve ---------------------------------------------------------------

BULKS = 6
BULK = 50


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _websockets_subscriber(
    url: str, subprotocol: str, started: asyncio.Event, expected_updates: int
) -> list[dict[str, Any]]:
    async with connect(url, subprotocols=[Subprotocol(subprotocol)]) as ws:
        # websockets offers permessage-deflate unless told not to: none may be agreed.
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.subprotocol == subprotocol
        encode = cbor2.dumps if subprotocol == "hcx.v1.cbor" else json.dumps
        await ws.send(encode({"type": "Subscribe", "channel": "book", "symbol": SYMBOL}))
        received: list[dict[str, Any]] = []
        while len([m for m in received if m["type"] == "BookUpdate"]) < expected_updates:
            data = await asyncio.wait_for(ws.recv(), 20)
            if subprotocol == "hcx.v1.cbor":
                assert isinstance(data, bytes)
                message = cbor2.loads(data)
            else:
                assert isinstance(data, str)
                message = json.loads(data)
            assert isinstance(message, dict)
            received.append(message)
            if message["type"] == "BookSnapshot":
                started.set()
        return received


def _check_stream(received: list[dict[str, Any]], expected_updates: int) -> None:
    kinds = [m["type"] for m in received]
    assert kinds[:2] == ["Subscribed", "BookSnapshot"]
    assert kinds[2:] == ["BookUpdate"] * expected_updates
    first = received[1]["seq"]
    assert [m["seq"] for m in received[2:]] == list(range(first + 1, first + 1 + expected_updates))


async def _trade(url: str) -> None:
    async with hcx.client.connect(url, wallet="alice") as alice:
        for round_ in range(BULKS):
            orders = [
                PlaceOrderRequest(symbol=SYMBOL, side="buy", price=Decimal(10 + n), size=1)
                for n in range(BULK)
            ]
            result = await alice.bulk_orders(orders)
            assert [r.status for r in result.results] == ["open"] * BULK, round_  # type: ignore[union-attr]


def test_every_subscriber_reads_every_update_once(server: Server) -> None:
    """Bulks put BULK updates in each subscriber's queue at once: written together."""
    expected = BULKS * BULK
    url = server.url

    async def setup_and_follow_with_hcx_client(ready: trio.Event) -> list[Any]:
        async with (
            hcx.client.connect(url) as watcher,
            watcher.subscribe_book(SYMBOL) as book,
        ):
            ready.set()
            updates = 0
            async for message in book:
                if isinstance(message, BookUpdate):
                    updates += 1
                if updates == expected:
                    break
            return [book.gaps, book.snapshots, book.book.bids[:2]]

    async def websockets_side(loop_ready: Any) -> list[list[dict[str, Any]]]:
        json_started, cbor_started = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(_websockets_subscriber(url, "hcx.v1.json", json_started, expected)),
            asyncio.create_task(_websockets_subscriber(url, "hcx.v1.cbor", cbor_started, expected)),
        ]
        await json_started.wait()
        await cbor_started.wait()
        loop_ready()
        return list(await asyncio.gather(*tasks))

    async def main() -> None:
        async with hcx.client.connect(url, wallet="admin") as admin:
            await list_market(admin, ("alice",))
        ready, websockets_ready = trio.Event(), trio.Event()
        token = trio.lowlevel.current_trio_token()
        results: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:

            async def follow() -> None:
                results["hcx"] = await setup_and_follow_with_hcx_client(ready)

            nursery.start_soon(follow)

            async def run_websockets() -> None:
                results["websockets"] = await trio.to_thread.run_sync(
                    lambda: asyncio.run(
                        websockets_side(lambda: token.run_sync_soon(websockets_ready.set))
                    )
                )

            nursery.start_soon(run_websockets)
            with trio.fail_after(30):
                await ready.wait()
                await websockets_ready.wait()
                await _trade(url)
        gaps, snapshots, top = results["hcx"]
        assert (gaps, snapshots) == (0, 1)
        assert top == [
            (Decimal(10 + BULK - 1), Decimal(BULKS)),
            (Decimal(10 + BULK - 2), Decimal(BULKS)),
        ]
        for received in results["websockets"]:
            _check_stream(received, expected)

    trio.run(main)


# --- when a connection's queue is written (channel_interval_ms) -------------------------


def _update(seq: int) -> dict[str, Any]:
    """A whole ``BookUpdate`` (every message in the suite is checked against the schema)."""
    return {
        "type": "BookUpdate",
        "symbol": "S",
        "seq": seq,
        "bids": [],
        "asks": [],
        "journal_seq": seq,
    }


async def test_market_data_waits_for_the_interval_answers_do_not(mock_clock: Any) -> None:
    outbound = Outbound("hcx.v1.json", 100, 1 << 20, framed=True, interval_s=0.02)
    taken: list[list[Any]] = []

    async def take() -> None:
        batch, size = await outbound.take()
        outbound.sent(len(batch), size)
        taken.append(batch)

    # Quiet so far: the first update goes at once.
    outbound.offer(_update(1), urgent=False)
    await take()
    assert len(taken[-1]) == 1
    async with trio.open_nursery() as nursery:
        # Right after a write, market data gathers for the interval...
        outbound.offer(_update(2), urgent=False)
        nursery.start_soon(take)
        await trio.testing.wait_all_tasks_blocked()
        outbound.offer(_update(3), urgent=False)
        mock_clock.jump(0.019)
        await trio.testing.wait_all_tasks_blocked()
        assert len(taken) == 1
        mock_clock.jump(0.002)
    assert [json.loads(f[2:]) for f in taken[-1]] == [
        _update(2),
        _update(3),
    ]
    async with trio.open_nursery() as nursery:
        # ... unless an answer comes: it goes at once and takes them along, in order.
        outbound.offer(_update(4), urgent=False)
        nursery.start_soon(take)
        await trio.testing.wait_all_tasks_blocked()
        assert len(taken) == 2
        outbound.offer({"type": "Pong", "server_ms": 1})
    assert [json.loads(f[2:])["type"] for f in taken[-1]] == ["BookUpdate", "Pong"]
    async with trio.open_nursery() as nursery:
        # Half full (100 messages at most): written at once, a reader keeping up is not
        # made to look slow by the holding.
        outbound.offer(_update(5), urgent=False)
        nursery.start_soon(take)
        for seq in range(6, 6 + 48):
            outbound.offer(_update(seq), urgent=False)
        await trio.testing.wait_all_tasks_blocked()
        assert len(taken) == 3
        outbound.offer(_update(54), urgent=False)
    assert len(taken[-1]) == 50
    async with trio.open_nursery() as nursery:
        # A full queue while waiting: the writer stops at once.
        outbound.offer(_update(55), urgent=False)
        nursery.start_soon(take)
        await trio.testing.wait_all_tasks_blocked()
        for seq in range(56, 200):
            outbound.offer(_update(seq), urgent=False)
    assert taken[-1] == [] and outbound.overflowed.is_set() and outbound.queued_bytes == 0


def test_private_events_and_answers_carry_held_market_data(start_server: Any) -> None:
    """With an interval far longer than the test, a book update reaches a subscriber only
    when something urgent for that connection is written: its own Ping's answer, or a
    private event (an own order filled by someone else's). Were either held, the test
    would wait out its deadline."""
    server = start_server(config="[gateway]\nchannel_interval_ms = 600000\n")

    async def conversation(alice: hcx.client.Client, bob: hcx.client.Client, raw: Any) -> None:
        async def ask(message: dict[str, Any]) -> None:
            await raw.send_message(json.dumps(message))

        async def next_message() -> dict[str, Any]:
            decoded: dict[str, Any] = json.loads(await raw.get_message())
            return decoded

        await ask({"type": "Authenticate", "wallet": "bob"})
        assert (await next_message())["type"] == "Authenticated"
        await ask({"type": "Subscribe", "channel": "orders"})
        assert (await next_message())["type"] == "Subscribed"
        await ask({"type": "Subscribe", "channel": "book", "symbol": SYMBOL})
        assert [(await next_message())["type"] for _ in range(2)] == ["Subscribed", "BookSnapshot"]
        # Market data only: held (the snapshot was just written) until the Pong.
        await alice.place_order(SYMBOL, "buy", "10", "1")
        await ask({"type": "Ping", "id": 1})
        update = await next_message()
        assert (update["type"], update["bids"]) == ("BookUpdate", [["10", "1"]])
        assert (await next_message())["type"] == "Pong"
        # A private event goes at once, taking the held update with it.
        await bob.place_order(SYMBOL, "sell", "20", "1")
        await alice.place_order(SYMBOL, "buy", "20", "1")
        kinds = [(await next_message())["type"] for _ in range(4)]
        assert kinds == ["OrderUpdate", "BookUpdate", "OrderUpdate", "BookUpdate"]

    async def main() -> None:
        with trio.fail_after(60):
            async with hcx.client.connect(server.url, wallet="admin") as admin:
                await list_market(admin, ("alice", "bob"))
            async with (
                hcx.client.connect(server.url, wallet="alice") as alice,
                hcx.client.connect(server.url, wallet="bob") as bob,
                open_websocket_url(server.url) as raw,
            ):
                await conversation(alice, bob, raw)

    trio.run(main)
