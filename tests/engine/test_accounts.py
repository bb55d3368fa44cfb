"""Money: deposits, withdrawals, fees, realized PnL, reservations and short margin.

Every expected amount is worked out in a comment from the formulas in ``accounts`` and
``risk`` (premium = price x size x multiplier; a resting buy holds premium + worst fee;
a short holds margin x size + the net premium received; fees round up).
"""

from __future__ import annotations

import pytest

from hcx.engine.commands import Deposit, SetIndexPrice, Withdraw
from hcx.engine.outputs import AdminResult, Balance, BalanceResult, Fill, IndexPrice, Position

from .helpers import (
    D,
    Harness,
    check_invariants,
    events_of,
    order_result,
    state_without_clock,
)

FUNDS = D("1000000")


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("a", "b"):
        h.fund(w)
    return h


@pytest.fixture
def sym(h: Harness) -> str:
    return h.list_option()


# --- deposits and withdrawals ------------------------------------------------------


def test_deposit_credits_the_named_wallet() -> None:
    h = Harness()
    out = h.admin(Deposit("a", D("12.5")))
    assert isinstance(out.result, AdminResult)
    assert (out.result.status, out.result.command, out.result.wallet) == ("ok", "Deposit", "admin")
    assert events_of(out, Balance) == [Balance("a", D("12.5"), D("12.5"), 0, h.seq)]
    h.admin(Deposit("a", D("0.5")))
    assert h.balance("a") == (D("13"), D("13"), 0)
    assert h.balance("admin") == (0, 0, 0)
    assert h.engine.state.deposited == D("13")


@pytest.mark.parametrize("amount", [0, -1])
def test_deposit_invalid_amount(amount: int) -> None:
    h = Harness()
    out = h.admin(Deposit("a", amount))
    assert (out.result.status, out.result.reason) == ("rejected", "invalid_amount")  # type: ignore[union-attr]
    assert out.events == [] and "a" not in h.engine.state.wallets


def test_deposit_invalid_wallet() -> None:
    h = Harness()
    out = h.admin(Deposit("", D("1")))
    assert (out.result.status, out.result.reason) == ("rejected", "invalid_wallet")  # type: ignore[union-attr]


def test_withdraw_only_from_available(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "buy", "100", "2")  # holds 200.1
    available = FUNDS - D("200.1")
    before = state_without_clock(h.engine)
    out = h.send("a", Withdraw(available + 1))
    assert isinstance(out.result, BalanceResult)
    assert (out.result.status, out.result.reason) == ("rejected", "insufficient_balance")
    # A rejected withdraw still reports the balance as it is.
    assert (out.result.total, out.result.available, out.result.reserved) == (
        FUNDS,
        available,
        D("200.1"),
    )
    assert out.events == [] and state_without_clock(h.engine) == before
    out = h.send("a", Withdraw(available))
    assert isinstance(out.result, BalanceResult)
    assert (out.result.status, out.result.total, out.result.available) == ("ok", D("200.1"), 0)
    assert events_of(out, Balance) == [Balance("a", D("200.1"), 0, D("200.1"), h.seq)]
    assert h.engine.state.withdrawn == available
    check_invariants(h.engine)


@pytest.mark.parametrize("amount", [0, -5])
def test_withdraw_invalid_amount(h: Harness, amount: int) -> None:
    out = h.send("a", Withdraw(amount))
    assert (out.result.status, out.result.reason) == ("rejected", "invalid_amount")  # type: ignore[union-attr]


def test_withdraw_from_unknown_wallet() -> None:
    h = Harness()
    out = h.send("ghost", Withdraw(1))
    assert isinstance(out.result, BalanceResult)
    assert (out.result.status, out.result.reason, out.result.total) == (
        "rejected",
        "insufficient_balance",
        0,
    )
    assert "ghost" not in h.engine.state.wallets


# --- fees ----------------------------------------------------------------------------


def test_fees_are_bps_of_premium_rounded_up() -> None:
    # Fine increments so the premium is not a round number: tick 0.001 x lot 0.001 x
    # multiplier 1 = 1e-6, the smallest premium step the terms rule allows.
    h = Harness()
    sym = h.list_option(tick="0.001", lot="0.001", maker_fee_bps=2, taker_fee_bps=5)
    h.fund("a")
    h.fund("b")
    h.place_id("a", sym, "sell", "12.345", "1.003")
    out = h.place("b", sym, "buy", "12.345", "1.003")
    maker, taker = events_of(out, Fill)
    # premium = 12.345 x 1.003 = 12.382035 = 12_382_035 micro.
    # maker: 12_382_035 x 2 / 10_000 = 2_476.407  -> 2_477
    # taker: 12_382_035 x 5 / 10_000 = 6_191.0175 -> 6_192
    assert (maker.fee, taker.fee) == (2_477, 6_192)
    assert h.balance("a")[0] == FUNDS + 12_382_035 - 2_477
    assert h.balance("b")[0] == FUNDS - 12_382_035 - 6_192
    assert h.engine.state.fees_collected == 2_477 + 6_192


def test_instrument_fee_rates_apply() -> None:
    h = Harness()
    sym = h.list_option(maker_fee_bps=0, taker_fee_bps=100)
    h.fund("a")
    h.fund("b")
    # A buy holds premium + the worse of the two rates: 10 + 1% = 10.1.
    h.place_id("b", sym, "buy", "10", "1")
    assert h.balance("b")[2] == D("10.1")
    out = h.place("a", sym, "sell", "10", "1")
    maker, taker = events_of(out, Fill)
    assert (maker.wallet, maker.fee, taker.wallet, taker.fee) == ("b", 0, "a", D("0.1"))


def test_fees_with_multiplier() -> None:
    # multiplier 0.01: 3 contracts at 250 carry a premium of 7.5.
    h = Harness()
    sym = h.list_option(multiplier="0.01", tick="0.5", lot="1")
    h.fund("a")
    h.fund("b")
    h.place_id("a", sym, "sell", "250", "3")
    out = h.place("b", sym, "buy", "250", "3")
    maker, taker = events_of(out, Fill)
    # 7.5 x 2 bps = 0.0015, 7.5 x 5 bps = 0.00375.
    assert (maker.fee, taker.fee) == (D("0.0015"), D("0.00375"))
    assert h.balance("b")[0] == FUNDS - D("7.5") - D("0.00375")


# --- reservations --------------------------------------------------------------------


def test_buy_reservation_follows_fills_and_cancel(h: Harness, sym: str) -> None:
    order = h.place_id("a", sym, "buy", "100", "2")
    # 200 + 5 bps = 200.1
    assert h.balance("a") == (FUNDS, FUNDS - D("200.1"), D("200.1"))
    out = h.place("b", sym, "sell", "100", "0.5")
    # a bought 0.5 as maker: paid 50 + 2 bps (0.01). The 1.5 left holds 150 + 0.075.
    total = FUNDS - D("50.01")
    assert h.balance("a") == (total, total - D("150.075"), D("150.075"))
    (balance_a,) = [b for b in events_of(out, Balance) if b.wallet == "a"]
    assert (balance_a.total, balance_a.reserved) == (total, D("150.075"))
    h.cancel("a", order)
    assert h.balance("a") == (total, total, 0)
    check_invariants(h.engine)


def test_taker_buy_holds_nothing_after_filling_below_its_limit(h: Harness, sym: str) -> None:
    h.place_id("b", sym, "sell", "100", "2")
    h.place("a", sym, "buy", "110", "2")
    # Paid 200 + 5 bps (0.1); a long position needs no collateral.
    assert h.balance("a") == (FUNDS - D("200.1"), FUNDS - D("200.1"), 0)


def test_short_holds_margin_then_margin_plus_premium(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "100", "2")
    # No index: S = K = 3000, margin 450 per contract, 900 for 2.
    assert h.balance("a") == (FUNDS, FUNDS - D("900"), D("900"))
    h.place("b", sym, "buy", "100", "1.5")
    # Filled 1.5: a received 150 - 2 bps (0.03) = 149.97, which stays held as the net
    # premium of the short. Margin is still on 2 (1.5 short + 0.5 resting): 900.
    total = FUNDS + D("149.97")
    assert h.balance("a") == (total, total - D("1049.97"), D("1049.97"))
    check_invariants(h.engine)


def test_covered_then_uncovered_sells(h: Harness, sym: str) -> None:
    h.place_id("b", sym, "sell", "100", "1")
    h.place("a", sym, "buy", "100", "1")
    total = FUNDS - D("100.05")
    assert h.balance("a") == (total, total, 0)
    # Selling 3 against a long of 1 leaves 2 uncovered: 2 x 450 = 900.
    h.place_id("a", sym, "sell", "200", "3")
    assert h.balance("a") == (total, total - D("900"), D("900"))


# --- realized PnL ------------------------------------------------------------------


def test_realized_pnl_on_closing_a_long(h: Harness, sym: str) -> None:
    h.fund("c")
    h.place_id("b", sym, "sell", "100", "2")
    h.place("a", sym, "buy", "100", "2")  # cost 200
    h.place_id("c", sym, "buy", "130", "1")
    out = h.place("a", sym, "sell", "130", "1")
    # Closing 1 of 2: releases half the cost (100) against a premium of 130.
    (fill,) = [f for f in events_of(out, Fill) if f.wallet == "a"]
    assert fill.realized_pnl == D("30")
    (pos,) = [p for p in events_of(out, Position) if p.wallet == "a"]
    assert (pos.size, pos.entry_price, pos.realized_pnl) == (D("1"), D("100"), D("30"))
    h.place_id("c", sym, "buy", "90", "1")
    out = h.place("a", sym, "sell", "90", "1")
    (fill,) = [f for f in events_of(out, Fill) if f.wallet == "a"]
    assert fill.realized_pnl == D("-10")
    (pos,) = [p for p in events_of(out, Position) if p.wallet == "a"]
    assert (pos.size, pos.entry_price, pos.realized_pnl) == (0, 0, D("20"))
    check_invariants(h.engine)


def test_realized_pnl_on_closing_a_short_and_flipping(h: Harness, sym: str) -> None:
    h.fund("c")
    h.place_id("a", sym, "sell", "100", "2")
    h.place("b", sym, "buy", "100", "2")  # a short 2, cost -200
    h.place_id("c", sym, "sell", "80", "3")
    out = h.place("a", sym, "buy", "80", "3")
    # Buying 3: closes the short 2 (received 200, pays 160: +40) and opens a long 1 @ 80.
    (fill,) = [f for f in events_of(out, Fill) if f.wallet == "a"]
    assert fill.realized_pnl == D("40")
    (pos,) = [p for p in events_of(out, Position) if p.wallet == "a"]
    assert (pos.size, pos.entry_price, pos.realized_pnl) == (D("1"), D("80"), D("40"))
    # a's cash: -0.04 (maker fee on 200) + 200 - 240 - 0.12 (taker fee on 240).
    assert h.balance("a") == (FUNDS + D("-40.16"), FUNDS + D("-40.16"), 0)
    check_invariants(h.engine)


def test_opening_fills_realize_nothing(h: Harness, sym: str) -> None:
    h.place_id("a", sym, "sell", "100", "1")
    out = h.place("b", sym, "buy", "100", "1")
    assert [f.realized_pnl for f in events_of(out, Fill)] == [0, 0]
    positions = {p.wallet: (p.size, p.entry_price) for p in events_of(out, Position)}
    assert positions == {"a": (-D("1"), D("100")), "b": (D("1"), D("100"))}


# --- index price and margin ---------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "index", "per_contract"),
    [
        # call K=3000: max(15% S - max(K - S, 0), 10% S)
        ("call", "3000", "450"),  # max(450 - 0, 300)
        ("call", "2000", "200"),  # max(300 - 1000, 200)
        ("call", "4000", "600"),  # max(600 - 0, 400)
        ("call", "2800", "280"),  # max(420 - 200, 280) = 280
        ("call", "2900", "335"),  # max(435 - 100, 290) = 335
        # put K=3000: max(15% S - max(S - K, 0), 10% K)
        ("put", "3000", "450"),  # max(450, 300)
        ("put", "2500", "375"),  # max(375 - 0, 300)
        ("put", "4000", "300"),  # max(600 - 1000, 300)
        ("put", "3100", "365"),  # max(465 - 100, 300)
    ],
)
def test_short_margin_formula(option: str, index: str, per_contract: str) -> None:
    h = Harness()
    sym = h.list_option(option=option)  # type: ignore[arg-type]
    h.set_index("BTC", index)
    h.fund("a")
    h.place_id("a", sym, "sell", "1", "2")
    assert h.balance("a")[2] == 2 * D(per_contract)


def test_margin_scales_with_multiplier_and_rounds_up() -> None:
    # multiplier 0.001, index 3000.0001 (off a whole dollar on purpose):
    # 15% x 3000.0001 = 450.000015; x 0.001 = 0.450000015 -> 0.450001 per contract;
    # sell 1 lot of 3 contracts: 1.350003.
    h = Harness()
    sym = h.list_option(multiplier="0.001", tick="1", lot="1")
    h.admin(SetIndexPrice("BTC", D("3000.0001")))
    h.fund("a")
    h.place_id("a", sym, "sell", "1", "3")
    assert h.balance("a")[2] == D("1.350003")


def test_set_index_price_changes_short_margin() -> None:
    h = Harness()
    call = h.list_option()
    other = h.list_option("ETH", strike="3000")
    h.fund("a", "300")
    out = h.set_index("BTC", "4000")
    assert events_of(out, IndexPrice) == [IndexPrice("BTC", D("4000"), h.ts_ms, h.seq)]
    # 600 per contract at S=4000: 300 is not enough.
    assert order_result(h.place("a", call, "sell", "1", "1")).reason == "insufficient_balance"
    h.set_index("BTC", "2000")
    # 200 per contract at S=2000.
    assert order_result(h.place("a", call, "sell", "1", "1")).status == "open"
    assert h.balance("a")[2] == D("200")
    # Another underlying's index does not move this one: ETH still uses S = K = 3000.
    assert order_result(h.place("a", other, "sell", "1", "1")).reason == "insufficient_balance"
    check_invariants(h.engine)


def test_existing_reservation_repriced_when_touched() -> None:
    # The engine prices collateral when an exposure changes: after an index move the
    # next order on the instrument reprices what it already holds.
    h = Harness()
    sym = h.list_option()
    h.fund("a")
    h.set_index("BTC", "2000")
    first = h.place_id("a", sym, "sell", "1", "1")
    assert h.balance("a")[2] == D("200")
    h.set_index("BTC", "4000")
    h.place_id("a", sym, "sell", "1", "1")
    assert h.balance("a")[2] == D("1200")  # 2 x 600
    h.cancel("a", first)
    assert h.balance("a")[2] == D("600")
    check_invariants(h.engine)


@pytest.mark.parametrize(("price", "vol"), [(0, None), (-1, None), (D("1"), 0)])
def test_set_index_price_rejects_bad_values(price: int, vol: int | None) -> None:
    h = Harness()
    out = h.admin(SetIndexPrice("BTC", price, vol))
    assert out.result.status == "rejected" and out.events == []  # type: ignore[union-attr]
    assert h.engine.state.index_prices == {}
