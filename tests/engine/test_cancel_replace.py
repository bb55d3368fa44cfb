"""Cancel, replace and cancel-all: who may touch which order, and what each leaves behind.

A cancel releases exactly what the order held; a replace is one atomic swap (new id,
``replaced_order_id``, the old order canceled) and a rejected replace leaves the original
resting at its place in the queue.
"""

from __future__ import annotations

import pytest

from hcx.engine.commands import HaltInstrument
from hcx.engine.outputs import BookUpdate, CancelAllResult, OrderUpdate

from .helpers import (
    D,
    Harness,
    check_invariants,
    events_of,
    fills_of,
    order_result,
    state_without_clock,
)

FUNDS = D("1000000")


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("a", "b", "t"):
        h.fund(w)
    return h


@pytest.fixture
def sym(h: Harness) -> str:
    return h.list_option()


def test_cancel_by_order_id_releases_the_reservation(h: Harness, sym: str) -> None:
    order_id = h.place_id("a", sym, "buy", "100", "2")
    # premium 200 + worst fee 5 bps (0.1).
    assert h.balance("a") == (FUNDS, FUNDS - D("200.1"), D("200.1"))
    out = h.cancel("a", order_id)
    result = order_result(out)
    assert (result.order_id, result.status, result.reason) == (order_id, "canceled", None)
    assert (result.price, result.size, result.filled_size) == (D("100"), D("2"), 0)
    (update,) = events_of(out, OrderUpdate)
    assert (update.order_id, update.status) == (order_id, "canceled")
    (book,) = events_of(out, BookUpdate)
    assert (book.bids, book.asks) == ([(D("100"), 0)], [])
    assert h.balance("a") == (FUNDS, FUNDS, 0)
    assert h.resting(sym, "buy") == []


def test_cancel_by_client_id(h: Harness, sym: str) -> None:
    order_id = h.place_id("a", sym, "sell", "100", "1", client_id="mine")
    assert h.balance("a")[2] == D("450")
    result = order_result(h.cancel("a", client_id="mine"))
    assert (result.order_id, result.client_id, result.status) == (order_id, "mine", "canceled")
    assert h.balance("a")[2] == 0


def test_cancel_unknown_order(h: Harness, sym: str) -> None:
    filled = h.place_id("a", sym, "sell", "100", "1")
    h.place("t", sym, "buy", "100", "1")
    canceled = h.place_id("a", sym, "sell", "100", "1")
    h.cancel("a", canceled)
    before = state_without_clock(h.engine)
    for kwargs in (
        {"order_id": 999},
        {"order_id": filled},
        {"order_id": canceled},
        {"client_id": "never"},
        {},
    ):
        out = h.cancel("a", **kwargs)
        result = order_result(out)
        assert (result.status, result.reason) == ("rejected", "unknown_order"), kwargs
        assert out.events == []
    assert state_without_clock(h.engine) == before


def test_cancel_not_owner(h: Harness, sym: str) -> None:
    order_id = h.place_id("a", sym, "buy", "100", "1", client_id="x")
    before = state_without_clock(h.engine)
    result = order_result(h.cancel("b", order_id))
    assert (result.status, result.reason) == ("rejected", "not_owner")
    # Client ids are looked up among the sender's own orders only.
    result = order_result(h.cancel("b", client_id="x"))
    assert (result.status, result.reason) == ("rejected", "unknown_order")
    assert state_without_clock(h.engine) == before
    assert h.resting(sym, "buy") == [(order_id, "a", D("100"), D("1"))]


def test_replace_swaps_orders(h: Harness, sym: str) -> None:
    old = h.place_id("a", sym, "buy", "100", "2", client_id="q")
    out = h.replace("a", old, "101", "1", client_id="q")
    result = order_result(out)
    assert result.order_id is not None and result.order_id > old
    assert result.replaced_order_id == old
    assert (result.symbol, result.side, result.price, result.size, result.status) == (
        sym,
        "buy",
        D("101"),
        D("1"),
        "open",
    )
    updates = {u.order_id: u for u in events_of(out, OrderUpdate)}
    assert updates[old].status == "canceled"
    assert updates[result.order_id].status == "open"
    (book,) = events_of(out, BookUpdate)
    assert book.bids == [(D("101"), D("1")), (D("100"), 0)]
    assert h.resting(sym, "buy") == [(result.order_id, "a", D("101"), D("1"))]
    # premium 101 + 5 bps (0.0505) is all that is held now.
    assert h.balance("a")[2] == D("101.0505")
    assert h.engine.state.wallets["a"].client_ids == {"q": result.order_id}
    check_invariants(h.engine)


def test_replace_loses_time_priority(h: Harness, sym: str) -> None:
    first = h.place_id("a", sym, "sell", "100", "1")
    second = h.place_id("b", sym, "sell", "100", "1")
    new = order_result(h.replace("a", first, "100", "1")).order_id
    assert [r[0] for r in h.resting(sym, "sell")] == [second, new]


@pytest.mark.parametrize(
    ("price", "size", "kwargs", "reason"),
    [
        ("100.05", "1", {}, "invalid_price"),
        ("100", "0", {}, "invalid_size"),
        ("99", "1", {"post_only": True}, "post_only_would_take"),
        ("100", "1", {"client_id": "taken"}, "duplicate_client_id"),
        ("100", "1", {"reduce_only": True}, "reduce_only_violation"),
        ("100", "5000", {}, "insufficient_balance"),
    ],
)
def test_rejected_replace_keeps_original_in_place(
    h: Harness, sym: str, price: str, size: str, kwargs: dict[str, object], reason: str
) -> None:
    first = h.place_id("a", sym, "sell", "100", "1")
    second = h.place_id("b", sym, "sell", "100", "1")
    h.place_id("a", sym, "sell", "120", "0.1", client_id="taken")
    h.place_id("b", sym, "buy", "99", "1")
    before = state_without_clock(h.engine)
    out = h.replace("a", first, price, size, **kwargs)
    result = order_result(out)
    assert (result.status, result.reason, result.order_id) == ("rejected", reason, None)
    assert out.events == []
    assert state_without_clock(h.engine) == before
    # The original kept its place ahead of b's order at the same price.
    taken = h.place("t", sym, "buy", "100", "1")
    assert [f[0] for f in fills_of(taken)] == [first]
    assert h.resting(sym, "sell")[0][0] == second


def test_replace_on_halted_instrument_is_rejected(h: Harness, sym: str) -> None:
    first = h.place_id("a", sym, "buy", "100", "1")
    h.admin(HaltInstrument(sym))
    result = order_result(h.replace("a", first, "101", "1"))
    assert (result.status, result.reason) == ("rejected", "instrument_not_active")
    assert h.resting(sym, "buy") == [(first, "a", D("100"), D("1"))]
    # Canceling still works on a halted instrument.
    assert order_result(h.cancel("a", first)).status == "canceled"


def test_replace_unknown_and_not_owner(h: Harness, sym: str) -> None:
    first = h.place_id("a", sym, "buy", "100", "1")
    before = state_without_clock(h.engine)
    result = order_result(h.replace("a", 999, "100", "1"))
    assert (result.status, result.reason) == ("rejected", "unknown_order")
    result = order_result(h.replace("b", first, "100", "1"))
    assert (result.status, result.reason) == ("rejected", "not_owner")
    assert state_without_clock(h.engine) == before


def test_replace_counts_the_old_reservation() -> None:
    # Buy 2 @ 100 holds 200.1; the replacement buy 3 @ 100 needs 300.15 in all. With
    # exactly 300.15 deposited it fits only because the old 200.1 is given back first.
    h = Harness()
    sym = h.list_option()
    h.fund("a", "300.15")
    old = h.place_id("a", sym, "buy", "100", "2")
    assert h.balance("a") == (D("300.15"), D("100.05"), D("200.1"))
    result = order_result(h.replace("a", old, "100", "3"))
    assert result.status == "open"
    assert h.balance("a") == (D("300.15"), 0, D("300.15"))
    result = order_result(h.replace("a", result.order_id or 0, "100", "3.1"))
    assert (result.status, result.reason) == ("rejected", "insufficient_balance")


def test_replace_of_a_sell_counts_its_old_margin() -> None:
    # Margin is 450 per contract (no index: S = K = 3000).
    h = Harness()
    sym = h.list_option()
    h.fund("a", "900")
    old = h.place_id("a", sym, "sell", "100", "1")
    assert h.balance("a")[2] == D("450")
    new = order_result(h.replace("a", old, "100", "2"))
    assert new.status == "open"
    assert h.balance("a") == (D("900"), 0, D("900"))
    too_big = order_result(h.replace("a", new.order_id or 0, "100", "2.1"))
    assert too_big.reason == "insufficient_balance"


def test_replace_of_partially_filled_order_starts_fresh(h: Harness, sym: str) -> None:
    old = h.place_id("a", sym, "sell", "100", "3")
    h.place("t", sym, "buy", "100", "1")
    result = order_result(h.replace("a", old, "100", "3"))
    assert (result.size, result.filled_size, result.status) == (D("3"), 0, "open")
    assert h.resting(sym, "sell") == [(result.order_id, "a", D("100"), D("3"))]


def test_replace_that_crosses_trades(h: Harness, sym: str) -> None:
    ask = h.place_id("b", sym, "sell", "100", "1")
    old = h.place_id("a", sym, "buy", "90", "1")
    out = h.replace("a", old, "100", "1")
    result = order_result(out)
    assert result.status == "filled" and result.replaced_order_id == old
    assert fills_of(out) == [(ask, result.order_id, D("100"), D("1"))]


def test_cancel_all_variants() -> None:
    h = Harness()
    btc = h.list_option("BTC")
    btc_put = h.list_option("BTC", option="put")
    eth = h.list_option("ETH", strike="2000")
    for w in ("a", "b"):
        h.fund(w)
    mine = {
        (s, p): h.place_id("a", s, "buy", p, "1") for s in (btc, btc_put, eth) for p in ("1", "2")
    }
    theirs = h.place_id("b", btc, "buy", "1", "1")

    out = h.cancel_all("a", symbol=btc)
    assert isinstance(out.result, CancelAllResult)
    assert out.result.canceled == [mine[(btc, "1")], mine[(btc, "2")]]
    out = h.cancel_all("a", underlying="BTC")
    assert out.result.canceled == [mine[(btc_put, "1")], mine[(btc_put, "2")]]  # type: ignore[union-attr]
    out = h.cancel_all("a")
    assert out.result.canceled == [mine[(eth, "1")], mine[(eth, "2")]]  # type: ignore[union-attr]
    # Nothing left: an empty list and no events.
    out = h.cancel_all("a")
    assert out.result.canceled == [] and out.events == []  # type: ignore[union-attr]
    assert h.balance("a") == (FUNDS, FUNDS, 0)
    # Only the sender's own orders go.
    assert h.resting(btc, "buy") == [(theirs, "b", D("1"), D("1"))]
    check_invariants(h.engine)


def test_cancel_all_emits_updates_for_every_order(h: Harness, sym: str) -> None:
    ids = [h.place_id("a", sym, "buy", p, "1") for p in ("1", "2", "2")]
    out = h.cancel_all("a")
    assert [u.order_id for u in events_of(out, OrderUpdate)] == ids
    assert all(u.status == "canceled" for u in events_of(out, OrderUpdate))
    (book,) = events_of(out, BookUpdate)
    assert book.bids == [(D("2"), 0), (D("1"), 0)]


def test_cancel_all_of_unknown_wallet_is_empty(h: Harness, sym: str) -> None:
    out = h.cancel_all("ghost")
    assert out.result.canceled == [] and out.events == []  # type: ignore[union-attr]
    assert "ghost" not in h.engine.state.wallets
