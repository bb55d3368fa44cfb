"""The simulator reads a typed request exactly as the gateway reads its wire message.

``command_of(request)`` skips the wire message for common orders, replaces and cancels; on
generated requests, valid and not, it must give what ``parse_command(request.to_wire())``
gives: the same command, or the same error naming the same field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.client.messages import OrderUpdate, parse_message
from hcx.client.requests import CancelOrderRequest, PlaceOrderRequest, ReplaceOrderRequest
from hcx.engine.numbers import format_decimal
from hcx.engine.outputs import OrderUpdate as EngineOrderUpdate
from hcx.engine.outputs import Trade
from hcx.protocol.commands import parse_command
from hcx.protocol.errors import ProtocolError
from hcx.protocol.messages import to_wire
from hcx.simulator.typed import command_of, decimal_of, message_of
from tests.engine.helpers import examples

SETTINGS = settings(max_examples=examples(400), deadline=None, derandomize=True, database=None)
GOOD_ID = "00000000-0000-4000-8000-000000000001"

odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=1),
)
amounts = st.one_of(
    st.sampled_from(["1", "100.5", "0", "-1", "1.", ".5", "1e3", "", "0.0000001", "x"]),
    st.from_regex(r"-?[0-9]{1,9}(\.[0-9]{1,8})?", fullmatch=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=7, max_value=10**9),
    st.integers(-5, 10**6),
)
request_ids = st.one_of(
    st.just(GOOD_ID), st.just(GOOD_ID.upper()), st.just(GOOD_ID.replace("-", "")), odd
)
timestamps = st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([-1, 2**63, True]), odd)


def _outcome(read: Any, request: Any) -> Any:
    try:
        return ("ok", tuple(read(request)))
    except ProtocolError as exc:
        return ("error", exc.code, exc.field, str(exc))
    except (TypeError, ValueError, AttributeError) as exc:  # an amount that is no amount
        return ("raised", type(exc).__name__, str(exc))


def _reference(request: Any) -> Any:
    return parse_command(request.to_wire())


def _agree(request: Any) -> None:
    assert _outcome(command_of, request) == _outcome(_reference, request)


VALID_ORDER: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["ETH-20300103-3000-C", "X" * 64]),
    "side": st.sampled_from(["buy", "sell"]),
    "price": st.one_of(
        st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,6})?", fullmatch=True),
        st.decimals(min_value=0, max_value=10**6, places=6),
        st.integers(0, 10**6),
    ),
    "size": st.sampled_from(["1", "0.5", Decimal("2.50"), 3]),
    "tif": st.sampled_from([None, "gtc", "ioc", "fok"]),
    "post_only": st.sampled_from([None, False, True]),
    "reduce_only": st.sampled_from([None, False, True]),
    "mmp": st.sampled_from([None, False, True]),
    "client_id": st.sampled_from([None, "c1", "x" * 36]),
    "stp": st.sampled_from([None, "cancel_maker", "cancel_taker", "cancel_both"]),
    "request_id": st.just(GOOD_ID),
    "ts": st.integers(0, 2**63 - 1),
}
ODD_ORDER: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["", "X" * 65, "a\x00", "a\u2028"]),
    "side": st.sampled_from(["BUY", "Buy"]),
    "price": amounts,
    "size": amounts,
    "tif": st.sampled_from(["day", "GTC", ""]),
    "post_only": st.sampled_from([0, 1, "", 0.0]),
    "reduce_only": st.sampled_from([0, 1, "", 0.0]),
    "mmp": st.sampled_from([0, 1, "", 0.0]),
    "client_id": st.sampled_from(["x" * 37, "", "a\n"]),
    "stp": st.sampled_from(["no", "CANCEL_MAKER", ""]),
    "request_id": request_ids,
    "ts": timestamps,
}


@st.composite
def typed_orders(draw: st.DrawFn) -> PlaceOrderRequest:
    """A valid order with up to three fields made odd: the one-pass reading must agree
    with the wire reading on every one of them."""
    fields = {name: draw(value, name) for name, value in VALID_ORDER.items()}
    for name in draw(st.lists(st.sampled_from(sorted(ODD_ORDER)), max_size=3)):
        fields[name] = draw(st.one_of(ODD_ORDER[name], odd), name)
    return PlaceOrderRequest(**fields)


@SETTINGS
@given(typed_orders())
def test_a_typed_order_reads_as_its_wire_message(request: PlaceOrderRequest) -> None:
    _agree(request)


@SETTINGS
@given(
    target=st.one_of(
        st.tuples(st.integers(1, 2**63 - 1), st.none()),
        st.tuples(st.none(), st.sampled_from(["c1", "x" * 36])),
    ),
    odd_fields=st.lists(st.sampled_from(["order_id", "client_id", "request_id", "ts"]), max_size=2),
    data=st.data(),
)
def test_typed_cancels_and_replaces_read_as_their_wire_messages(
    target: Any, odd_fields: list[str], data: st.DataObject
) -> None:
    """A valid cancel (by order id or by client id) with up to two fields made odd."""
    fields: dict[str, Any] = {
        "order_id": target[0],
        "client_id": target[1],
        "request_id": GOOD_ID,
        "ts": data.draw(st.integers(0, 2**63 - 1)),
    }
    odd_values = {
        "order_id": st.one_of(st.sampled_from([None, 0, -1, 2**63, True, 1.0]), odd),
        "client_id": st.one_of(st.sampled_from(["x" * 37, "", "a\n", "c2"]), odd),
        "request_id": request_ids,
        "ts": timestamps,
    }
    for name in odd_fields:
        fields[name] = data.draw(odd_values[name], name)
    _agree(CancelOrderRequest(**fields))
    price = data.draw(amounts, "price")
    stamp = {"request_id": fields["request_id"], "ts": fields["ts"]}
    flags = {
        "tif": data.draw(st.sampled_from([None, "gtc", "ioc", "fok", "day"]), "tif"),
        "post_only": data.draw(st.sampled_from([None, True, False, 0, 1]), "post_only"),
        "mmp": data.draw(st.sampled_from([None, True, False, ""]), "mmp"),
        "client_id": data.draw(st.sampled_from([None, "c1", "x" * 37, ""]), "client_id"),
    }
    _agree(
        ReplaceOrderRequest(order_id=fields["order_id"], price=price, size="1", **flags, **stamp)
    )


def test_the_common_requests_take_the_one_pass_reading() -> None:
    """The properties above would also hold if ``command_of`` always went through the
    wire message: these must not (``parse_command`` is not called for them)."""
    import hcx.simulator.typed as typed_module

    stamp: dict[str, Any] = {"request_id": GOOD_ID, "ts": 1}
    requests = [
        PlaceOrderRequest(symbol="S", side="buy", price=Decimal("1.50"), size=2, **stamp),
        PlaceOrderRequest(
            symbol="S", side="sell", price="3", size="1", tif="ioc", mmp=True, **stamp
        ),
        PlaceOrderRequest(
            symbol="S",
            side="sell",
            price="3",
            size="1",
            client_id="c-1",
            stp="cancel_both",
            **stamp,
        ),
        CancelOrderRequest(order_id=7, **stamp),
        CancelOrderRequest(client_id="c-1", **stamp),
        ReplaceOrderRequest(order_id=7, price="2.5", size=Decimal("3"), **stamp),
        ReplaceOrderRequest(
            order_id=7, price="2", size="1", tif="fok", post_only=False, client_id="c-2", **stamp
        ),
    ]
    original = typed_module.parse_command
    typed_module.parse_command = None  # type: ignore[assignment]
    try:
        fast = [command_of(request) for request in requests]
    finally:
        typed_module.parse_command = original
    assert fast == [_reference(request) for request in requests]


def test_a_remembered_amount_is_the_clients_reading() -> None:
    for value in (0, 1, 12_500_000, -3_000_001, 10**15):
        first, again = decimal_of(value), decimal_of(value)
        assert first is again
        assert first == Decimal(value).scaleb(-6)
        # The same digits and exponent as the client's reading of the wire string.
        assert str(first) == format_decimal(value)


@SETTINGS
@given(
    order_id=st.sampled_from([None, 4]),
    amounts=st.sampled_from([(None, None), (1_500_000, 2_000_000), (10**12 + 1, 7)]),
    reason=st.sampled_from([None, "invalid_price"]),
    filled=st.integers(0, 3_000_000),
)
def test_an_order_update_reaches_a_channel_as_the_clients_parse(
    order_id: Any, amounts: Any, reason: Any, filled: int
) -> None:
    price, size = amounts
    update = EngineOrderUpdate(
        GOOD_ID,
        order_id,
        "c-1" if order_id else None,
        "alice",
        "S" if order_id else None,
        "sell" if order_id else None,
        price,
        size,
        "ioc" if order_id else None,
        "rejected" if reason else "partially_filled",
        filled,
        reason,
        False,
        None,
        5,
        9,
    )
    fast = message_of(update)
    reference = parse_message(to_wire(update))
    assert type(fast) is OrderUpdate
    assert fast == reference and repr(fast) == repr(reference)
    trade = Trade("S", 3, 1_500_000, 2_000_000, "buy", 5, 9)
    assert message_of(trade) == parse_message(to_wire(trade))
