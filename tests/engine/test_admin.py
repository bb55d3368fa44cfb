"""Venue commands: listing instruments (idempotent on equal terms), halts and their effects."""

from __future__ import annotations

from typing import Any

import pytest

from hcx.engine.commands import CreateInstrument, HaltInstrument, PlaceOrder, ResumeInstrument
from hcx.engine.instruments import expected_symbol
from hcx.engine.outputs import AdminResult, InstrumentUpdate
from hcx.engine.plain import replace

from .helpers import EXPIRY_MS, D, Harness, events_of, order_result, state_without_clock


def _create(**overrides: Any) -> CreateInstrument:
    terms: dict[str, Any] = {
        "underlying": "BTC",
        "expiry_ms": EXPIRY_MS,
        "strike": D("3000"),
        "option": "call",
        "tick_size": D("0.1"),
        "lot_size": D("0.1"),
    }
    terms.update(overrides)
    symbol = terms.pop("symbol", None)
    if symbol is None:
        symbol = expected_symbol(
            terms["underlying"], max(terms["expiry_ms"], 0), terms["strike"], terms["option"]
        )
    return CreateInstrument(symbol=symbol, **terms)


def _admin_result(out: Any) -> AdminResult:
    assert isinstance(out.result, AdminResult)
    return out.result


def test_symbol_format() -> None:
    assert expected_symbol("BTC", EXPIRY_MS, D("3000"), "call") == "BTC-20300101-3000-C"
    assert expected_symbol("ETH", EXPIRY_MS, D("2500.5"), "put") == "ETH-20300101-2500.5-P"


def test_create_instrument_lists_it_with_default_fees() -> None:
    h = Harness()
    out = h.admin(_create())
    assert (_admin_result(out).status, _admin_result(out).command) == ("ok", "CreateInstrument")
    (update,) = events_of(out, InstrumentUpdate)
    assert (update.symbol, update.status, update.maker_fee_bps, update.taker_fee_bps) == (
        "BTC-20300101-3000-C",
        "active",
        2,
        5,
    )
    assert (update.multiplier, update.tick_size, update.lot_size) == (D("1"), D("0.1"), D("0.1"))
    assert h.engine.book_depth("BTC-20300101-3000-C") == (0, [], [])


def test_create_same_terms_is_ok_and_silent() -> None:
    h = Harness()
    h.admin(_create())
    before = state_without_clock(h.engine)
    out = h.admin(_create())
    assert (_admin_result(out).status, out.events) == ("ok", [])
    # Spelling out the default fees is still the same terms.
    out = h.admin(_create(maker_fee_bps=2, taker_fee_bps=5))
    assert (_admin_result(out).status, out.events) == ("ok", [])
    assert state_without_clock(h.engine) == before


@pytest.mark.parametrize(
    "change",
    [
        {"tick_size": D("0.5")},
        {"lot_size": D("1")},
        {"multiplier": D("10")},
        {"maker_fee_bps": 1},
        {"taker_fee_bps": 7},
        {"expiry_ms": EXPIRY_MS + 1},  # same calendar day, so the same symbol
    ],
)
def test_create_other_terms_is_instrument_exists(change: dict[str, Any]) -> None:
    h = Harness()
    h.admin(_create())
    before = state_without_clock(h.engine)
    cmd = replace(_create(), **change)
    out = h.admin(cmd)
    assert (_admin_result(out).status, _admin_result(out).reason) == (
        "rejected",
        "instrument_exists",
    )
    assert out.events == [] and state_without_clock(h.engine) == before


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"underlying": "btc"}, "invalid_underlying"),
        ({"underlying": ""}, "invalid_underlying"),
        ({"underlying": "B-TC"}, "invalid_underlying"),
        ({"expiry_ms": 0}, "invalid_expiry"),
        ({"strike": 0}, "invalid_strike"),
        ({"strike": -D("1")}, "invalid_strike"),
        ({"tick_size": 0}, "invalid_increment"),
        ({"lot_size": -1}, "invalid_increment"),
        ({"multiplier": 0}, "invalid_increment"),
        # 1e-6 x 1e-6 x 1 is not a whole micro-USD of premium.
        ({"tick_size": 1, "lot_size": 1}, "invalid_increment"),
        ({"maker_fee_bps": -1}, "invalid_fee"),
        ({"taker_fee_bps": 1_001}, "invalid_fee"),
        ({"symbol": "BTC-20300101-3000-P"}, "invalid_symbol"),
        ({"symbol": "BTC-20291231-3000-C"}, "invalid_symbol"),
        ({"symbol": "BTC-20300101-3000.0-C"}, "invalid_symbol"),
    ],
)
def test_create_bad_terms_rejected(overrides: dict[str, Any], reason: str) -> None:
    h = Harness()
    out = h.admin(_create(**overrides))
    assert (_admin_result(out).status, _admin_result(out).reason) == ("rejected", reason)
    assert out.events == [] and h.engine.state.instruments == {}


def test_smallest_valid_increments_accepted() -> None:
    # 0.001 x 0.001 x 1 = 1e-6 USD: exactly one micro-USD per tick and lot.
    h = Harness()
    out = h.admin(_create(tick_size=D("0.001"), lot_size=D("0.001")))
    assert _admin_result(out).status == "ok"
    out = h.admin(_create(strike=D("3100"), maker_fee_bps=0, taker_fee_bps=1_000))
    assert _admin_result(out).status == "ok"


def test_halt_stops_trading_but_not_canceling() -> None:
    h = Harness()
    sym = h.list_option()
    h.fund("a")
    resting = h.place_id("a", sym, "buy", "1", "1")
    out = h.admin(HaltInstrument(sym))
    assert _admin_result(out).status == "ok"
    (update,) = events_of(out, InstrumentUpdate)
    assert (update.symbol, update.status) == (sym, "halted")
    result = order_result(h.send("a", PlaceOrder(sym, "buy", D("1"), D("1"))))
    assert (result.status, result.reason) == ("rejected", "instrument_not_active")
    # Resting orders stay until their owners cancel them.
    assert h.resting(sym, "buy") == [(resting, "a", D("1"), D("1"))]
    assert order_result(h.cancel("a", resting)).status == "canceled"
    # Halting again is a harmless no-op.
    out = h.admin(HaltInstrument(sym))
    assert (_admin_result(out).status, out.events) == ("ok", [])
    assert [i.status for i in h.engine.instruments()] == ["halted"]


def test_halt_unknown_symbol() -> None:
    h = Harness()
    out = h.admin(HaltInstrument("BTC-20300101-3000-C"))
    assert (_admin_result(out).status, _admin_result(out).reason) == ("rejected", "unknown_symbol")


def test_resume_lifts_a_halt_and_repeats_harmlessly() -> None:
    h = Harness()
    sym = h.list_option()
    h.fund("a")
    h.admin(HaltInstrument(sym))
    out = h.admin(ResumeInstrument(sym))
    assert (_admin_result(out).command, _admin_result(out).status) == ("ResumeInstrument", "ok")
    (update,) = events_of(out, InstrumentUpdate)
    assert (update.symbol, update.status) == (sym, "active")
    result = order_result(h.send("a", PlaceOrder(sym, "buy", D("1"), D("1"))))
    assert result.status == "open"
    # Resuming an active instrument is a no-op, like halting a halted one.
    out = h.admin(ResumeInstrument(sym))
    assert (_admin_result(out).status, out.events) == ("ok", [])


def test_resume_refuses_unknown_and_expired_instruments() -> None:
    h = Harness()
    out = h.admin(ResumeInstrument("BTC-20300101-3000-C"))
    assert (_admin_result(out).status, _admin_result(out).reason) == ("rejected", "unknown_symbol")
    sym = h.list_option(expiry_ms=h.ts_ms + 1_000)
    h.admin(HaltInstrument(sym))
    # Past expiry, the halted instrument expires first: it cannot come back.
    out = h.admin(ResumeInstrument(sym), ts_ms=h.ts_ms + 2_000)
    assert (_admin_result(out).status, _admin_result(out).reason) == (
        "rejected",
        "instrument_not_active",
    )
    assert [i.status for i in h.engine.instruments()] == ["expired"]
