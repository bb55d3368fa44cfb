"""(f) Bad input gets the right error, the connection stays open (except for an
oversized frame: 1009), the server keeps answering, and nothing malformed is journaled.

Raw frames are sent with the ``websockets`` library's sync client, so nothing of
``hcx.protocol`` shapes what goes out.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from typing import Any

import cbor2
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import Server
from tests.e2e.market import EXPIRY_MS, SYMBOL

# Sends malformed messages on purpose: only what the server receives may fail the schema.
pytestmark = pytest.mark.wire_malformed

JSON = Subprotocol("hcx.v1.json")
CBOR = Subprotocol("hcx.v1.cbor")


class Raw:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.cbor = ws.subprotocol == CBOR

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        if isinstance(message, dict):
            message = cbor2.dumps(message) if self.cbor else json.dumps(message)
        self.ws.send(message)

    def receive(self) -> dict[str, Any]:
        frame = self.ws.recv(timeout=10)
        if self.cbor:
            assert isinstance(frame, bytes), f"a text frame on a CBOR connection: {frame!r}"
            message = cbor2.loads(frame)
        else:
            assert isinstance(frame, str), f"a binary frame on a JSON connection: {frame!r}"
            message = json.loads(frame)
        assert isinstance(message, dict)
        return message

    def ask(self, message: dict[str, Any] | str | bytes) -> dict[str, Any]:
        self.send(message)
        return self.receive()

    def ping(self) -> None:
        assert self.ask({"type": "Ping", "id": "alive"}) == {
            "type": "Pong",
            "id": "alive",
            "server_ms": pytest.approx(time.time() * 1000, abs=5000),
        }


def _now() -> int:
    return time.time_ns() // 1_000_000


def _place(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "PlaceOrder",
        "request_id": str(uuid.uuid4()),
        "ts": _now(),
        "symbol": SYMBOL,
        "side": "buy",
        "price": "10",
        "size": "1",
    }
    for name in changes.pop("drop", ()):
        del message[name]
    return {**message, **changes}


def _bulk(count: int) -> dict[str, Any]:
    return {"type": "BulkOrders", "id": f"bulk{count}", "orders": [_place() for _ in range(count)]}


def _open(stack: ExitStack, url: str, subprotocol: str = JSON, **options: Any) -> Raw:
    return Raw(
        stack.enter_context(connect(url, subprotocols=[Subprotocol(subprotocol)], **options))
    )


def _setup(stack: ExitStack, url: str) -> Raw:
    """List SYMBOL and fund alice (2 journal records); alice's connection."""
    raw = _open(stack, url)
    assert raw.ask({"type": "Authenticate", "wallet": "alice"})["role"] == "admin"
    base = {"request_id": str(uuid.uuid4()), "ts": _now()}
    listed = raw.ask(
        {
            "type": "CreateInstrument",
            **base,
            "symbol": SYMBOL,
            "underlying": "BTC",
            "expiry_ms": EXPIRY_MS,
            "strike": "3000",
            "option": "call",
            "tick_size": "0.1",
            "lot_size": "1",
        }
    )
    assert listed["status"] == "ok", listed
    funded = raw.ask(
        {
            "type": "Deposit",
            "request_id": str(uuid.uuid4()),
            "ts": _now(),
            "wallet": "alice",
            "amount": "100000",
        }
    )
    assert funded["status"] == "ok", funded
    return raw


MALFORMED: list[tuple[str, Any, str, str | None]] = [
    ("invalid JSON", '{"type": "Ping"', "invalid_message", None),
    ("not an object", "[1, 2, 3]", "invalid_message", None),
    ("NaN", '{"type": "Ping", "x": NaN}', "invalid_message", None),
    ("duplicated key", '{"type": "Ping", "type": "Ping"}', "invalid_message", None),
    ("type not a string", {"type": 7}, "invalid_message", None),
    ("no type", {"id": 1}, "invalid_message", None),
    ("unknown type", {"type": "LaunchRocket", "id": "u1"}, "unknown_type", None),
    ("price as a number", _place(price=100), "invalid_field", "price"),
    ("size with exponent", _place(size="1e3"), "invalid_field", "size"),
    ("price not a number", _place(price="ten"), "invalid_field", "price"),
    ("side", _place(side="up"), "invalid_field", "side"),
    ("tif", _place(tif="day"), "invalid_field", "tif"),
    ("post_only not a bool", _place(post_only="yes"), "invalid_field", "post_only"),
    ("ts as a string", _place(ts="now"), "invalid_field", "ts"),
    ("symbol as a number", _place(symbol=5), "invalid_field", "symbol"),
    ("client_id too long", _place(client_id="x" * 37), "invalid_field", "client_id"),
    ("missing symbol", _place(drop=["symbol"]), "invalid_field", "symbol"),
    ("missing price", _place(drop=["price"]), "invalid_field", "price"),
    ("missing ts", _place(drop=["ts"]), "invalid_field", "ts"),
    ("missing request_id", _place(drop=["request_id"]), "invalid_field", "request_id"),
    ("bad UUID", _place(request_id="not-a-uuid"), "invalid_field", "request_id"),
    (
        "upper-case UUID",
        _place(request_id=str(uuid.uuid4()).upper()),
        "invalid_field",
        "request_id",
    ),
    (
        "cancel naming no order",
        {"type": "CancelOrder", "request_id": str(uuid.uuid4()), "ts": _now()},
        "invalid_field",
        "order_id",
    ),
    (
        "order_id as a string",
        {"type": "CancelOrder", "request_id": str(uuid.uuid4()), "ts": _now(), "order_id": "1"},
        "invalid_field",
        "order_id",
    ),
    ("BulkOrders of 51", _bulk(51), "invalid_field", "orders"),
    ("BulkOrders of 0", _bulk(0), "invalid_field", "orders"),
    ("BulkOrders not a list", {"type": "BulkOrders", "orders": {}}, "invalid_field", "orders"),
    ("unknown channel", {"type": "Subscribe", "channel": "gossip"}, "invalid_field", "channel"),
    ("book without symbol", {"type": "Subscribe", "channel": "book"}, "invalid_field", "symbol"),
    ("GetOrder by nothing", {"type": "GetOrder", "id": 9}, "invalid_field", "order_id"),
]


def test_malformed_input(server: Server) -> None:
    # Built now: a command's ts must be inside the server's window when it executes.
    good, bad = _place(price="11"), _place(price=11)
    with ExitStack() as stack:
        _malformed_input(stack, server.url, good, bad)
    assert server.stop() == 0
    records = server.records()
    assert [r.request_id for r in records][2:] == [good["request_id"]]
    assert server.journal_rows() == 3


def _malformed_input(stack: ExitStack, url: str, good: dict[str, Any], bad: dict[str, Any]) -> None:
    raw = _setup(stack, url)
    for label, message, code, field in MALFORMED:
        answer = raw.ask(message)
        assert answer["type"] == "Error", (label, answer)
        assert (answer["code"], answer.get("field")) == (code, field), (label, answer)
        assert isinstance(answer["message"], str) and answer["message"]
        if isinstance(message, dict):  # the answer echoes what identifies the request
            for key in ("id", "request_id"):
                if isinstance(message.get(key), str | int):
                    assert answer[key] == message[key], (label, answer)
    raw.ping()

    # A bulk's items fail on their own, in place; its good item executes (journaled).
    answer = raw.ask({"type": "BulkOrders", "id": "mixed", "orders": [good, bad]})
    assert answer["type"] == "BulkResult" and answer["id"] == "mixed"
    assert answer["results"][0]["status"] == "open"
    assert answer["results"][1] == {
        "type": "Error",
        "code": "invalid_field",
        "message": answer["results"][1]["message"],
        "field": "orders[1].price",
        "request_id": bad["request_id"],
    }
    raw.ping()

    # CBOR: undecodable bytes, a non-map, a text frame, a tagged value.
    cbor = _open(stack, url, CBOR)
    assert cbor.cbor
    for frame in (
        b"\xff\x00\x01",
        b"",
        cbor2.dumps([1, 2]),
        '{"type": "Ping"}',
        cbor2.dumps({"type": "Ping", "when": cbor2.CBORTag(1, 0)}),
        cbor2.dumps({1: "int key", "type": "Ping"}),
    ):
        answer = cbor.ask(frame)
        assert (answer["type"], answer["code"]) == ("Error", "invalid_message"), frame
    cbor.ping()

    # A frame just under 64 KiB is fine; one over it closes the connection with 1009.
    roomy = _open(stack, url, max_size=None)
    padded = json.dumps({"type": "Ping", "id": "alive", "pad": ""})
    roomy.send(json.dumps({"type": "Ping", "id": "big", "pad": "x" * (65536 - len(padded) - 10)}))
    assert roomy.receive()["type"] == "Pong"
    roomy.send(json.dumps({"type": "Ping", "pad": "x" * 70_000}))
    with pytest.raises(ConnectionClosed) as closed:
        roomy.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    # Everyone else is still served.
    raw.ping()
    cbor.ping()
    with connect(url) as fresh:
        Raw(fresh).ping()


def _engine_rule_cases() -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("negative price", _place(price="-5"), "invalid_price"),
        ("zero price", _place(price="0"), "invalid_price"),
        ("off-tick price", _place(price="10.05"), "invalid_price"),
        ("zero size", _place(size="0"), "invalid_size"),
        ("negative size", _place(size="-1"), "invalid_size"),
        ("off-lot size", _place(size="0.5"), "invalid_size"),
        ("unknown symbol", _place(symbol="ETH-20301231-3000-C"), "unknown_symbol"),
    ]


def test_engine_rule_rejections(server: Server) -> None:
    """Well-formed commands that break an engine rule: answered with the rule's code,
    connection open. Only the unknown symbol has a journal entry: that symbol may be
    listed later, and its repeat must still get the rejection (see test_idempotency)."""
    cases = _engine_rule_cases()
    with ExitStack() as stack:
        raw = _setup(stack, server.url)
        _engine_rules(raw, cases)
    assert server.stop() == 0
    unknown = cases[-1][1]
    assert [r.request_id for r in server.records()[2:]] == [unknown["request_id"]]
    assert server.journal_rows() == 3


def _engine_rules(raw: Raw, cases: list[tuple[str, dict[str, Any], str]]) -> None:
    for label, message, code in cases:
        answer = raw.ask(message)
        assert answer["request_id"] == message["request_id"], (label, answer)
        if answer["type"] == "Error":
            assert answer["code"] == code, (label, answer)
        else:
            assert answer["type"] == "OrderResult", (label, answer)
            assert (answer["status"], answer["reason"]) == ("rejected", code), (label, answer)
            assert answer["filled_size"] == "0" and "order_id" not in answer, (label, answer)
    raw.ping()
    # Nothing rests anywhere.
    assert raw.ask({"type": "GetOpenOrders", "id": "o"})["orders"] == []
