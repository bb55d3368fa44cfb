"""Matching: price-time priority, maker-price fills, statuses, IOC/FOK, STP, reduce-only.

Books are built by hand and every expected fill (which maker, which price, which size)
follows from the rules in ``matching``'s docstring, not from a previous run.
"""

from __future__ import annotations

import pytest

from hcx.engine.commands import SelfTradePrevention
from hcx.engine.outputs import BookUpdate, Fill, OrderUpdate, Trade

from .helpers import (
    D,
    Harness,
    check_invariants,
    events_of,
    fills_of,
    order_result,
    state_without_clock,
)


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("a", "b", "c", "d", "t"):
        h.fund(w)
    return h


@pytest.fixture
def sym(h: Harness) -> str:
    return h.list_option()


def test_better_price_first_then_oldest_first(h: Harness, sym: str) -> None:
    worse = h.place_id("a", sym, "sell", "101", "1")
    older = h.place_id("b", sym, "sell", "100", "1")
    newer = h.place_id("c", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "101", "2.5")
    assert fills_of(out) == [
        (older, order_result(out).order_id, D("100"), D("1")),
        (newer, order_result(out).order_id, D("100"), D("1")),
        (worse, order_result(out).order_id, D("101"), D("0.5")),
    ]
    assert order_result(out).status == "filled"
    assert h.resting(sym, "sell") == [(worse, "a", D("101"), D("0.5"))]
    check_invariants(h.engine)


def test_bids_best_is_highest(h: Harness, sym: str) -> None:
    low = h.place_id("a", sym, "buy", "99", "1")
    high = h.place_id("b", sym, "buy", "100", "1")
    mid_old = h.place_id("c", sym, "buy", "99.5", "1")
    mid_new = h.place_id("d", sym, "buy", "99.5", "1")
    out = h.place("t", sym, "sell", "99", "4")
    taker = order_result(out).order_id
    assert [f[0] for f in fills_of(out)] == [high, mid_old, mid_new, low]
    assert [f[2] for f in fills_of(out)] == [D("100"), D("99.5"), D("99.5"), D("99")]
    assert all(f[1] == taker for f in fills_of(out))


def test_fill_at_maker_price_not_taker_limit(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "150", "1")
    (trade,) = events_of(out, Trade)
    assert (trade.price, trade.size, trade.taker_side) == (D("100"), D("1"), "buy")
    # The taker paid 100 + 5 bps (0.05), not anything at 150.
    assert h.balance("t")[0] == D("1000000") - D("100.05")


def test_limit_stops_the_sweep(h: Harness, sym: str) -> None:
    first = h.place_id("a", sym, "sell", "100", "1")
    h.place_id("b", sym, "sell", "100.1", "1")
    out = h.place("t", sym, "buy", "100", "3")
    result = order_result(out)
    assert [f[0] for f in fills_of(out)] == [first]
    # The unfilled 2 rest at the taker's limit as a partially filled bid.
    assert (result.status, result.filled_size) == ("partially_filled", D("1"))
    assert h.resting(sym, "buy") == [(result.order_id, "t", D("100"), D("2"))]


def test_statuses_through_an_orders_life(h: Harness, sym: str) -> None:
    out = h.place("a", sym, "sell", "100", "3")
    maker = order_result(out).order_id
    assert order_result(out).status == "open"
    out = h.place("t", sym, "buy", "100", "1")
    assert order_result(out).status == "filled"
    (maker_update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == maker]
    assert (maker_update.status, maker_update.filled_size) == ("partially_filled", D("1"))
    out = h.place("t", sym, "buy", "100", "2")
    (maker_update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == maker]
    assert (maker_update.status, maker_update.filled_size) == ("filled", D("3"))
    assert h.resting(sym, "sell") == []


def test_cancel_of_partially_filled_keeps_filled_size(h: Harness, sym: str) -> None:
    maker = h.place_id("a", sym, "sell", "100", "3")
    h.place("t", sym, "buy", "100", "1")
    result = order_result(h.cancel("a", maker))
    assert (result.status, result.filled_size, result.size) == ("canceled", D("1"), D("3"))


def test_ioc_remainder_is_canceled(h: Harness, sym: str) -> None:
    maker = h.place_id("a", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "100", "3", tif="ioc")
    result = order_result(out)
    assert (result.status, result.reason, result.filled_size) == (
        "canceled",
        "ioc_remainder",
        D("1"),
    )
    assert [f[0] for f in fills_of(out)] == [maker]
    assert h.resting(sym, "buy") == []
    # Nothing is left reserved for the canceled remainder.
    assert h.balance("t")[2] == 0


def test_ioc_with_nothing_to_take(h: Harness, sym: str) -> None:
    out = h.place("t", sym, "buy", "100", "1", tif="ioc")
    result = order_result(out)
    assert (result.status, result.reason, result.filled_size) == ("canceled", "ioc_remainder", 0)
    assert events_of(out, BookUpdate) == []
    assert h.balance("t") == (D("1000000"), D("1000000"), 0)


def test_ioc_fully_filled_is_filled(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "100", "2")
    result = order_result(h.place("t", sym, "buy", "100", "2", tif="ioc"))
    assert (result.status, result.reason) == ("filled", None)


def test_fok_unfilled_changes_no_book(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "100", "1")
    h.place_id("b", sym, "sell", "101", "1")
    before = h.resting(sym, "sell")
    out = h.place("t", sym, "buy", "101", "2.1", tif="fok")
    result = order_result(out)
    assert (result.status, result.reason, result.filled_size) == ("canceled", "fok_unfilled", 0)
    assert events_of(out, Trade) == [] and events_of(out, BookUpdate) == []
    assert h.resting(sym, "sell") == before
    assert h.balance("t") == (D("1000000"), D("1000000"), 0)


def test_fok_limit_counts_only_reachable_levels(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "100", "1")
    h.place_id("b", sym, "sell", "101", "1")
    out = h.place("t", sym, "buy", "100", "2", tif="fok")
    assert order_result(out).reason == "fok_unfilled"
    out = h.place("t", sym, "buy", "101", "2", tif="fok")
    assert order_result(out).status == "filled"
    assert len(fills_of(out)) == 2


def test_fok_skips_own_orders_when_they_would_be_canceled(h: Harness, sym: str) -> None:
    own = h.place_id("t", sym, "sell", "100", "1")
    other = h.place_id("a", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "100", "1", tif="fok", stp="cancel_maker")
    assert order_result(out).status == "filled"
    assert [f[0] for f in fills_of(out)] == [other]
    (own_update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == own]
    assert (own_update.status, own_update.reason) == ("canceled", "self_trade")


@pytest.mark.parametrize("stp", ["cancel_taker", "cancel_both"])
def test_fok_blocked_by_own_order(h: Harness, sym: str, stp: SelfTradePrevention) -> None:
    h.place_id("t", sym, "sell", "100", "1")
    h.place_id("a", sym, "sell", "100", "1")
    before = state_without_clock(h.engine)
    out = h.place("t", sym, "buy", "100", "1", tif="fok", stp=stp)
    assert order_result(out).reason == "fok_unfilled"
    # A FOK that does not fill does nothing at all, not even its STP cancels... except
    # taking an order id, which it was given before it was killed.
    after = state_without_clock(h.engine)
    assert after.pop("next_order_id") == before.pop("next_order_id") + 1
    assert after == before


def test_fok_counts_reduce_only_maker_after_its_own_earlier_fill(h: Harness, sym: str) -> None:
    # Regression: m is long 5 and offers 5 plainly at 100 and 5 reduce-only at 101. A FOK
    # buy of 10 would fill the plain 5, which closes m's long, so the reduce-only offer is
    # then canceled: only 5 is fillable and the FOK must not fill at all.
    h.place_id("a", sym, "sell", "100", "5")
    h.fund("m")
    h.place("m", sym, "buy", "100", "5")
    assert h.position("m", sym) == D("5")
    h.place_id("m", sym, "sell", "100", "5")
    h.place_id("m", sym, "sell", "101", "5", reduce_only=True)
    out = h.place("t", sym, "buy", "101", "10", tif="fok")
    result = order_result(out)
    assert (result.status, result.reason, result.filled_size) == ("canceled", "fok_unfilled", 0)
    assert events_of(out, Trade) == []
    # Up to 5 is fillable, and then it fills.
    out = h.place("t", sym, "buy", "101", "5", tif="fok")
    assert order_result(out).status == "filled"
    check_invariants(h.engine)


def test_stp_cancel_maker(h: Harness, sym: str) -> None:
    own = h.place_id("t", sym, "sell", "100", "1")
    other = h.place_id("a", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "100", "1", stp="cancel_maker")
    result = order_result(out)
    assert (result.status, result.reason) == ("filled", None)
    assert [f[0] for f in fills_of(out)] == [other]
    (own_update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == own]
    assert (own_update.status, own_update.reason) == ("canceled", "self_trade")
    assert h.resting(sym, "sell") == []
    check_invariants(h.engine)


def test_stp_default_is_cancel_maker(h: Harness, sym: str) -> None:
    own = h.place_id("t", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "100", "1")
    result = order_result(out)
    # The maker went, the taker rests.
    assert result.status == "open"
    assert h.resting(sym, "sell") == []
    assert h.resting(sym, "buy") == [(result.order_id, "t", D("100"), D("1"))]
    assert {u.order_id for u in events_of(out, OrderUpdate)} == {own, result.order_id}


def test_stp_cancel_taker(h: Harness, sym: str) -> None:
    other = h.place_id("a", sym, "sell", "99.9", "0.5")
    own = h.place_id("t", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "100", "1", stp="cancel_taker")
    result = order_result(out)
    # It takes what comes before its own order, then stops; its own order stays.
    assert [f[0] for f in fills_of(out)] == [other]
    assert (result.status, result.reason, result.filled_size) == (
        "canceled",
        "self_trade",
        D("0.5"),
    )
    assert h.resting(sym, "sell") == [(own, "t", D("100"), D("1"))]
    assert h.resting(sym, "buy") == []
    check_invariants(h.engine)


def test_stp_cancel_both(h: Harness, sym: str) -> None:
    own = h.place_id("t", sym, "sell", "100", "1")
    h.place_id("a", sym, "sell", "100", "1")
    out = h.place("t", sym, "buy", "100", "1", stp="cancel_both")
    result = order_result(out)
    assert (result.status, result.reason, result.filled_size) == ("canceled", "self_trade", 0)
    assert fills_of(out) == []
    (own_update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == own]
    assert (own_update.status, own_update.reason) == ("canceled", "self_trade")
    # a's order behind it is untouched.
    assert [r[1] for r in h.resting(sym, "sell")] == ["a"]
    check_invariants(h.engine)


def test_orders_that_do_not_cross_never_trigger_stp(h: Harness, sym: str) -> None:
    h.place_id("t", sym, "sell", "101", "1")
    out = h.place("t", sym, "buy", "100", "1", stp="cancel_both")
    assert order_result(out).status == "open"
    assert len(h.resting(sym, "sell")) == 1


def test_resting_reduce_only_canceled_when_position_gone(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "10", "1")
    h.fund("m")
    h.place("m", sym, "buy", "10", "1")
    reducer = h.place_id("m", sym, "sell", "110", "1", reduce_only=True)
    # m closes its long elsewhere; the reduce-only offer now reduces nothing.
    h.place_id("b", sym, "buy", "100", "1")
    assert order_result(h.place("m", sym, "sell", "100", "1")).status == "filled"
    assert h.position("m", sym) == 0
    later = h.place_id("c", sym, "sell", "110", "1")
    out = h.place("t", sym, "buy", "110", "1")
    (update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == reducer]
    assert (update.status, update.reason) == ("canceled", "reduce_only_violation")
    # The taker skipped it and filled against the next order at the level.
    assert [f[0] for f in fills_of(out)] == [later]
    assert h.position("m", sym) == 0
    check_invariants(h.engine)


def test_resting_reduce_only_fills_only_what_is_left(h: Harness, sym: str) -> None:
    h.fund("m")
    h.place_id("a", sym, "sell", "10", "2")
    h.place("m", sym, "buy", "10", "2")
    reducer = h.place_id("m", sym, "sell", "110", "2", reduce_only=True)
    h.place_id("b", sym, "buy", "100", "1")
    h.place("m", sym, "sell", "100", "1")
    assert h.position("m", sym) == D("1")
    out = h.place("t", sym, "buy", "110", "2")
    result = order_result(out)
    # 1 fills (all m still holds), the rest of the reduce-only order is canceled, and the
    # taker's unfilled 1 rests.
    assert fills_of(out) == [(reducer, result.order_id, D("110"), D("1"))]
    (update,) = [u for u in events_of(out, OrderUpdate) if u.order_id == reducer]
    assert (update.status, update.reason, update.filled_size) == (
        "canceled",
        "reduce_only_violation",
        D("1"),
    )
    assert h.position("m", sym) == 0
    assert (result.status, result.filled_size) == ("partially_filled", D("1"))
    check_invariants(h.engine)


def test_fill_events_carry_both_sides(h: Harness, sym: str) -> None:
    maker = h.place_id("a", sym, "sell", "100", "2")
    out = h.place("t", sym, "buy", "100", "2")
    taker = order_result(out).order_id
    (trade,) = events_of(out, Trade)
    maker_fill, taker_fill = events_of(out, Fill)
    assert (maker_fill.wallet, maker_fill.order_id, maker_fill.side) == ("a", maker, "sell")
    assert (taker_fill.wallet, taker_fill.order_id, taker_fill.side) == ("t", taker, "buy")
    assert maker_fill.trade_id == taker_fill.trade_id == trade.trade_id
    assert maker_fill.fill_id != taker_fill.fill_id
    # premium 200: maker 2 bps = 0.04, taker 5 bps = 0.1.
    assert (maker_fill.fee, taker_fill.fee) == (D("0.04"), D("0.1"))
    assert h.engine.state.fees_collected == D("0.14")
