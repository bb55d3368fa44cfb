"""Placement rules: every reason a new order is rejected, in the protocol's check order.

Each reason code is provoked on its own, next to a control that differs only in the rule
under test and is accepted, so a rule that stopped firing (or fired too eagerly) fails.
A rejection must change nothing but the envelope bookkeeping.
"""

from __future__ import annotations

from typing import Any

import pytest

from hcx.engine import EngineConfig
from hcx.engine.commands import HaltInstrument, PlaceOrder
from hcx.engine.outputs import BookUpdate, OrderUpdate

from .helpers import (
    EXPIRY_MS,
    D,
    Harness,
    check_invariants,
    events_of,
    order_result,
    state_without_clock,
)


@pytest.fixture
def h() -> Harness:
    return Harness()


def _rejected(h: Harness, wallet: str, command: PlaceOrder, ts_ms: int | None = None) -> str:
    """Send ``command``, assert it was rejected without touching state; its reason."""
    before = state_without_clock(h.engine)
    out = h.send(wallet, command, ts_ms)
    result = order_result(out)
    assert result.status == "rejected"
    assert result.order_id is None and result.filled_size == 0
    assert out.events == []
    assert state_without_clock(h.engine) == before
    assert result.reason is not None
    return result.reason


def test_unknown_symbol(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    assert _rejected(h, "a", PlaceOrder(sym + "X", "buy", D("1"), D("1"))) == "unknown_symbol"
    assert order_result(h.place("a", sym, "buy", "1", "1")).status == "open"


def test_halted_instrument_is_not_active(h: Harness) -> None:
    sym = h.list_option()
    other = h.list_option(strike="3100")
    h.fund("a")
    h.admin(HaltInstrument(sym))
    cmd = PlaceOrder(sym, "buy", D("1"), D("1"))
    assert _rejected(h, "a", cmd) == "instrument_not_active"
    # Halting one symbol leaves the others trading.
    assert order_result(h.place("a", other, "buy", "1", "1")).status == "open"


@pytest.mark.parametrize("offset", [0, 1, 86_400_000])
def test_expired_instrument_is_not_active(h: Harness, offset: int) -> None:
    sym = h.list_option()
    h.fund("a")
    out = h.send("a", PlaceOrder(sym, "buy", D("1"), D("1")), ts_ms=EXPIRY_MS + offset)
    result = order_result(out)
    assert (result.status, result.reason, result.order_id) == (
        "rejected",
        "instrument_not_active",
        None,
    )
    # Expiry itself may announce the instrument's new status; the order left no trace.
    assert events_of(out, OrderUpdate) == [] and events_of(out, BookUpdate) == []
    assert h.depth(sym) == ([], []) and h.balance("a")[2] == 0


def test_last_millisecond_before_expiry_still_trades(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    out = h.send("a", PlaceOrder(sym, "buy", D("1"), D("1")), ts_ms=EXPIRY_MS - 1)
    assert order_result(out).status == "open"


@pytest.mark.parametrize("price", ["100.05", "0", "-1", "0.01"])
def test_invalid_price(h: Harness, price: str) -> None:
    sym = h.list_option()  # tick 0.1
    h.fund("a")
    assert _rejected(h, "a", PlaceOrder(sym, "buy", D(price), D("1"))) == "invalid_price"


@pytest.mark.parametrize("size", ["1.05", "0", "-0.1", "0.000001"])
def test_invalid_size(h: Harness, size: str) -> None:
    sym = h.list_option()  # lot 0.1
    h.fund("a")
    assert _rejected(h, "a", PlaceOrder(sym, "buy", D("1"), D(size))) == "invalid_size"


def test_smallest_valid_price_and_size_are_accepted(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    assert order_result(h.place("a", sym, "buy", "0.1", "0.1")).status == "open"


def test_checks_run_in_protocol_order(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    h.place_id("a", sym, "sell", "0.1", "1", client_id="x")
    # Each order below breaks its own rule and every rule after it (a duplicate client
    # id, a post-only that would take, a reduce-only with no position, and an unfunded
    # sender); fixing one rule at a time walks down the protocol's order.
    order: dict[str, Any] = {
        "symbol": sym + "X",
        "side": "buy",
        "price": D("0.05"),
        "size": D("0.05"),
        "client_id": "x",
        "post_only": True,
        "reduce_only": True,
    }
    steps: list[tuple[str, dict[str, Any]]] = [
        ("unknown_symbol", {"symbol": sym}),
        ("invalid_price", {"price": D("0.1")}),
        ("invalid_size", {"size": D("0.1")}),
        ("duplicate_client_id", {"client_id": "y"}),
        ("post_only_would_take", {"post_only": False}),
        ("reduce_only_violation", {"reduce_only": False}),
    ]
    for reason, fix in steps:
        assert _rejected(h, "a", PlaceOrder(**order)) == reason
        order.update(fix)
    # What is left is a plain buy that the funded wallet may place and "poor" may not.
    assert _rejected(h, "poor", PlaceOrder(**order)) == "insufficient_balance"
    # A halt outranks everything but an unknown symbol.
    h.admin(HaltInstrument(sym))
    order.update({"price": D("0.05"), "client_id": "x", "post_only": True})
    assert _rejected(h, "a", PlaceOrder(**order)) == "instrument_not_active"


def test_duplicate_client_id(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    h.fund("b")
    first = h.place_id("a", sym, "buy", "1", "1", client_id="c1")
    assert _rejected(h, "a", PlaceOrder(sym, "buy", D("2"), D("1"), client_id="c1")) == (
        "duplicate_client_id"
    )
    # Client ids are per wallet, and free again once their order is gone.
    assert order_result(h.place("b", sym, "buy", "1", "1", client_id="c1")).status == "open"
    assert order_result(h.cancel("a", first)).status == "canceled"
    assert order_result(h.place("a", sym, "buy", "1", "1", client_id="c1")).status == "open"


def test_client_id_of_a_filled_order_is_free_again(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    h.fund("b")
    h.place_id("a", sym, "buy", "1", "1", client_id="c1")
    assert order_result(h.place("b", sym, "sell", "1", "1")).status == "filled"
    assert order_result(h.place("a", sym, "buy", "1", "1", client_id="c1")).status == "open"


def test_post_only_would_take(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    h.fund("b")
    h.place_id("a", sym, "sell", "100", "1")
    h.place_id("a", sym, "buy", "90", "1")
    assert _rejected(h, "b", PlaceOrder(sym, "buy", D("100"), D("1"), post_only=True)) == (
        "post_only_would_take"
    )
    assert _rejected(h, "b", PlaceOrder(sym, "sell", D("90"), D("1"), post_only=True)) == (
        "post_only_would_take"
    )
    # Inside the spread it rests as a maker.
    out = h.place("b", sym, "buy", "90.1", "1", post_only=True)
    assert order_result(out).status == "open"
    out = h.place("b", sym, "sell", "99.9", "1", post_only=True)
    assert order_result(out).status == "open"


def test_reduce_only_needs_a_position_to_reduce(h: Harness) -> None:
    sym = h.list_option()
    for w in ("a", "b"):
        h.fund(w)
    # No position: neither side reduces anything.
    assert _rejected(h, "a", PlaceOrder(sym, "sell", D("1"), D("1"), reduce_only=True)) == (
        "reduce_only_violation"
    )
    assert _rejected(h, "a", PlaceOrder(sym, "buy", D("1"), D("1"), reduce_only=True)) == (
        "reduce_only_violation"
    )
    # Give a a long of 1: only a sell of at most 1 reduces it.
    h.place_id("b", sym, "sell", "10", "1")
    h.place_id("a", sym, "buy", "10", "1")
    assert h.position("a", sym) == D("1")
    assert _rejected(h, "a", PlaceOrder(sym, "sell", D("20"), D("1.1"), reduce_only=True)) == (
        "reduce_only_violation"
    )
    assert _rejected(h, "a", PlaceOrder(sym, "buy", D("1"), D("0.1"), reduce_only=True)) == (
        "reduce_only_violation"
    )
    assert order_result(h.place("a", sym, "sell", "20", "1", reduce_only=True)).status == "open"
    # b is short 1: a reduce-only buy of 1 is fine, of 1.1 is not.
    assert _rejected(h, "b", PlaceOrder(sym, "buy", D("1"), D("1.1"), reduce_only=True)) == (
        "reduce_only_violation"
    )
    assert order_result(h.place("b", sym, "buy", "1", "1", reduce_only=True)).status == "open"


def test_too_many_open_orders() -> None:
    h = Harness(EngineConfig(max_open_orders=2))
    sym = h.list_option()
    h.fund("a")
    h.fund("b")
    h.place_id("a", sym, "buy", "1", "1")
    h.place_id("a", sym, "buy", "2", "1")
    assert _rejected(h, "a", PlaceOrder(sym, "buy", D("3"), D("1"))) == "too_many_open_orders"
    # The limit is per wallet and counts resting orders only: an IOC never rests.
    assert order_result(h.place("b", sym, "buy", "3", "1")).status == "open"
    out = h.place("a", sym, "buy", "3", "1", tif="ioc")
    assert order_result(out).reason == "ioc_remainder"
    # A replace swaps one resting order for another, so it fits at the limit.
    first = h.engine.state.wallets["a"].open_orders
    assert order_result(h.replace("a", next(iter(first)), "1.5", "1")).status == "open"
    assert len(h.engine.state.wallets["a"].open_orders) == 2


def test_buy_needs_premium_plus_worst_fee() -> None:
    # premium of 2 @ 100 = 200; worst fee max(2, 5) bps = 0.1; 200.1 in all.
    h = Harness()
    sym = h.list_option()
    h.fund("short", "200.099999")
    cmd = PlaceOrder(sym, "buy", D("100"), D("2"))
    assert _rejected(h, "short", cmd) == "insufficient_balance"
    h.fund("exact", "200.1")
    out = h.send("exact", cmd)
    assert order_result(out).status == "open"
    assert h.balance("exact") == (D("200.1"), 0, D("200.1"))


def test_unknown_wallet_cannot_buy() -> None:
    h = Harness()
    sym = h.list_option()
    assert _rejected(h, "nobody", PlaceOrder(sym, "buy", D("0.1"), D("0.1"))) == (
        "insufficient_balance"
    )
    assert "nobody" not in h.engine.state.wallets


def test_short_sell_needs_margin() -> None:
    # No index yet, so S = K = 3000: call margin = max(15% x 3000 - 0, 10% x 3000) = 450
    # per contract (multiplier 1). Selling 1 holds 450; the premium arrives only on a fill.
    h = Harness()
    sym = h.list_option()
    h.fund("short", "449.999999")
    cmd = PlaceOrder(sym, "sell", D("100"), D("1"))
    assert _rejected(h, "short", cmd) == "insufficient_balance"
    h.fund("exact", "450")
    assert order_result(h.send("exact", cmd)).status == "open"
    assert h.balance("exact") == (D("450"), 0, D("450"))


def test_covered_sell_needs_no_margin() -> None:
    h = Harness()
    sym = h.list_option()
    h.fund("mm", "10000")
    # Buy 2 @ 100 as taker: premium 200 + taker fee 5 bps (0.1) = 200.1, leaving 0.
    h.fund("a", "200.1")
    h.place_id("mm", sym, "sell", "100", "2")
    assert order_result(h.place("a", sym, "buy", "100", "2")).status == "filled"
    assert h.balance("a") == (0, 0, 0)
    # Selling the long back needs nothing; selling one lot more than the long needs margin.
    assert _rejected(h, "a", PlaceOrder(sym, "sell", D("150"), D("2.1"))) == (
        "insufficient_balance"
    )
    assert order_result(h.place("a", sym, "sell", "150", "2")).status == "open"
    assert h.balance("a") == (0, 0, 0)
    # A second covered-looking sell is not covered: the long already backs the first.
    assert _rejected(h, "a", PlaceOrder(sym, "sell", D("150"), D("0.1"))) == (
        "insufficient_balance"
    )
    check_invariants(h.engine)


def test_closing_buy_still_needs_cash_for_its_premium() -> None:
    # A short of 1 holds margin 450 + net premium; a buy closing it adds a buy reservation
    # on top (the formula does not net them), so it needs available cash for its premium.
    h = Harness()
    sym = h.list_option()
    h.fund("mm", "10000")
    h.fund("s", "450")
    h.place_id("s", sym, "sell", "10", "1")
    assert order_result(h.place("mm", sym, "buy", "10", "1")).status == "filled"
    # s received 10 - maker fee (10 x 2 bps = 0.002): total 459.998, all of it held.
    assert h.balance("s") == (D("459.998"), 0, D("459.998"))
    assert _rejected(h, "s", PlaceOrder(sym, "buy", D("10"), D("1"))) == "insufficient_balance"


def test_rejected_order_emits_no_book_or_order_events(h: Harness) -> None:
    sym = h.list_option()
    h.fund("a")
    out = h.place("a", sym, "buy", "1.05", "1")
    assert events_of(out, OrderUpdate) == [] and events_of(out, BookUpdate) == []
