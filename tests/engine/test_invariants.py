"""``hcx.engine.invariants``: holds on states the engine built, and reports a state that
was deliberately broken (money created from nothing, a crossed book)."""

from __future__ import annotations

from hcx.engine.invariants import violations
from tests.engine.helpers import D, Harness


def _traded() -> tuple[Harness, str, int]:
    """Two funded wallets that traded once and still rest a bid and an ask."""
    h = Harness()
    symbol = h.list_option(maker_fee_bps=2, taker_fee_bps=5)
    h.fund("alice")
    h.fund("bob")
    h.place_id("alice", symbol, "buy", "100", "2")
    h.place("bob", symbol, "sell", "100", "1")  # trades 1 against alice's bid
    ask = h.place_id("bob", symbol, "sell", "110", "1")
    return h, symbol, ask


def test_a_state_built_by_the_engine_keeps_every_invariant() -> None:
    h, _, _ = _traded()
    assert h.engine.state.fees_collected > 0  # the trade moved cash and paid fees
    assert violations(h.engine.state) == []


def test_money_created_from_nothing_is_reported() -> None:
    h, _, _ = _traded()
    h.engine.state.wallets["alice"].total += D("0.5")
    problems = violations(h.engine.state)
    assert len(problems) == 1
    assert problems[0].startswith("money not conserved")


def test_fees_that_vanished_are_reported() -> None:
    h, _, _ = _traded()
    h.engine.state.fees_collected -= 1
    assert [p for p in violations(h.engine.state) if p.startswith("money not conserved")]


def test_a_crossed_book_is_reported() -> None:
    h, symbol, ask_id = _traded()
    state = h.engine.state
    book = state.books[symbol]
    ask = state.orders[ask_id]
    # Move the resting ask below the resting bid (100) without matching.
    book.asks.remove(ask)
    ask.price = D("90")
    book.asks.add(ask)
    problems = violations(state)
    assert problems == [f"book {symbol} is crossed: bid {D('100')} >= ask {D('90')}"]
