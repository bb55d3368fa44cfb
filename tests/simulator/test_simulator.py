"""The Simulator's sessions, channels, book, time and forks, and its bad-input errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hcx
import hcx.simulator.session as session_module
from hcx.client import (
    AdminResult,
    BookSnapshot,
    BookUpdate,
    Fill,
    HcxError,
    OrderBook,
    OrderResult,
    OrderUpdate,
    PlaceOrderRequest,
    Portfolio,
    RfqQuote,
    RfqRequest,
    Trade,
)
from hcx.client.requests import CancelOrderRequest, ReplaceOrderRequest, Request
from hcx.simulator.typed import command_of
from tests.engine.helpers import examples
from tests.simulator.market import LATER, SOON, SOON_MS, START_MS, SimDriver


def market(seed: int = 0, **kwargs: Any) -> tuple[hcx.Simulator, SimDriver]:
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=seed, **kwargs)
    driver = SimDriver(sim)
    driver.one("setup", ())
    return sim, driver


def test_sessions_answer_with_the_clients_typed_results() -> None:
    _, d = market()
    alice, bob = d.s["alice"], d.s["bob"]
    resting = alice.place_order(SOON, "sell", "100.5", "2", client_id="a-1")
    assert isinstance(resting, OrderResult)
    assert (resting.status, resting.price, resting.size) == ("open", Decimal("100.5"), 2)
    taken = bob.place_order(SOON, "buy", "101", "0.5", tif="ioc")
    assert (taken.status, taken.filled_size) == ("filled", Decimal("0.5"))
    assert alice.get_order(client_id="a-1").filled_size == Decimal("0.5")
    assert bob.get_order(request_id=taken.request_id).status == "filled"  # closed, remembered
    open_orders = alice.get_open_orders()
    assert [o.order_id for o in open_orders.orders] == [resting.order_id]
    portfolio = bob.get_portfolio()
    assert isinstance(portfolio, Portfolio)
    assert portfolio.positions[0].size == Decimal("0.5")
    assert {i.symbol for i in alice.get_instruments()} == {SOON, LATER}
    bulk = alice.bulk_orders(
        [
            # Prepared requests are stamped when built: with the simulator's time here.
            PlaceOrderRequest(symbol=LATER, side="buy", price="10", size="1", ts=START_MS),
            PlaceOrderRequest(symbol=LATER, side="buy", price="1.2.3", size="1", ts=START_MS),
            CancelOrderRequest(order_id=resting.order_id, ts=START_MS),
        ]
    )
    first, second, third = bulk.results
    assert isinstance(first, OrderResult) and first.status == "open"
    assert isinstance(second, HcxError) and second.field == "orders[1].price"
    assert isinstance(third, OrderResult) and third.status == "canceled"
    assert bob.withdraw("10").status == "ok"
    assert alice.ping().server_ms == START_MS
    with pytest.raises(HcxError) as missing:
        alice.get_order(999)
    assert missing.value.code == "not_found"


def test_a_repeated_request_gets_the_stored_answer_and_one_record() -> None:
    sim, d = market()
    first = d.s["alice"].place_order(SOON, "buy", "90", "1", request_id=_uuid(1), ts=START_MS)
    seq = sim.last_seq
    again = d.s["alice"].place_order(SOON, "buy", "90", "1", request_id=_uuid(1), ts=START_MS)
    assert again == first
    assert sim.last_seq == seq
    assert len(d.s["alice"].get_open_orders().orders) == 1


def test_channels_call_back_and_queue_as_commands_apply() -> None:
    sim, d = market()
    fills: list[Any] = []
    trades: list[Any] = []
    stop = sim.on("fills", fills.append, wallet="bob")
    sim.on("trades", trades.append, symbol=SOON)
    orders = d.s["alice"].subscribe_orders()
    book = d.s["bob"].subscribe_book(SOON)
    local = OrderBook(SOON)
    d.s["alice"].place_order(SOON, "sell", "100", "2")
    d.s["bob"].place_order(SOON, "buy", "100", "1")
    assert [type(f) for f in fills] == [Fill] and fills[0].liquidity == "taker"
    assert [type(t) for t in trades] == [Trade] and trades[0].size == 1
    updates = orders.drain()
    assert [type(u) for u in updates] == [OrderUpdate, OrderUpdate]
    assert updates[-1].status == "partially_filled"
    messages = book.drain()
    assert isinstance(messages[0], BookSnapshot)
    assert all(isinstance(m, BookUpdate) for m in messages[1:])
    local.apply_snapshot(messages[0])
    for update in messages[1:]:
        local.apply_update(update)
    live = sim.book(SOON)
    assert local.asks == live.asks == [(Decimal("100"), Decimal("1"))]
    assert live.best_ask() == (Decimal("100"), Decimal("1")) and live.best_bid() is None
    stop()
    book.close()
    d.s["alice"].place_order(SOON, "buy", "99", "1")
    d.s["bob"].place_order(SOON, "buy", "100", "1")
    assert len(fills) == 1 and book.pending() == 0


def test_event_channels_listen_beside_rfq_listeners_and_stop() -> None:
    """With only ``rfq`` listened to, a command's events are not looked at; a channel
    added later gets them, and none after it is stopped."""
    sim, d = market()
    assert d.rfq["alice"].pending() == 0  # the driver's sessions listen to rfq
    d.s["alice"].place_order(SOON, "sell", "100", "1")
    trades: list[Any] = []
    stop = sim.on("trades", trades.append)
    d.s["bob"].place_order(SOON, "buy", "100", "1")
    assert [(t.symbol, t.size) for t in trades] == [(SOON, Decimal("1"))]
    stop()
    d.s["alice"].place_order(SOON, "sell", "100", "1")
    d.s["bob"].place_order(SOON, "buy", "100", "1")
    assert len(trades) == 1 and len(sim.trades(SOON)) == 2


def test_rfq_traffic_reaches_the_quoter_and_the_taker() -> None:
    sim, d = market()
    rfq_id = d.s["carol"].request_quote([hcx.client.RfqLeg(symbol=LATER, side="buy", size="1")])
    request = d.rfq["alice"].get()
    assert isinstance(request, RfqRequest) and request.rfq_id == rfq_id
    assert d.rfq["carol"].pending() == 0  # not to the taker itself
    leg = hcx.client.QuoteLeg(symbol=LATER, side="sell", size="1", price="50")
    quote = d.s["alice"].quote(rfq_id, [leg], valid_ms=5_000)
    offer = d.rfq["carol"].get()
    assert isinstance(offer, RfqQuote) and offer.quote_id == quote.quote_id
    assert d.s["carol"].accept_quote(rfq_id, quote.quote_id).status == "filled"
    assert sim.trades(LATER)[0]["price"] == "50"


def test_time_expires_instruments_through_a_journaled_tick() -> None:
    sim, d = market()
    canceled: list[Any] = []
    sim.on("orders", canceled.append, wallet="alice")
    d.s["alice"].place_order(SOON, "buy", "90", "1")
    canceled.clear()
    seq = sim.last_seq
    assert sim.advance(1_000) is None and sim.last_seq == seq  # nothing due: nothing journaled
    tick = sim.set_time(SOON_MS)
    assert isinstance(tick, AdminResult) and tick.command == "Tick" and tick.seq == seq + 1
    assert [(u.status, u.reason) for u in canceled] == [("canceled", "instrument_not_active")]
    assert d.s["alice"].get_open_orders().orders == ()
    assert sim.advance(1) is None


def test_mmp_freeze_ends_when_time_moves_past_it() -> None:
    sim, d = market()
    alice, bob = d.s["alice"], d.s["bob"]
    alice.set_mmp("ETH", interval_ms=5_000, frozen_ms=3_000, qty_limit="1")
    alice.place_order(LATER, "sell", "50", "1", mmp=True)
    bob.place_order(LATER, "buy", "50", "1")
    assert alice.place_order(LATER, "sell", "51", "1", mmp=True).reason == "mmp_frozen"
    sim.advance(3_001)
    assert alice.place_order(LATER, "sell", "51", "1", mmp=True).status == "open"


def test_a_fork_is_independent_and_answers_repeats_of_earlier_requests() -> None:
    sim, d = market()
    placed = d.s["alice"].place_order(SOON, "sell", "100", "1", request_id=_uuid(7))
    twin = sim.fork()
    assert twin.digest() == sim.digest() and twin.last_seq == sim.last_seq
    other = twin.session("bob")
    assert other.place_order(SOON, "buy", "100", "1").status == "filled"
    assert sim.book(SOON).best_ask() == (Decimal("100"), Decimal("1"))
    assert twin.book(SOON).best_ask() is None
    repeat = twin.session("alice").place_order(
        SOON, "sell", "100", "1", request_id=_uuid(7), ts=placed.ts
    )
    assert repeat == placed
    assert twin.digest() != sim.digest()
    sim.close()
    with pytest.raises(hcx.SimulatorClosed):
        sim.fork()
    assert twin.session("carol").get_portfolio().balance.total == Decimal("1000000")


def test_bad_input_is_a_clear_error_and_journals_nothing() -> None:
    sim, d = market()
    alice = d.s["alice"]
    seq = sim.last_seq
    with pytest.raises(HcxError) as bad_wallet:
        sim.session("")
    assert bad_wallet.value.field == "wallet"
    with pytest.raises(HcxError) as bad_price:
        alice.place_order(SOON, "buy", "12.5.1", "1")
    assert (bad_price.value.code, bad_price.value.field) == ("invalid_field", "price")
    with pytest.raises(HcxError) as bad_size:
        alice.place_order(SOON, "buy", "12.5", "lots")
    assert bad_size.value.field == "size"
    with pytest.raises(HcxError) as bad_side:
        alice.place_order(SOON, "hold", "12.5", "1")  # type: ignore[arg-type]
    assert bad_side.value.field == "side"
    for call in (
        lambda: sim.book("NOPE"),
        lambda: sim.on("book", print, symbol="NOPE"),
        lambda: sim.queue("trades", symbol="NOPE"),
    ):
        with pytest.raises(HcxError) as unknown:
            call()
        assert unknown.value.field == "symbol"
    with pytest.raises(HcxError) as no_wallet:
        sim.on("fills", print)
    assert no_wallet.value.field == "wallet"
    with pytest.raises(ValueError, match="backwards"):
        sim.set_time(START_MS - 1)
    with pytest.raises(ValueError, match="ms"):
        sim.advance(-5)
    with pytest.raises(HcxError) as stale:
        alice.place_order(SOON, "buy", "12.5", "1", ts=START_MS - 3_600_000)
    assert stale.value.code == "stale_request"
    assert sim.last_seq == seq
    unknown_symbol = alice.place_order("ETH-NOPE", "buy", "1", "1")
    # As on the server: an unknown symbol is the engine's journaled rejection (it may be
    # listed later, and a repeat must then get this same answer).
    assert unknown_symbol.reason == "unknown_symbol" and sim.last_seq == seq + 1
    sim.close()
    with pytest.raises(hcx.SimulatorClosed):
        alice.place_order(SOON, "buy", "12.5", "1")


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@given(
    price=st.sampled_from(["1", "12.5", Decimal("3.10"), 7]),
    size=st.sampled_from(["1", Decimal("0.5"), 2]),
    tif=st.sampled_from([None, "gtc", "ioc", "fok"]),
    flags=st.tuples(*[st.sampled_from([None, False, True])] * 3),
    client_id=st.sampled_from([None, "c-1"]),
    stp=st.sampled_from([None, "cancel_taker"]),
)
@settings(max_examples=examples(60), deadline=None)
def test_the_fast_order_messages_are_the_clients_messages(
    price: Any, size: Any, tif: Any, flags: Any, client_id: Any, stp: Any
) -> None:
    sent: list[dict[str, Any]] = []

    def spy(request: Request[Any]) -> Any:
        sent.append(request.to_wire())
        return command_of(request)

    sim = hcx.Simulator(clock=hcx.SimClock(START_MS))
    alice = sim.session("alice")
    post_only, reduce_only, mmp = flags
    kwargs = {"tif": tif, "post_only": post_only, "reduce_only": reduce_only, "mmp": mmp}
    stamp = {"request_id": _uuid(5), "ts": START_MS}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session_module, "command_of", spy)
        alice.place_order(SOON, "buy", price, size, client_id=client_id, stp=stp, **kwargs, **stamp)
        alice.cancel_order(3, **stamp)
        alice.cancel_order(client_id="c-9", **stamp)
        alice.replace_order(4, price, size, client_id=client_id, **kwargs, **stamp)
    expected = [
        PlaceOrderRequest(
            symbol=SOON,
            side="buy",
            price=price,
            size=size,
            client_id=client_id,
            stp=stp,
            **kwargs,
            **stamp,
        ).to_wire(),
        CancelOrderRequest(order_id=3, **stamp).to_wire(),
        CancelOrderRequest(client_id="c-9", **stamp).to_wire(),
        ReplaceOrderRequest(
            order_id=4, price=price, size=size, client_id=client_id, **kwargs, **stamp
        ).to_wire(),
    ]
    assert sent == expected


@given(
    order_id=st.sampled_from([None, 4]),
    amounts=st.sampled_from([(None, None), (1_500_000, 2_000_000)]),
    reason=st.sampled_from([None, "invalid_price"]),
    replaced=st.sampled_from([None, 2]),
    filled=st.integers(0, 3_000_000),
)
@settings(max_examples=examples(40), deadline=None)
def test_the_fast_typed_result_is_the_clients_parse(
    order_id: Any, amounts: Any, reason: Any, replaced: Any, filled: int
) -> None:
    from hcx.client.messages import parse_message
    from hcx.engine.outputs import OrderResult as EngineOrderResult
    from hcx.protocol.messages import to_wire

    price, size = amounts
    result = EngineOrderResult(
        _uuid(1),
        order_id,
        None,
        "alice",
        SOON if order_id else None,
        "buy" if order_id else None,
        price,
        size,
        "gtc" if order_id else None,
        "rejected" if reason else "open",
        filled,
        reason,
        bool(replaced),
        replaced,
        START_MS,
        9,
    )
    fast = session_module.typed(result)
    assert type(fast) is OrderResult
    assert fast == parse_message(to_wire(result))
    assert repr(fast) == repr(parse_message(to_wire(result)))  # Decimal exponents too
