"""Market maker protection (``hcx.engine.mmp``, ``protection``, ``matching``).

Per (wallet, underlying), fills of ``mmp`` orders are summed over a rolling
``interval_ms`` (quantity, and net Black-Scholes delta from the index and vol published
with ``SetIndexPrice``). Reaching ``qty_limit`` or ``delta_limit`` freezes the pair until
``ts + frozen_ms`` (until ``ResetMmp`` when ``frozen_ms`` is 0): every resting ``mmp``
order of the wallet on that underlying is canceled (``mmp_frozen``, ``mmp_triggered``),
and new ``mmp`` orders are rejected ``mmp_frozen``. Non-mmp orders, other wallets and
other underlyings are untouched. It is all engine state: snapshotted and in the digest.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hcx.engine import Engine, Envelope
from hcx.engine.commands import PlaceOrder, ReplaceOrder, SetIndexPrice
from hcx.engine.greeks import YEAR_MS, _decimal_delta, _float_delta, delta
from hcx.engine.matching import _delta
from hcx.engine.mmp import UNTIL_RESET
from hcx.engine.numbers import SCALE
from hcx.engine.outputs import MmpResult, OrderUpdate, Output
from hcx.engine.snapshot import canonical_bytes

from .helpers import (
    START_TS,
    D,
    Harness,
    check_invariants,
    events_of,
    examples,
    fills_of,
    order_result,
    state_without_clock,
)

NEAR_EXPIRY = START_TS + 30 * 86_400_000


def mmp_result(out: Output) -> MmpResult:
    assert isinstance(out.result, MmpResult), out.result
    return out.result


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("mm", "t", "u"):
        h.fund(w, "1000000")
    return h


@pytest.fixture
def syms(h: Harness) -> tuple[str, str, str]:
    """A BTC call, a BTC put and an ETH call."""
    return (
        h.list_option(),
        h.list_option(option="put"),
        h.list_option(underlying="ETH", strike="2000"),
    )


def _updates(out: Output) -> dict[int, OrderUpdate]:
    return {u.order_id or 0: u for u in events_of(out, OrderUpdate)}


# --- SetMmp / ResetMmp -----------------------------------------------------------------


def test_set_mmp_ok(h: Harness, syms: tuple[str, str, str]) -> None:
    out = h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    assert mmp_result(out) == MmpResult(f"req-{h.seq}", "mm", "ok", None, "BTC", None, h.seq)
    assert out.events == []
    protection = h.engine.state.mmp[("mm", "BTC")]
    assert (protection.interval_ms, protection.frozen_ms, protection.qty_limit) == (
        1_000,
        5_000,
        D("1"),
    )
    assert protection.delta_limit is None and protection.enabled


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"underlying": "DOGE", "qty_limit": "1"}, "unknown_underlying"),
        # The underlying is checked first, then the limits.
        ({"underlying": "DOGE", "interval_ms": 0}, "unknown_underlying"),
        ({"interval_ms": 0, "qty_limit": "1"}, "invalid_limits"),
        ({"interval_ms": -1, "qty_limit": "1"}, "invalid_limits"),
        ({"frozen_ms": -1, "qty_limit": "1"}, "invalid_limits"),
        ({}, "invalid_limits"),  # neither limit
        ({"qty_limit": "0"}, "invalid_limits"),
        ({"qty_limit": "-1"}, "invalid_limits"),
        ({"delta_limit": "0"}, "invalid_limits"),
        ({"qty_limit": "1", "delta_limit": "-0.5"}, "invalid_limits"),
    ],
)
def test_set_mmp_rejections_change_nothing(
    h: Harness, syms: tuple[str, str, str], kw: dict[str, object], reason: str
) -> None:
    h.set_mmp("mm", "ETH", qty_limit="3")
    before = state_without_clock(h.engine)
    out = h.set_mmp("mm", **kw)  # type: ignore[arg-type]
    result = mmp_result(out)
    assert (result.status, result.reason, result.frozen_until_ms) == ("rejected", reason, None)
    assert result.underlying == kw.get("underlying", "BTC")
    assert out.events == []
    assert state_without_clock(h.engine) == before


def test_reset_without_set_is_rejected(h: Harness, syms: tuple[str, str, str]) -> None:
    result = mmp_result(h.reset_mmp("mm"))
    assert (result.status, result.reason) == ("rejected", "mmp_not_set")


# --- the quantity limit ----------------------------------------------------------------


def test_qty_breach_by_a_maker_freezes_and_cancels_only_its_mmp_orders_there(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call, put, eth = syms
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    first = h.place_id("mm", call, "sell", "10", "0.5", mmp=True)
    trigger = h.place_id("mm", call, "sell", "11", "0.5", mmp=True)
    later = h.place_id("mm", call, "sell", "12", "0.5", mmp=True)
    plain = h.place_id("mm", call, "sell", "13", "0.5")
    put_bid = h.place_id("mm", put, "buy", "5", "1", mmp=True)
    eth_ask = h.place_id("mm", eth, "sell", "20", "1", mmp=True)
    other_wallet = h.place_id("u", call, "sell", "14", "1", mmp=True)

    out = h.place("t", call, "buy", "10", "0.5")
    assert fills_of(out)[0][0] == first
    assert not h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms)
    assert all(not u.mmp_triggered for u in events_of(out, OrderUpdate))

    h.ts_ms += 999  # still inside the interval: 0.5 + 0.5 reaches the limit
    out = h.place("t", call, "buy", "11", "0.5")
    assert fills_of(out)[0][0] == trigger
    updates = _updates(out)
    assert (updates[trigger].status, updates[trigger].mmp_triggered) == ("filled", True)
    for canceled in (later, put_bid):
        assert (
            updates[canceled].status,
            updates[canceled].reason,
            updates[canceled].mmp_triggered,
        ) == ("canceled", "mmp_frozen", True)
    assert set(updates) == {trigger, later, put_bid, order_result(out).order_id}
    # The taker's own result says nothing about the maker's protection.
    assert not order_result(out).mmp_triggered
    assert [o for o, *_ in h.resting(call, "sell")] == [plain, other_wallet]
    assert [o for o, *_ in h.resting(eth, "sell")] == [eth_ask]
    assert h.resting(put, "buy") == []
    assert h.engine.state.mmp[("mm", "BTC")].frozen_until == h.ts_ms + 5_000
    check_invariants(h.engine)


def test_qty_breach_by_a_taker_ends_it_and_flags_its_result(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call, put, _ = syms
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    resting = h.place_id("mm", put, "sell", "30", "1", mmp=True)
    for price in ("10", "11", "12"):
        h.place_id("u", call, "sell", price, "0.6")
    out = h.place("mm", call, "buy", "12", "1.8", mmp=True)
    result = order_result(out)
    # Two fills (1.2 >= 1) breach; the rest of the taker is not filled nor rested.
    assert [f[3] for f in fills_of(out)] == [D("0.6"), D("0.6")]
    assert (result.status, result.filled_size, result.reason, result.mmp_triggered) == (
        "canceled",
        D("1.2"),
        "mmp_frozen",
        True,
    )
    updates = _updates(out)
    assert updates[result.order_id or 0].mmp_triggered
    assert (updates[resting].reason, updates[resting].mmp_triggered) == ("mmp_frozen", True)
    assert h.resting(call, "buy") == []
    check_invariants(h.engine)


def test_taker_that_breaches_on_its_last_fill_is_filled(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    h.place_id("u", call, "sell", "10", "1")
    result = order_result(h.place("mm", call, "buy", "10", "1", mmp=True))
    assert (result.status, result.mmp_triggered, result.reason) == ("filled", True, None)
    assert h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms)


@pytest.mark.parametrize(("gap", "frozen"), [(999, True), (1_000, False), (5_000, False)])
def test_fills_outside_the_rolling_window_do_not_count(
    h: Harness, syms: tuple[str, str, str], gap: int, frozen: bool
) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    h.place_id("mm", call, "sell", "10", "0.5", mmp=True)
    h.place_id("mm", call, "sell", "10", "0.5", mmp=True)
    h.place("t", call, "buy", "10", "0.5")
    h.ts_ms += gap
    h.place("t", call, "buy", "10", "0.5")
    assert h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms) is frozen


def test_non_mmp_fills_do_not_count(h: Harness, syms: tuple[str, str, str]) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    h.place_id("mm", call, "sell", "10", "5")
    h.place("t", call, "buy", "10", "5")
    h.place_id("t", call, "sell", "10", "5")
    h.place("mm", call, "buy", "10", "5")
    protection = h.engine.state.mmp[("mm", "BTC")]
    assert not protection.is_frozen(h.ts_ms) and protection.window_qty == 0


def test_while_frozen_mmp_orders_are_rejected_and_others_accepted(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call, put, eth = syms
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")
    plain = h.place_id("mm", call, "sell", "20", "1")
    h.place_id("mm", call, "sell", "10", "1", mmp=True)
    h.place("t", call, "buy", "10", "1")
    breached_at = h.ts_ms
    assert mmp_result(h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")).frozen_until_ms == (
        breached_at + 5_000
    )

    h.ts_ms = breached_at + 4_999
    for sym in (call, put):
        before = state_without_clock(h.engine)
        result = order_result(h.place("mm", sym, "buy", "1", "1", mmp=True))
        assert (result.status, result.reason, result.order_id) == ("rejected", "mmp_frozen", None)
        assert state_without_clock(h.engine) == before
    out = h.send("mm", ReplaceOrder(plain, D("21"), D("1"), mmp=True))
    assert order_result(out).reason == "mmp_frozen"
    assert [o for o, *_ in h.resting(call, "sell")] == [plain]
    # Not mmp, another underlying, another wallet: all accepted.
    assert order_result(h.place("mm", call, "buy", "1", "1")).status == "open"
    assert order_result(h.place("mm", eth, "buy", "1", "1", mmp=True)).status == "open"
    assert order_result(h.place("u", call, "buy", "1", "1", mmp=True)).status == "open"
    assert order_result(h.send("mm", ReplaceOrder(plain, D("21"), D("1")))).status == "open"

    # frozen_ms has elapsed: trading resumes on its own.
    h.ts_ms = breached_at + 5_000
    assert order_result(h.place("mm", call, "buy", "1", "1", mmp=True)).status == "open"
    assert mmp_result(h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1")).frozen_until_ms is None
    check_invariants(h.engine)


def test_frozen_ms_zero_freezes_until_reset(h: Harness, syms: tuple[str, str, str]) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 0, qty_limit="1")
    h.place_id("mm", call, "sell", "10", "1", mmp=True)
    h.place("t", call, "buy", "10", "1")
    assert h.engine.state.mmp[("mm", "BTC")].frozen_until == UNTIL_RESET
    h.ts_ms += 30 * 86_400_000
    assert order_result(h.place("mm", call, "sell", "10", "1", mmp=True)).reason == "mmp_frozen"
    # New limits do not lift it either.
    assert mmp_result(h.set_mmp("mm", "BTC", 1_000, 0, qty_limit="9")).frozen_until_ms == (
        UNTIL_RESET
    )
    out = h.reset_mmp("mm")
    assert mmp_result(out) == MmpResult(f"req-{h.seq}", "mm", "ok", None, "BTC", None, h.seq)
    assert order_result(h.place("mm", call, "sell", "10", "1", mmp=True)).status == "open"


def test_reset_unfreezes_and_clears_the_window(h: Harness, syms: tuple[str, str, str]) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 10_000, 60_000, qty_limit="1")
    h.place_id("mm", call, "sell", "10", "1", mmp=True)
    h.place("t", call, "buy", "10", "1")
    assert mmp_result(h.reset_mmp("mm")).frozen_until_ms is None
    h.place_id("mm", call, "sell", "10", "0.6", mmp=True)
    h.place("t", call, "buy", "10", "0.6")
    h.ts_ms += 1
    h.reset_mmp("mm")  # not frozen: still forgets the 0.6
    h.place_id("mm", call, "sell", "10", "0.6", mmp=True)
    h.place("t", call, "buy", "10", "0.6")
    assert not h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms)


def test_disabled_protection_neither_counts_nor_rejects(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="1", enabled=False)
    h.place_id("mm", call, "sell", "10", "3", mmp=True)
    h.place("t", call, "buy", "10", "3")
    assert order_result(h.place("mm", call, "sell", "10", "1", mmp=True)).status == "open"
    assert not h.engine.state.mmp[("mm", "BTC")].window


# --- fill-or-kill under MMP --------------------------------------------------------------


def test_fok_against_mmp_makers_fills_completely_or_not_at_all(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    """The first maker fill breaches the maker's protection, which cancels its next mmp
    order: a FOK taker counting on that order must not be left half filled."""
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="0.5")
    h.place_id("mm", call, "sell", "10", "0.5", mmp=True)
    h.place_id("mm", call, "sell", "11", "0.5", mmp=True)
    resting = h.resting(call, "sell")
    out = h.place("t", call, "buy", "11", "1", tif="fok")
    result = order_result(out)
    assert (result.status, result.filled_size, result.reason) == ("canceled", 0, "fok_unfilled")
    assert not fills_of(out)
    assert h.resting(call, "sell") == resting
    protection = h.engine.state.mmp[("mm", "BTC")]
    assert not protection.window and not protection.is_frozen(h.ts_ms)
    check_invariants(h.engine)


def test_fok_counts_other_makers_behind_a_tripped_one(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="0.5")
    first = h.place_id("mm", call, "sell", "10", "0.5", mmp=True)
    tripped = h.place_id("mm", call, "sell", "11", "0.5", mmp=True)
    other = h.place_id("u", call, "sell", "11", "0.5")
    out = h.place("t", call, "buy", "11", "1", tif="fok")
    assert order_result(out).status == "filled"
    assert [f[0] for f in fills_of(out)] == [first, other]
    assert _updates(out)[tripped].reason == "mmp_frozen"
    check_invariants(h.engine)


def test_fok_sees_the_window_as_of_now(h: Harness, syms: tuple[str, str, str]) -> None:
    """An old fill that has left the window by now must not count in the FOK check."""
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="0.5")
    h.place_id("mm", call, "sell", "9", "0.4", mmp=True)
    h.place_id("mm", call, "sell", "10", "0.3", mmp=True)
    h.place_id("mm", call, "sell", "11", "0.5", mmp=True)
    h.place("t", call, "buy", "9", "0.4")  # 0.4 in the window
    h.ts_ms += 1_500  # ...and out of it again
    out = h.place("t", call, "buy", "11", "0.8", tif="fok")
    assert order_result(out).status == "filled"
    assert h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms)  # 0.3 + 0.5 trips it


def test_fok_mmp_taker_fills_completely_or_not_at_all(
    h: Harness, syms: tuple[str, str, str]
) -> None:
    call = syms[0]
    h.set_mmp("mm", "BTC", 1_000, 5_000, qty_limit="0.5")
    h.place_id("u", call, "sell", "10", "0.5")
    h.place_id("u", call, "sell", "11", "0.5")
    out = h.place("mm", call, "buy", "11", "1", tif="fok", mmp=True)
    result = order_result(out)
    assert (result.status, result.filled_size, result.reason) == ("canceled", 0, "fok_unfilled")
    assert not h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms)
    # Reaching the limit on the very fill that completes it is a fill (then a freeze).
    result = order_result(h.place("mm", call, "buy", "10", "0.5", tif="fok", mmp=True))
    assert (result.status, result.mmp_triggered) == ("filled", True)
    check_invariants(h.engine)


# --- the delta limit ------------------------------------------------------------------


def float_delta(option: str, spot: float, strike: float, vol: float, years: float) -> float:
    """Black-Scholes delta (no rates) in binary floats, for comparison."""
    d1 = (math.log(spot / strike) + vol * vol * years / 2) / (vol * math.sqrt(years))
    n = 0.5 * (1 + math.erf(d1 / math.sqrt(2)))
    return n if option == "call" else n - 1


@pytest.mark.parametrize("option", ["call", "put"])
@pytest.mark.parametrize(
    ("spot", "strike", "vol", "days"),
    [
        ("3100", "3000", "0.8", 30),
        ("3000", "3000", "0.8", 30),
        ("2500", "3000", "0.5", 7),
        ("4000", "3000", "1.2", 365),
        ("3000.5", "3000", "0.3", 0.01),
        ("100", "3000", "0.8", 30),  # deep out of the money: N(d1) ~ 0
    ],
)
def test_decimal_delta_matches_float_black_scholes(
    option: str, spot: str, strike: str, vol: str, days: float
) -> None:
    time_ms = int(days * 86_400_000)
    got = delta(option, D(spot), D(strike), D(vol), time_ms)
    want = float_delta(option, float(spot), float(strike), float(vol), time_ms / YEAR_MS)
    assert abs(got / SCALE - want) <= 1e-6, (got, want)


@settings(max_examples=examples(2_000), deadline=None)
@given(
    call=st.booleans(),
    spot=st.integers(1, 10**16),
    strike=st.integers(1, 10**16),
    vol=st.integers(1, 10**8),
    time_ms=st.integers(1, 10**13),
)
@example(call=True, spot=3_100_000_000, strike=3_000_000_000, vol=800_000, time_ms=2_592_000_000)
@example(call=False, spot=10**16, strike=1, vol=10**8, time_ms=10**13)
@example(call=True, spot=1, strike=10**16, vol=1, time_ms=1)
@example(call=True, spot=3_000_000_000, strike=3_000_000_000, vol=1, time_ms=1)
@example(call=True, spot=1, strike=10**400, vol=800_000, time_ms=1_000)  # ratio underflows
# A subnormal ratio: half its significand is lost (the float path once answered 497,602
# where the definition gives 500,577).
@example(call=True, spot=1, strike=3 * 2**1072, vol=38_580_000, time_ms=365 * 86_400_000)
@example(call=False, spot=1, strike=3 * 2**1072, vol=38_580_000, time_ms=365 * 86_400_000)
@example(call=False, spot=10**400, strike=1, vol=800_000, time_ms=1_000)  # ratio overflows
def test_float_delta_answers_only_what_the_decimal_definition_gives(
    call: bool, spot: int, strike: int, vol: int, time_ms: int
) -> None:
    """The float shortcut may decline (None), never differ: replay depends on it."""
    fast = _float_delta(call, spot, strike, vol, time_ms)
    exact = _decimal_delta(call, spot, strike, vol, time_ms)
    assert fast is None or fast == exact
    assert delta("call" if call else "put", spot, strike, vol, time_ms) == exact


def test_float_delta_declines_next_to_a_rounding_boundary() -> None:
    """Found by search: this call's scaled delta is 601_665.50000004..., 4e-8 above a
    rounding boundary, closer than the float evaluation can vouch for; the decimal
    definition decides (up)."""
    args = (True, 3_100_014_128, 3_000_000_000, 800_000, 2_592_474_734)
    assert _float_delta(*args) is None
    assert _decimal_delta(*args) == 601_666
    assert delta("call", *args[1:]) == 601_666
    # Eight minutes nearer expiry the value is clear of any boundary: floats answer.
    clear = (True, 3_100_014_128, 3_000_000_000, 800_000, 2_592_000_000)
    assert _float_delta(*clear) == _decimal_delta(*clear) == 601_667


def test_delta_at_expiry_or_without_vol_is_intrinsic() -> None:
    assert delta("call", D("3100"), D("3000"), D("0.8"), 0) == SCALE
    assert delta("call", D("2900"), D("3000"), D("0.8"), -5) == 0
    assert delta("put", D("2900"), D("3000"), 0, 1_000) == -SCALE
    assert delta("put", D("3100"), D("3000"), 0, 1_000) == 0


def test_hand_checked_delta_of_a_30_day_call() -> None:
    """S 3100, K 3000, vol 0.8, 30 days: d1 = (ln(31/30) + 0.32 x 30/365) / (0.8 x
    sqrt(30/365)) = 0.25759..., N(d1) = 0.60164..."""
    got = delta("call", D("3100"), D("3000"), D("0.8"), 30 * 86_400_000)
    assert got == round(float_delta("call", 3100, 3000, 0.8, 30 / 365) * SCALE)
    assert 601_600 < got < 601_700


@pytest.fixture
def near(h: Harness) -> tuple[str, str]:
    """A BTC call and put 30 days out, index 3100 and vol 0.8."""
    call = h.list_option(expiry_ms=NEAR_EXPIRY)
    put = h.list_option(expiry_ms=NEAR_EXPIRY, option="put")
    h.admin(SetIndexPrice("BTC", D("3100"), D("0.8")))
    return call, put


def test_engine_delta_uses_index_vol_and_time_to_the_second(
    h: Harness, near: tuple[str, str]
) -> None:
    call, _ = near
    inst = h.engine.state.instruments[call]
    ts = START_TS + 1_234
    want = delta("call", D("3100"), D("3000"), D("0.8"), NEAR_EXPIRY - START_TS - 1_000)
    assert _delta(h.engine.state, inst, ts) == want
    assert abs(want / SCALE - float_delta("call", 3100, 3000, 0.8, 30 / 365)) < 1e-5


def test_delta_breach_and_netting(h: Harness, near: tuple[str, str]) -> None:
    """Per contract the call's delta is ~0.6016 and the put's ~-0.3984. Window deltas are
    signed and net: 0.5 sold (-0.3008) then 0.5 bought nets to 0; selling 0.8 more
    (-0.4813) stays under 0.5; buying 0.2 puts (-0.0797) crosses it."""
    call, put = near
    state = h.engine.state
    h.set_mmp("mm", "BTC", 60_000, 5_000, delta_limit="0.5")
    per_call = _delta(state, state.instruments[call], h.ts_ms)
    per_put = _delta(state, state.instruments[put], h.ts_ms)
    assert per_call - per_put == SCALE  # put-call parity of deltas, no rates

    def maker_fill(sym: str, side: str, size: str) -> Output:
        h.place_id("mm", sym, side, "50", size, mmp=True)  # type: ignore[arg-type]
        taker_side = "buy" if side == "sell" else "sell"
        return h.place("t", sym, taker_side, "50", size)  # type: ignore[arg-type]

    protection = state.mmp[("mm", "BTC")]
    maker_fill(call, "sell", "0.5")
    assert protection.window_delta == -(per_call * D("0.5") // SCALE)
    maker_fill(call, "buy", "0.5")
    assert protection.window_delta == 0
    assert protection.window_qty == D("1")  # no qty limit: quantity alone never freezes
    maker_fill(call, "sell", "0.8")
    expected = -(per_call * D("0.8") // SCALE)
    assert protection.window_delta == expected and abs(expected) < D("0.5")
    watcher = h.place_id("mm", call, "sell", "90", "1", mmp=True)
    out = maker_fill(put, "buy", "0.2")
    assert (per_put * D("0.2") // SCALE) + expected <= -D("0.5")
    assert protection.is_frozen(h.ts_ms)
    assert _updates(out)[watcher].reason == "mmp_frozen"
    check_invariants(h.engine)


def test_delta_without_vol_is_intrinsic(h: Harness, syms: tuple[str, str, str]) -> None:
    """No vol published: an at-the-money call (no index: spot = strike) has delta 0, so
    a delta limit alone never trips on it."""
    call = syms[0]
    h.set_mmp("mm", "BTC", 60_000, 5_000, delta_limit="0.1")
    h.place_id("mm", call, "sell", "10", "5", mmp=True)
    h.place("t", call, "buy", "10", "5")
    assert not h.engine.state.mmp[("mm", "BTC")].is_frozen(h.ts_ms)


# --- MMP is engine state -----------------------------------------------------------------


def test_mmp_state_survives_snapshot_and_is_in_the_digest(
    h: Harness, near: tuple[str, str]
) -> None:
    call, _ = near
    digest = h.engine.digest()
    h.set_mmp("mm", "BTC", 60_000, 0, qty_limit="1", delta_limit="0.9")
    assert h.engine.digest() != digest
    h.place_id("mm", call, "sell", "50", "0.6", mmp=True)
    h.place_id("mm", call, "sell", "51", "0.6", mmp=True)
    digest = h.engine.digest()
    h.place("t", call, "buy", "50", "0.6")
    # Only the window changed (and the book, positions): in the digest all the same.
    assert h.engine.digest() != digest
    snapshot = json.loads(canonical_bytes(h.engine.snapshot()))
    restored = Engine.restore(snapshot)
    assert restored.digest() == h.engine.digest()
    original = h.engine.state.mmp[("mm", "BTC")]
    copy = restored.state.mmp[("mm", "BTC")]
    assert (list(copy.window), copy.window_qty, copy.window_delta) == (
        list(original.window),
        original.window_qty,
        original.window_delta,
    )
    # The next fill breaches in both, with the same outputs.
    envelope = Envelope(h.seq + 1, h.ts_ms + 10, "t", "x", PlaceOrder(call, "buy", D("51"), D("1")))
    out = h.engine.apply(envelope)
    assert restored.apply(envelope) == out
    assert any(u.reason == "mmp_frozen" or u.mmp_triggered for u in events_of(out, OrderUpdate))
    assert restored.digest() == h.engine.digest()
    # Frozen until reset, in both.
    later = Envelope(
        h.seq + 2, h.ts_ms + 99_000, "mm", "y", PlaceOrder(call, "sell", D("50"), D("1"), mmp=True)
    )
    answer = h.engine.apply(later)
    assert restored.apply(later) == answer
    assert order_result(answer).reason == "mmp_frozen"
