"""(e) The core flow driven by an independent implementation: the ``websockets`` library
on asyncio (not trio, not hcx.client), speaking ``hcx.v1.cbor`` in binary frames."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import cbor2
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import Server
from tests.e2e.market import LISTING, SYMBOL

CBOR = "hcx.v1.cbor"


class Peer:
    """One CBOR connection: requests matched by ``id``/``request_id``; everything else
    (channel messages) is kept in ``inbox`` in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []
        self.last_frame = b""
        self.answer_frame = b""
        self._ids = 0

    async def receive(self) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), 10)
        assert isinstance(frame, bytes), f"a text frame on a CBOR connection: {frame!r}"
        self.last_frame = frame
        message = cbor2.loads(frame)
        assert isinstance(message, dict)
        return message

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if "request_id" not in message:
            self._ids += 1
            message = {**message, "id": self._ids}
        await self.ws.send(cbor2.dumps(message))
        while True:
            answer = await self.receive()
            own_request = answer.get("request_id") == message.get("request_id", "-")
            if own_request and answer["type"] != "OrderUpdate":
                self.answer_frame = self.last_frame
                return answer
            if "id" in message and answer.get("id") == message["id"]:
                self.answer_frame = self.last_frame
                return answer
            self.inbox.append(answer)

    async def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        message = {
            "type": kind,
            "request_id": str(uuid.uuid4()),
            "ts": time.time_ns() // 1_000_000,
            **fields,
        }
        return await self.request(message)

    async def until(self, kind: str) -> dict[str, Any]:
        for index, message in enumerate(self.inbox):
            if message["type"] == kind:
                return self.inbox.pop(index)
        while True:
            message = await self.receive()
            if message["type"] == kind:
                return message
            self.inbox.append(message)


async def _flow(url: str) -> None:
    async with (
        connect(url, subprotocols=[Subprotocol(CBOR)]) as admin_ws,
        connect(url, subprotocols=[Subprotocol(CBOR)]) as alice_ws,
        connect(url, subprotocols=[Subprotocol(CBOR)]) as bob_ws,
    ):
        assert admin_ws.subprotocol == CBOR
        admin, alice, bob = Peer(admin_ws), Peer(alice_ws), Peer(bob_ws)
        for peer, wallet in ((admin, "admin"), (alice, "alice"), (bob, "bob")):
            authenticated = await peer.request({"type": "Authenticate", "wallet": wallet})
            assert authenticated["type"] == "Authenticated" and authenticated["wallet"] == wallet

        listed = await admin.command("CreateInstrument", **LISTING)
        assert (listed["type"], listed["status"]) == ("AdminResult", "ok")
        for wallet in ("alice", "bob"):
            funded = await admin.command("Deposit", wallet=wallet, amount="100000")
            assert funded["status"] == "ok"

        subscribed = await alice.request({"type": "Subscribe", "channel": "book", "symbol": SYMBOL})
        assert subscribed["type"] == "Subscribed"
        snapshot = await alice.until("BookSnapshot")
        assert (snapshot["bids"], snapshot["asks"]) == ([], [])
        for channel in ("fills", "orders"):
            assert (await alice.request({"type": "Subscribe", "channel": channel}))[
                "type"
            ] == "Subscribed"

        ask = await bob.command("PlaceOrder", symbol=SYMBOL, side="sell", price="42.5", size="3")
        assert (ask["type"], ask["status"], ask["price"], ask["size"]) == (
            "OrderResult",
            "open",
            "42.5",
            "3",
        )
        assert isinstance(ask["order_id"], int) and isinstance(ask["seq"], int)
        update = await alice.until("BookUpdate")
        assert (update["seq"], update["asks"]) == (snapshot["seq"] + 1, [["42.5", "3"]])

        buy = {
            "type": "PlaceOrder",
            "request_id": str(uuid.uuid4()),
            "ts": time.time_ns() // 1_000_000,
            "symbol": SYMBOL,
            "side": "buy",
            "price": "43",
            "size": "2",
        }
        bought = await alice.request(buy)
        bought_frame = alice.answer_frame
        assert (bought["status"], bought["filled_size"]) == ("filled", "2")
        fill = await alice.until("Fill")
        assert (fill["price"], fill["size"], fill["liquidity"], fill["order_id"]) == (
            "42.5",
            "2",
            "taker",
            bought["order_id"],
        )
        update = await alice.until("BookUpdate")
        assert (update["seq"], update["asks"]) == (snapshot["seq"] + 2, [["42.5", "1"]])

        # A repeat is answered with the very same bytes, and nothing new happens.
        repeated = await alice.request(buy)
        assert repeated == bought and alice.answer_frame == bought_frame

        portfolio = await alice.request({"type": "GetPortfolio"})
        assert portfolio["positions"] == [
            {"symbol": SYMBOL, "size": "2", "entry_price": "42.5", "realized_pnl": "0"}
        ]
        pong = await alice.request({"type": "Ping"})
        assert pong["type"] == "Pong" and isinstance(pong["server_ms"], int)

        # Text frames and undecodable bytes are refused on a CBOR connection; it stays open.
        await alice_ws.send('{"type": "Ping"}')
        assert (await alice.until("Error"))["code"] == "invalid_message"
        await alice_ws.send(b"\xff\xfe")
        assert (await alice.until("Error"))["code"] == "invalid_message"
        assert (await alice.request({"type": "Ping"}))["type"] == "Pong"


def test_websockets_library_with_cbor(server: Server) -> None:
    asyncio.run(asyncio.wait_for(_flow(server.url), 30))
