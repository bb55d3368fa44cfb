"""The client's sans-I/O parts: amounts out, messages in, the local book, resume points."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hcx.client import (
    AcceptQuoteRequest,
    BookGap,
    BookSnapshot,
    BookUpdate,
    BulkResult,
    HcxError,
    OrderBook,
    OrderResult,
    PlaceOrderRequest,
    QuoteAck,
    QuoteLeg,
    ResumePoint,
    RfqLeg,
    RfqQuote,
    RfqRequest,
    SetMmpRequest,
    SettleRequest,
    UnknownMessage,
    parse_message,
)
from hcx.client.requests import decimal_string, leg_wire


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Decimal("12.50"), "12.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.000"), "0"),
        (Decimal("0.000001"), "0.000001"),
        (7, "7"),
        ("3.25", "3.25"),
    ],
)
def test_amounts_become_decimal_strings(value: Decimal | int | str, wire: str) -> None:
    assert decimal_string(value) == wire


@pytest.mark.parametrize("value", [1.5, True, Decimal("NaN"), Decimal("Infinity")])
def test_amounts_that_are_not_exact_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        decimal_string(value)  # type: ignore[arg-type]


def test_a_request_keeps_its_idempotency_key() -> None:
    request = PlaceOrderRequest(symbol="S", side="buy", price=Decimal("1.10"), size=2)
    wire = request.to_wire()
    assert wire == request.to_wire()
    assert wire == {
        "type": "PlaceOrder",
        "request_id": request.request_id,
        "ts": request.ts,
        "symbol": "S",
        "side": "buy",
        "price": "1.1",
        "size": "2",
    }


def test_messages_parse_to_typed_values() -> None:
    result = parse_message(
        {
            "type": "OrderResult",
            "request_id": "r",
            "order_id": 4,
            "wallet": "w",
            "symbol": "S",
            "side": "sell",
            "price": "10.5",
            "size": "3",
            "tif": "gtc",
            "status": "partially_filled",
            "filled_size": "1",
            "mmp_triggered": False,
            "ts": 1,
            "seq": 9,
            "some_future_key": [1, 2],
        }
    )
    assert isinstance(result, OrderResult)
    assert (result.price, result.remaining, result.reason) == (Decimal("10.5"), Decimal(2), None)
    bulk = parse_message(
        {
            "type": "BulkResult",
            "id": 3,
            "results": [{"type": "Error", "code": "invalid_field", "message": "m", "field": "f"}],
        }
    )
    assert isinstance(bulk, BulkResult)
    assert bulk.results == (HcxError("invalid_field", "m", "f"),)
    assert isinstance(parse_message({"type": "FromTheFuture"}), UnknownMessage)
    error = parse_message({"type": "Error", "code": "forbidden", "message": "no"})
    assert isinstance(error, HcxError) and error.code == "forbidden"
    with pytest.raises(ValueError):
        parse_message({"type": "Trade", "symbol": "S"})


def _snapshot(seq: int, bids: list[list[str]], asks: list[list[str]]) -> BookSnapshot:
    return BookSnapshot(symbol="S", seq=seq, bids=bids, asks=asks)


def _update(seq: int, bids: list[list[str]], asks: list[list[str]]) -> BookUpdate:
    return BookUpdate(symbol="S", seq=seq, bids=bids, asks=asks)


def test_order_book_applies_updates_and_notices_gaps() -> None:
    book = OrderBook("S")
    with pytest.raises(RuntimeError):
        book.apply_update(_update(1, [], []))
    book.apply_snapshot(_snapshot(5, [["10", "1"], ["11", "2"]], [["12", "1"]]))
    assert book.bids == [(Decimal(11), Decimal(2)), (Decimal(10), Decimal(1))]
    assert not book.apply_update(_update(5, [["9", "9"]], []))  # already in the snapshot
    assert book.apply_update(_update(6, [["11", "0"], ["10.5", "4"]], [["12", "3"]]))
    assert book.bids == [(Decimal("10.5"), Decimal(4)), (Decimal(10), Decimal(1))]
    assert book.best_ask() == (Decimal(12), Decimal(3))
    with pytest.raises(BookGap) as gap:
        book.apply_update(_update(8, [], []))
    assert (gap.value.expected, gap.value.got, book.seq) == (7, 8, 6)


def test_resume_point_delivers_each_message_once() -> None:
    point = ResumePoint(10)
    assert not point.accept(10)  # before the start
    assert point.accept(12) and point.accept(12)  # two messages of one command
    assert point.accept(15)  # one of command 15 seen, maybe more were coming
    assert point.resume() == 14  # replay from 15 on ...
    assert not point.accept(15)  # ... skipping the one already delivered
    assert point.accept(15)  # the one that was lost
    assert not point.accept(12)
    assert point.resume() == 14  # a second loss before anything new
    assert not point.accept(15) and not point.accept(15)
    assert point.accept(16) and point.resume() == 15


def test_options_lifecycle_requests_on_the_wire() -> None:
    mmp = SetMmpRequest(underlying="BTC", interval_ms=1000, frozen_ms=0, qty_limit=Decimal("2.50"))
    assert mmp.to_wire() == {
        "type": "SetMmp",
        "request_id": mmp.request_id,
        "ts": mmp.ts,
        "underlying": "BTC",
        "interval_ms": 1000,
        "frozen_ms": 0,
        "enabled": True,
        "qty_limit": "2.5",
    }
    accept = AcceptQuoteRequest(rfq_id="r", quote_id="q", request_id="k", ts=5)
    assert accept.to_wire() == {
        "type": "AcceptQuote",
        "request_id": "k",
        "ts": 5,
        "rfq_id": "r",
        "quote_id": "q",
    }
    settle = SettleRequest(symbol="S", price="3100", request_id="k", ts=5)
    assert settle.to_wire()["price"] == "3100"
    assert leg_wire(RfqLeg(symbol="S", side="buy", size=2)) == {
        "symbol": "S",
        "side": "buy",
        "size": "2",
    }
    assert (
        leg_wire(QuoteLeg(symbol="S", side="sell", size="1", price=Decimal("10.50")))["price"]
        == "10.5"
    )
    with pytest.raises(TypeError):
        RfqLeg(symbol="S", side="buy", size=1.5)  # type: ignore[arg-type]


def test_rfq_messages_parse_to_typed_values() -> None:
    request = parse_message(
        {
            "type": "RfqRequest",
            "rfq_id": "r",
            "legs": [{"symbol": "S", "side": "buy", "size": "2"}],
            "expires_ms": 9,
        }
    )
    assert request == RfqRequest(
        rfq_id="r", legs=[{"symbol": "S", "side": "buy", "size": "2"}], expires_ms=9
    )
    assert request.legs == (RfqLeg(symbol="S", side="buy", size=2),)
    quote = parse_message(
        {
            "type": "RfqQuote",
            "rfq_id": "r",
            "quote_id": "q",
            "legs": [{"symbol": "S", "side": "buy", "size": "2", "price": "10.5"}],
            "net_premium": "-21",
            "expires_ms": 9,
        }
    )
    assert isinstance(quote, RfqQuote)
    assert quote.legs == (QuoteLeg(symbol="S", side="buy", size=2, price="10.5"),)
    assert quote.net_premium == Decimal(-21)
    assert parse_message({"type": "QuoteAck", "rfq_id": "r", "quote_id": "q"}) == QuoteAck(
        rfq_id="r", quote_id="q"
    )


def test_connect_and_client_take_the_same_options() -> None:
    """``OptionFields`` (the keyword arguments of ``connect`` and ``Client``) names every
    ``ClientOptions`` field and nothing else, so the two entry points cannot drift."""
    import attrs

    from hcx.client.options import ClientOptions, OptionFields

    fields = {a.name for a in attrs.fields(ClientOptions)}
    assert set(OptionFields.__annotations__) == fields
    assert "max_message_bytes" in fields


def test_keyword_options_lay_over_an_options_object() -> None:
    from hcx.client import Client
    from hcx.client.options import ClientOptions

    base = ClientOptions(wallet="alice", queue_size=5, max_message_bytes=1024)
    client = Client("ws://127.0.0.1:1/ws", base, queue_size=7)
    assert client.options == ClientOptions(wallet="alice", queue_size=7, max_message_bytes=1024)
    assert client.wallet == "alice"
    with pytest.raises(TypeError, match="no_such_option"):
        Client("ws://127.0.0.1:1/ws", no_such_option=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="subprotocol"):
        Client("ws://127.0.0.1:1/ws", subprotocol="nope")


def test_every_command_request_knows_its_result_type() -> None:
    """``submit`` answers a request with its ``RESULT``: each is the result message the
    server sends for that command type."""
    import hcx.client.requests as requests
    from hcx.client.messages import MESSAGE_TYPES, RESULT_TYPES

    classes = [
        c
        for c in vars(requests).values()
        if isinstance(c, type) and issubclass(c, requests.Request) and c is not requests.Request
    ]
    from hcx.protocol.commands import COMMAND_PARSERS

    # One request class for every command the protocol takes (AcceptQuote through the
    # RFQ desk), none for anything else.
    assert sorted(c.TYPE for c in classes) == sorted([*COMMAND_PARSERS, "AcceptQuote"])
    for cls in classes:
        assert cls.RESULT.__name__ in RESULT_TYPES, cls
        assert MESSAGE_TYPES[cls.RESULT.__name__] is cls.RESULT
