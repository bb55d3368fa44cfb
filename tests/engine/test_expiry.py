"""Expiry and cash settlement (``hcx.engine.expiry``; PROTOCOL.md, Expiry).

An instrument stops trading at ``expiry_ms``: from then on orders on it are rejected
``instrument_not_active``, and the first command whose time has reached it expires it:
its resting orders are canceled (reason ``instrument_not_active``, collateral released)
and ``Instrument {status:"expired"}`` is published, all ahead of that command's own
events. ``Settle {symbol, price}`` then pays every holder ``size x intrinsic x
multiplier`` rounded down (shorts pay), sends ``PositionExpired`` to each, zeroes the
positions, releases the short margin and marks the instrument ``settled``; the rounding
dust goes to ``fees_collected`` so money stays conserved exactly.
"""

from __future__ import annotations

import json

import pytest

from hcx.engine import Engine, Envelope
from hcx.engine.commands import (
    CancelOrder,
    Deposit,
    HaltInstrument,
    PlaceOrder,
    ReplaceOrder,
    Settle,
)
from hcx.engine.outputs import (
    AdminResult,
    Balance,
    BookUpdate,
    InstrumentUpdate,
    OrderUpdate,
    Position,
    PositionExpired,
)
from hcx.engine.snapshot import canonical_bytes

from .helpers import (
    START_TS,
    D,
    Harness,
    check_invariants,
    events_of,
    order_result,
    state_without_clock,
)

EXPIRY = START_TS + 60_000


def admin_result(out: object) -> AdminResult:
    result = out.result  # type: ignore[attr-defined]
    assert isinstance(result, AdminResult), result
    return result


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("a", "b", "c", "d"):
        h.fund(w, "100000")
    return h


def _short_lived(h: Harness, **kw: object) -> str:
    return h.list_option(expiry_ms=EXPIRY, **kw)  # type: ignore[arg-type]


def _trade(h: Harness, sym: str, buyer: str, seller: str, price: str, size: str) -> None:
    h.place_id(seller, sym, "sell", price, size)
    result = order_result(h.place(buyer, sym, "buy", price, size))
    assert result.status == "filled", result


# --- trading stops at expiry -----------------------------------------------------------


def test_orders_accepted_until_expiry_and_rejected_from_it(h: Harness) -> None:
    sym = _short_lived(h)
    h.ts_ms = EXPIRY - 1
    assert order_result(h.place("a", sym, "buy", "10", "1")).status == "open"
    for ts in (EXPIRY, EXPIRY + 1, EXPIRY + 86_400_000):
        h.ts_ms = ts
        result = order_result(h.place("a", sym, "buy", "10", "1"))
        assert (result.status, result.reason, result.order_id) == (
            "rejected",
            "instrument_not_active",
            None,
        )
    check_invariants(h.engine)


def test_not_active_comes_before_price_and_size_checks(h: Harness) -> None:
    """The protocol's check order: the instrument first, then price, then size. The
    early refusal (no journal entry) must not answer for an instrument past expiry."""
    sym = _short_lived(h)
    h.ts_ms = EXPIRY
    envelope = Envelope(h.seq + 1, EXPIRY, "a", "x", PlaceOrder(sym, "buy", D("10") + 1, 0))
    assert h.engine.refuse_early(envelope) is None
    result = order_result(h.send("a", PlaceOrder(sym, "buy", D("10") + 1, 0)))
    assert result.reason == "instrument_not_active"


def test_first_command_at_expiry_cancels_resting_orders_and_releases_collateral(
    h: Harness,
) -> None:
    sym = _short_lived(h)
    other = h.list_option(strike="3100")
    bid = h.place_id("a", sym, "buy", "10", "1")
    ask = h.place_id("b", sym, "sell", "20", "2")
    keep = h.place_id("a", other, "buy", "5", "1")
    assert h.balance("a")[2] > 0 and h.balance("b")[2] > 0
    reserved_for_keep = h.engine.state.wallets["a"].exposures[other].required
    before = h.balance("a")[0], h.balance("b")[0]

    # One millisecond short: nothing happens.
    out = h.admin(Deposit("c", D("1")), ts_ms=EXPIRY - 1)
    assert out.events == [Balance("c", D("100001"), D("100001"), 0, h.seq)]
    assert h.engine.state.instruments[sym].status == "active"

    # The first command at the expiry time, whatever it is, expires the instrument.
    out = h.admin(Deposit("c", D("1")), ts_ms=EXPIRY)
    assert isinstance(out.events[0], InstrumentUpdate)
    assert (out.events[0].symbol, out.events[0].status, out.events[0].seq) == (
        sym,
        "expired",
        h.seq,
    )
    canceled = events_of(out, OrderUpdate)
    assert [(u.order_id, u.status, u.reason, u.seq) for u in canceled] == [
        (bid, "canceled", "instrument_not_active", h.seq),
        (ask, "canceled", "instrument_not_active", h.seq),
    ]
    (book,) = events_of(out, BookUpdate)
    assert (book.symbol, book.bids, book.asks) == (sym, [(D("10"), 0)], [(D("20"), 0)])
    balances = {b.wallet: b for b in events_of(out, Balance)}
    assert balances["a"].reserved == reserved_for_keep
    assert balances["b"].reserved == 0
    assert (h.balance("a")[0], h.balance("b")[0]) == before  # no cash moves
    assert h.resting(sym, "buy") == [] and h.resting(sym, "sell") == []
    assert [o for o, *_ in h.resting(other, "buy")] == [keep]
    assert h.engine.state.instruments[sym].status == "expired"
    assert [i.status for i in h.engine.instruments() if i.symbol == sym] == ["expired"]
    check_invariants(h.engine)

    # It happens once: the next command carries no expiry events.
    out = h.admin(Deposit("c", D("1")), ts_ms=EXPIRY + 5)
    assert not events_of(out, InstrumentUpdate) and not events_of(out, OrderUpdate)


def test_expiry_events_come_ahead_of_the_commands_own(h: Harness) -> None:
    """The expiring command here trades on another book: the expiry's instrument update
    is the first event, and on each channel the expiry's updates precede the command's."""
    sym = _short_lived(h)
    other = h.list_option(strike="3100")
    doomed = h.place_id("a", sym, "buy", "10", "1")
    maker = h.place_id("b", other, "sell", "30", "1")
    h.ts_ms = EXPIRY
    out = h.place("a", other, "buy", "30", "0.4")
    taker = order_result(out).order_id
    assert isinstance(out.events[0], InstrumentUpdate) and out.events[0].symbol == sym
    updates = [(u.order_id, u.reason) for u in events_of(out, OrderUpdate)]
    assert updates[0] == (doomed, "instrument_not_active")
    assert [oid for oid, _ in updates[1:]] == [taker, maker]
    books = [u.symbol for u in events_of(out, BookUpdate)]
    assert books == [sym, other]


def test_cancel_and_replace_after_expiry_find_nothing(h: Harness) -> None:
    sym = _short_lived(h)
    order = h.place_id("a", sym, "buy", "10", "1")
    h.ts_ms = EXPIRY
    out = h.send("a", CancelOrder(order))
    # The expiry ran first, within this very command: the order is gone.
    assert events_of(out, OrderUpdate)[0].reason == "instrument_not_active"
    assert order_result(out).reason == "unknown_order"
    out = h.send("a", ReplaceOrder(order, D("11"), D("1")))
    assert order_result(out).reason == "unknown_order"


def test_halted_instrument_expires_too(h: Harness) -> None:
    sym = _short_lived(h)
    order = h.place_id("a", sym, "buy", "10", "1")
    assert admin_result(h.admin(HaltInstrument(sym))).status == "ok"
    # A halt does not cancel; the expiry does.
    assert h.resting(sym, "buy")[0][0] == order
    out = h.admin(Deposit("a", D("1")), ts_ms=EXPIRY)
    assert [e.status for e in events_of(out, InstrumentUpdate)] == ["expired"]
    assert [(u.order_id, u.reason) for u in events_of(out, OrderUpdate)] == [
        (order, "instrument_not_active")
    ]
    assert admin_result(h.admin(HaltInstrument(sym))).reason == "instrument_not_active"
    check_invariants(h.engine)


def test_several_instruments_expiring_together_all_expire(h: Harness) -> None:
    one = _short_lived(h)
    two = _short_lived(h, strike="3100")
    late = h.list_option(expiry_ms=EXPIRY + 1, strike="3200")
    for sym in (one, two, late):
        h.place_id("a", sym, "buy", "10", "1")
    out = h.admin(Deposit("a", D("1")), ts_ms=EXPIRY + 1)
    assert sorted(e.symbol for e in events_of(out, InstrumentUpdate)) == sorted([one, two, late])
    assert not h.engine.state.orders
    check_invariants(h.engine)


def test_positions_stay_open_after_expiry_until_settled(h: Harness) -> None:
    sym = _short_lived(h)
    _trade(h, sym, "a", "b", "50", "2")
    h.admin(Deposit("c", D("1")), ts_ms=EXPIRY)
    assert (h.position("a", sym), h.position("b", sym)) == (D("2"), -D("2"))
    # The short still holds its margin until settlement.
    assert h.balance("b")[2] > 0


def test_expiry_after_restore_is_the_same(h: Harness) -> None:
    sym = _short_lived(h)
    h.place_id("a", sym, "buy", "10", "1")
    _trade(h, sym, "c", "b", "40", "1")
    restored = Engine.restore(json.loads(canonical_bytes(h.engine.snapshot())))
    assert restored.state.expiry_queue == h.engine.state.expiry_queue
    envelope = Envelope(h.seq + 1, EXPIRY + 3, "admin", "x", Deposit("d", D("1")))
    assert restored.apply(envelope) == h.engine.apply(envelope)
    assert restored.digest() == h.engine.digest()


# --- settlement: refusals ------------------------------------------------------------


def test_settle_refusals(h: Harness) -> None:
    sym = _short_lived(h)
    _trade(h, sym, "a", "b", "50", "1")
    # Before expiry, active or halted: not_expired, and nothing moves.
    before = state_without_clock(h.engine)
    assert admin_result(h.settle(sym, "3100")).reason == "not_expired"
    h.admin(HaltInstrument(sym))
    halted = state_without_clock(h.engine)
    out = h.settle(sym, "3100", ts_ms=EXPIRY - 1)
    assert (admin_result(out).status, admin_result(out).reason) == ("rejected", "not_expired")
    assert admin_result(out).command == "Settle"
    assert state_without_clock(h.engine) == halted != before
    assert admin_result(h.settle("BTC-20260101-1-C", "3100")).reason == "unknown_symbol"

    h.ts_ms = EXPIRY
    for price in ("0", "-1"):
        out = h.settle(sym, price)
        assert admin_result(out).reason == "invalid_price"
        assert not events_of(out, PositionExpired)
    expired = state_without_clock(h.engine)
    assert h.engine.state.instruments[sym].status == "expired"
    assert admin_result(h.settle(sym, "0")).reason == "invalid_price"
    assert state_without_clock(h.engine) == expired

    assert admin_result(h.settle(sym, "3100")).status == "ok"
    settled = state_without_clock(h.engine)
    out = h.settle(sym, "3200")
    assert admin_result(out).reason == "already_settled"
    assert out.events == []
    assert state_without_clock(h.engine) == settled
    # Unknown comes first, even for prices that are bad too.
    assert admin_result(h.settle("BTC-20260101-1-C", "0")).reason == "unknown_symbol"


def test_no_trading_after_settlement(h: Harness) -> None:
    sym = _short_lived(h)
    h.settle(sym, "3000", ts_ms=EXPIRY)
    assert h.engine.state.instruments[sym].status == "settled"
    assert order_result(h.place("a", sym, "buy", "1", "1")).reason == "instrument_not_active"
    assert admin_result(h.admin(HaltInstrument(sym))).reason == "instrument_not_active"


# --- settlement: cash -----------------------------------------------------------------


def test_long_two_calls_settled_above_strike_get_200(h: Harness) -> None:
    """The protocol's example: long 2 calls, strike 3000, settled at 3100, multiplier 1."""
    sym = _short_lived(h, maker_fee_bps=0, taker_fee_bps=0)
    _trade(h, sym, "a", "b", "50", "2")
    a_total, b_total = h.balance("a")[0], h.balance("b")[0]
    # The short holds 2 x 450 margin (15% of the strike, no index yet) + 100 premium.
    assert h.balance("b")[2] == D("1000")
    fees = h.engine.state.fees_collected

    out = h.settle(sym, "3100", ts_ms=EXPIRY)
    assert admin_result(out).status == "ok"
    expired = events_of(out, PositionExpired)
    assert [(e.wallet, e.symbol, e.size, e.settlement_price) for e in expired] == [
        ("a", sym, D("2"), D("3100")),
        ("b", sym, -D("2"), D("3100")),
    ]
    # settlement_value is the signed cash; pnl is that minus the cost (100 paid/received).
    assert [(e.settlement_value, e.pnl, e.seq) for e in expired] == [
        (D("200"), D("100"), h.seq),
        (-D("200"), -D("100"), h.seq),
    ]
    assert h.balance("a") == (a_total + D("200"), a_total + D("200"), 0)
    assert h.balance("b") == (b_total - D("200"), b_total - D("200"), 0)  # margin released
    assert (h.position("a", sym), h.position("b", sym)) == (0, 0)
    positions = {p.wallet: p for p in events_of(out, Position)}
    assert (positions["a"].size, positions["a"].realized_pnl) == (0, D("100"))
    assert (positions["b"].size, positions["b"].realized_pnl) == (0, -D("100"))
    assert h.engine.state.fees_collected == fees  # no dust here
    # This Settle is also the first command at expiry: the expiry's update comes first.
    assert [(u.symbol, u.status) for u in events_of(out, InstrumentUpdate)] == [
        (sym, "expired"),
        (sym, "settled"),
    ]
    assert h.engine.state.instruments[sym].status == "settled"
    check_invariants(h.engine)


def test_out_of_the_money_call_settles_at_zero(h: Harness) -> None:
    sym = _short_lived(h, maker_fee_bps=0, taker_fee_bps=0)
    _trade(h, sym, "a", "b", "50", "2")
    a_total, b_total = h.balance("a")[0], h.balance("b")[0]
    out = h.settle(sym, "3000", ts_ms=EXPIRY)  # at the strike: worth nothing
    assert [(e.settlement_value, e.pnl) for e in events_of(out, PositionExpired)] == [
        (0, -D("100")),
        (0, D("100")),
    ]
    assert (h.balance("a")[0], h.balance("b")) == (a_total, (b_total, b_total, 0))
    check_invariants(h.engine)


@pytest.mark.parametrize(
    ("price", "value"),
    [("2800", "60"), ("2999.9", "0.03"), ("3000", "0"), ("3500", "0")],
)
def test_puts_pay_strike_minus_price(h: Harness, price: str, value: str) -> None:
    """Long 3 puts, strike 3000, multiplier 0.1: 3 x max(3000 - S, 0) x 0.1."""
    sym = _short_lived(h, option="put", multiplier="0.1", maker_fee_bps=0, taker_fee_bps=0)
    _trade(h, sym, "a", "b", "20", "3")  # premium 3 x 20 x 0.1 = 6
    a_total, b_total = h.balance("a")[0], h.balance("b")[0]
    out = h.settle(sym, price, ts_ms=EXPIRY)
    assert [(e.wallet, e.settlement_value, e.pnl) for e in events_of(out, PositionExpired)] == [
        ("a", D(value), D(value) - D("6")),
        ("b", -D(value), -D(value) + D("6")),
    ]
    assert (h.balance("a")[0], h.balance("b")[0]) == (a_total + D(value), b_total - D(value))
    assert h.balance("b")[2] == 0
    check_invariants(h.engine)


def test_pnl_is_against_cost_without_fees(h: Harness) -> None:
    sym = _short_lived(h, maker_fee_bps=10, taker_fee_bps=20)
    _trade(h, sym, "a", "b", "50", "2")  # cost 100; a paid a 0.2 taker fee on top
    out = h.settle(sym, "3100", ts_ms=EXPIRY)
    assert [(e.settlement_value, e.pnl) for e in events_of(out, PositionExpired)] == [
        (D("200"), D("100")),
        (-D("200"), -D("100")),
    ]


def test_many_holders_and_closed_positions(h: Harness) -> None:
    sym = _short_lived(h, maker_fee_bps=0, taker_fee_bps=0)
    _trade(h, sym, "a", "c", "50", "1")
    _trade(h, sym, "b", "c", "60", "1")
    _trade(h, sym, "d", "a", "55", "1")  # a closes: gets no PositionExpired
    assert h.position("a", sym) == 0
    out = h.settle(sym, "3150", ts_ms=EXPIRY)
    got = [(e.wallet, e.size, e.settlement_value, e.pnl) for e in events_of(out, PositionExpired)]
    assert got == [
        ("b", D("1"), D("150"), D("90")),
        ("c", -D("2"), -D("300"), -D("190")),
        ("d", D("1"), D("150"), D("95")),
    ]
    check_invariants(h.engine)


def test_settling_with_no_holders_just_marks_it_settled(h: Harness) -> None:
    sym = _short_lived(h)
    out = h.settle(sym, "3100", ts_ms=EXPIRY)
    assert admin_result(out).status == "ok"
    assert not events_of(out, PositionExpired)
    # Its expiry (this very command) and its settlement: two updates, in that order.
    assert [e.status for e in events_of(out, InstrumentUpdate)] == ["expired", "settled"]


def test_rounding_dust_goes_to_the_venue_and_money_is_conserved(h: Harness) -> None:
    """Fine lots make the exact value fractional: 0.001 x 100.0005 = 0.1000005. Each long
    gets 0.1 (rounded down), the short pays 0.200001 (rounded down too, i.e. up in size):
    the venue keeps the 0.000001."""
    sym = _short_lived(h, tick="0.001", lot="0.001", maker_fee_bps=0, taker_fee_bps=0)
    _trade(h, sym, "a", "c", "50", "0.001")
    _trade(h, sym, "b", "c", "50", "0.001")
    state = h.engine.state
    fees = state.fees_collected
    totals = {w: h.balance(w)[0] for w in "abc"}
    out = h.settle(sym, "3100.0005", ts_ms=EXPIRY)
    values = {e.wallet: e.settlement_value for e in events_of(out, PositionExpired)}
    assert values == {"a": D("0.1"), "b": D("0.1"), "c": -D("0.200001")}
    for w in "abc":
        assert h.balance(w)[0] == totals[w] + values[w]
    assert state.fees_collected == fees + D("0.000001")
    assert sum(w.total for w in state.wallets.values()) + state.fees_collected == (
        state.deposited - state.withdrawn
    )
    check_invariants(h.engine)


def test_a_fractional_short_value_rounds_toward_paying_more(h: Harness) -> None:
    """One long and one short of 0.001 at 100.0005 intrinsic: exactly 0.1000005 each way.
    The long gets 0.1, the short pays 0.100001 (rounded down, not toward zero)."""
    sym = _short_lived(h, tick="0.001", lot="0.001", maker_fee_bps=0, taker_fee_bps=0)
    _trade(h, sym, "a", "b", "50", "0.001")
    fees = h.engine.state.fees_collected
    out = h.settle(sym, "3100.0005", ts_ms=EXPIRY)
    assert [(e.wallet, e.settlement_value) for e in events_of(out, PositionExpired)] == [
        ("a", D("0.1")),
        ("b", -D("0.100001")),
    ]
    assert h.engine.state.fees_collected == fees + 1
    check_invariants(h.engine)


def test_settlement_can_take_a_short_below_zero_and_money_still_balances(h: Harness) -> None:
    """Nothing liquidates: a short whose loss outruns its collateral ends with negative
    cash, and the longs are still paid in full."""
    sym = _short_lived(h, maker_fee_bps=0, taker_fee_bps=0)
    h.fund("poor", "500")
    _trade(h, sym, "a", "poor", "50", "1")  # margin 450 + premium 50 held of 550
    out = h.settle(sym, "4000", ts_ms=EXPIRY)
    assert [e.settlement_value for e in events_of(out, PositionExpired)] == [
        D("1000"),
        -D("1000"),
    ]
    assert h.balance("poor") == (-D("450"), -D("450"), 0)
    check_invariants(h.engine, under_water={"poor"})


def test_settlement_is_the_same_after_restore(h: Harness) -> None:
    sym = _short_lived(h, tick="0.001", lot="0.001")
    _trade(h, sym, "a", "c", "50.001", "0.013")
    _trade(h, sym, "b", "c", "49.999", "0.007")
    h.admin(Deposit("d", D("1")), ts_ms=EXPIRY)
    restored = Engine.restore(json.loads(canonical_bytes(h.engine.snapshot())))
    envelope = Envelope(h.seq + 1, EXPIRY + 1, "admin", "x", Settle(sym, D("3123.456789")))
    out = h.engine.apply(envelope)
    assert restored.apply(envelope) == out
    assert len(events_of(out, PositionExpired)) == 3
    assert restored.digest() == h.engine.digest()
    check_invariants(h.engine)
