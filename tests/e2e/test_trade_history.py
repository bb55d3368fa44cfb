"""Public trade history against a real ``hcx serve``: ``GetTrades`` pages, ``Trade.seq``
numbers each symbol's trades 1, 2, 3 … the same after a restart, and ``from_seq`` on the
``trades`` channel replays what followed it, then continues live with no gap and no
duplicate. Raw JSON frames over the ``websockets`` sync client, CBOR for one session."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import cbor2
import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import Server, StartServer, launch
from tests.e2e.market import LISTING, SYMBOL, now_ms

TRADES = 30


class Raw:
    def __init__(self, ws: ClientConnection, cbor: bool = False) -> None:
        self.ws = ws
        self.cbor = cbor
        self.ids = 0
        self.pending: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(cbor2.dumps(message) if self.cbor else json.dumps(message))

    def receive(self) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        frame = self.ws.recv(10)
        return cbor2.loads(frame) if self.cbor else json.loads(frame)  # type: ignore[no-any-return]

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        self.send({**message, "id": self.ids})
        skipped = []
        while True:
            answer = self.receive()
            if answer.get("id") == self.ids:
                self.pending = skipped + self.pending
                return answer
            skipped.append(answer)

    def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.request(
            {"type": kind, "request_id": str(uuid.uuid4()), "ts": now_ms(), **fields}
        )


def open_raw(server: Server, wallet: str, cbor: bool = False) -> Raw:
    protocol = Subprotocol("hcx.v1.cbor" if cbor else "hcx.v1.json")
    # Entered as a context (closed by the tests with ``ws.close()``).
    raw = Raw(connect(server.url, subprotocols=[protocol]).__enter__(), cbor)
    assert raw.request({"type": "Authenticate", "wallet": wallet})["type"] == "Authenticated"
    return raw


def trade(alice: Raw, bob: Raw, price: str) -> int:
    """One trade; the journal seq of the order that took."""
    rest = alice.command("PlaceOrder", symbol=SYMBOL, side="sell", price=price, size="1")
    assert rest["status"] == "open", rest
    take = bob.command("PlaceOrder", symbol=SYMBOL, side="buy", price=price, size="1")
    assert take["status"] == "filled", take
    return int(take["seq"])


def market(server: Server) -> tuple[Raw, Raw]:
    admin = open_raw(server, "admin")
    assert admin.command("CreateInstrument", **LISTING)["status"] == "ok"
    for wallet in ("alice", "bob"):
        assert admin.command("Deposit", wallet=wallet, amount="1000000")["status"] == "ok"
    admin.ws.close()
    return open_raw(server, "alice"), open_raw(server, "bob")


def test_get_trades_numbers_pages_and_survives_a_restart(start_server: StartServer) -> None:
    server = start_server()
    alice, bob = market(server)
    takers = [trade(alice, bob, f"{10 + index % 5}") for index in range(TRADES)]
    everything = alice.request({"type": "GetTrades", "symbol": SYMBOL, "limit": 1000})
    assert everything["type"] == "Trades" and everything["symbol"] == SYMBOL
    trades = everything["trades"]
    assert [t["seq"] for t in trades] == list(range(1, TRADES + 1))
    assert [t["price"] for t in trades] == [f"{10 + i % 5}" for i in range(TRADES)]
    assert all(t["taker_side"] == "buy" and t["size"] == "1" for t in trades)
    # journal_seq: the journal sequence of the command that traded.
    assert [t["journal_seq"] for t in trades] == takers
    # Pages: from_seq is the first seq returned; without it, the latest ``limit``.
    page = alice.request({"type": "GetTrades", "symbol": SYMBOL, "from_seq": 11, "limit": 5})
    assert [t["seq"] for t in page["trades"]] == [11, 12, 13, 14, 15]
    latest = alice.request({"type": "GetTrades", "symbol": SYMBOL, "limit": 3})
    assert [t["seq"] for t in latest["trades"]] == [TRADES - 2, TRADES - 1, TRADES]
    default = alice.request({"type": "GetTrades", "symbol": SYMBOL})
    assert len(default["trades"]) == TRADES  # fewer than the default limit, 100
    past_end = alice.request({"type": "GetTrades", "symbol": SYMBOL, "from_seq": TRADES + 1})
    assert past_end["trades"] == []
    other = alice.request({"type": "GetTrades", "symbol": "ETH-20301231-1-C"})
    assert (other["type"], other["trades"]) == ("Trades", [])
    alice.ws.close()
    bob.ws.close()
    server.stop()

    again = launch(Path(server.db).parent)
    try:
        alice, bob = open_raw(again, "alice", cbor=True), open_raw(again, "bob")
        after = alice.request({"type": "GetTrades", "symbol": SYMBOL, "limit": 1000})
        assert after["trades"] == trades
        trade(alice, bob, "12")
        newest = alice.request({"type": "GetTrades", "symbol": SYMBOL, "limit": 1})
        assert newest["trades"][0]["seq"] == TRADES + 1
        alice.ws.close()
        bob.ws.close()
    finally:
        assert again.stop() == 0


def test_trades_channel_resumes_from_seq(server: Server) -> None:
    alice, bob = market(server)
    for _ in range(5):
        trade(alice, bob, "10")
    watcher = open_raw(server, "carol")
    subscribed = watcher.request(
        {"type": "Subscribe", "channel": "trades", "symbol": SYMBOL, "from_seq": 2}
    )
    assert subscribed == {"type": "Subscribed", "id": 2, "channel": "trades", "symbol": SYMBOL}
    trade(alice, bob, "11")
    seen = [watcher.receive() for _ in range(4)]
    assert [(m["type"], m["seq"]) for m in seen] == [("Trade", n) for n in (3, 4, 5, 6)]
    assert seen[-1]["price"] == "11"
    for raw in (alice, bob, watcher):
        raw.ws.close()


@pytest.mark.wire_malformed
def test_get_trades_bad_fields_are_named(server: Server) -> None:
    raw = open_raw(server, "alice")
    for message, field in (
        ({"type": "GetTrades"}, "symbol"),
        ({"type": "GetTrades", "symbol": SYMBOL, "limit": 1001}, "limit"),
        ({"type": "GetTrades", "symbol": SYMBOL, "limit": 0}, "limit"),
        ({"type": "GetTrades", "symbol": SYMBOL, "from_seq": 0}, "from_seq"),
        ({"type": "GetTrades", "symbol": SYMBOL, "from_seq": "1"}, "from_seq"),
        ({"type": "Subscribe", "channel": "trades", "from_seq": 1}, "symbol"),
    ):
        answer = raw.request(message)
        assert (answer["type"], answer["code"], answer["field"]) == (
            "Error",
            "invalid_field",
            field,
        ), message
    raw.ws.close()
    server.stop()
    assert server.records() == []
