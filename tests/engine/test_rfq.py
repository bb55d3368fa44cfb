"""RFQ execution: ``AcceptQuote`` (``hcx.engine.rfq``; PROTOCOL.md, RFQ).

The service fills in the quote's terms (quoter, legs as (symbol, taker side, size,
price), expiry, whether the quote is under the quoter's MMP). The engine checks, first
failure wins: ``unknown_quote`` (no legs), ``self_trade``, ``quote_expired``,
``quote_already_filled``, each leg's ``unknown_symbol`` / ``instrument_not_active`` /
``invalid_price`` / ``invalid_size``, the quoter's ``mmp_frozen``, and both wallets'
``insufficient_balance`` after all legs. Then every leg executes at its quoted price, or
none does: the taker pays the taker fee, the quoter the maker fee, fills carry the RFQ's
ids, the result the taker's first ``fill_id``, and the quoter's MMP counts them when the
quote asked for it.
"""

from __future__ import annotations

import pytest

from hcx.engine.commands import AcceptQuote, HaltInstrument, Side
from hcx.engine.outputs import (
    Fill,
    InstrumentUpdate,
    OrderUpdate,
    Output,
    Position,
    RfqResult,
    Trade,
)

from .helpers import (
    START_TS,
    D,
    Harness,
    check_invariants,
    events_of,
    state_without_clock,
)

Leg = tuple[str, Side, str, str]


def rfq_result(out: Output) -> RfqResult:
    assert isinstance(out.result, RfqResult), out.result
    return out.result


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("t", "q", "x"):
        h.fund(w, "100000")
    return h


@pytest.fixture
def syms(h: Harness) -> tuple[str, str, str, str]:
    """BTC 3000 call and put, BTC 3200 call (tick 0.1, lot 0.1, multiplier 1) and an ETH
    2000 call (tick 1, lot 1, multiplier 0.1); fees 2 bps maker, 5 bps taker."""
    return (
        h.list_option(),
        h.list_option(option="put"),
        h.list_option(strike="3200"),
        h.list_option(underlying="ETH", strike="2000", tick="1", lot="1", multiplier="0.1"),
    )


def four_legs(syms: tuple[str, str, str, str]) -> list[Leg]:
    call, put, call2, eth = syms
    return [
        (call, "buy", "1", "50"),  # premium 50
        (put, "sell", "2", "40"),  # 80
        (call2, "buy", "0.5", "20"),  # 10
        (eth, "sell", "3", "15"),  # 3 x 15 x 0.1 = 4.5
    ]


# Per leg of ``four_legs``: (taker's cash change, quoter's), fees included.
# Taker fee 5 bps: 0.025, 0.04, 0.005, 0.00225. Maker fee 2 bps: 0.01, 0.016, 0.002, 0.0009.
CASH = [
    ("-50.025", "49.99"),
    ("79.96", "-80.016"),
    ("-10.005", "9.998"),
    ("4.49775", "-4.5009"),
]
FEES = [("0.025", "0.01"), ("0.04", "0.016"), ("0.005", "0.002"), ("0.00225", "0.0009")]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_all_legs_execute_at_the_quoted_prices(
    h: Harness, syms: tuple[str, str, str, str], n: int
) -> None:
    legs = four_legs(syms)[:n]
    # A better price resting in the book is not touched: the quote is not the book.
    resting = h.place_id("x", syms[0], "sell", "1", "5")
    state = h.engine.state
    t_total, q_total, fees = h.balance("t")[0], h.balance("q")[0], state.fees_collected
    first_fill = state.next_fill_id
    first_trade = state.next_trade_id

    out = h.accept("t", "q", legs, rfq_id="r-1", quote_id="q-1")
    result = rfq_result(out)
    assert result == RfqResult(f"req-{h.seq}", "t", "r-1", "q-1", "filled", first_fill, None, h.seq)

    assert h.balance("t")[0] == t_total + sum(D(c[0]) for c in CASH[:n])
    assert h.balance("q")[0] == q_total + sum(D(c[1]) for c in CASH[:n])
    assert state.fees_collected == fees + sum(D(a) + D(b) for a, b in FEES[:n])

    trades = events_of(out, Trade)
    fills = events_of(out, Fill)
    assert len(trades) == n and len(fills) == 2 * n
    for i, (symbol, side, size, price) in enumerate(legs):
        trade = trades[i]
        assert (trade.symbol, trade.trade_id, trade.price, trade.size, trade.taker_side) == (
            symbol,
            first_trade + i,
            D(price),
            D(size),
            side,
        )
        mine = [f for f in fills if f.trade_id == trade.trade_id]
        taker = next(f for f in mine if f.wallet == "t")
        quoter = next(f for f in mine if f.wallet == "q")
        other: Side = "sell" if side == "buy" else "buy"
        assert (taker.side, taker.liquidity, taker.fee, taker.fill_id) == (
            side,
            "taker",
            D(FEES[i][0]),
            first_fill + 2 * i,
        )
        assert (quoter.side, quoter.liquidity, quoter.fee, quoter.fill_id) == (
            other,
            "maker",
            D(FEES[i][1]),
            first_fill + 2 * i + 1,
        )
        for fill in (taker, quoter):
            assert (fill.rfq_id, fill.quote_id, fill.order_id) == ("r-1", "q-1", None)
            assert (fill.symbol, fill.price, fill.size, fill.seq) == (
                symbol,
                D(price),
                D(size),
                h.seq,
            )
        signed = D(size) if side == "buy" else -D(size)
        assert (h.position("t", symbol), h.position("q", symbol)) == (signed, -signed)
    positions = {(p.wallet, p.symbol) for p in events_of(out, Position)}
    assert positions == {(w, leg[0]) for w in ("t", "q") for leg in legs}
    assert h.resting(syms[0], "sell") == [(resting, "x", D("1"), D("5"))]
    assert not events_of(out, OrderUpdate)
    assert state.filled_rfqs == {"r-1": h.ts_ms + 60_000}
    check_invariants(h.engine)


def test_two_legs_on_one_symbol_and_a_closing_leg(
    h: Harness, syms: tuple[str, str, str, str]
) -> None:
    call = syms[0]
    h.accept("t", "q", [(call, "buy", "1", "50")], rfq_id="r-1")
    out = h.accept("t", "q", [(call, "sell", "0.4", "60"), (call, "sell", "0.6", "70")], "r-2")
    assert rfq_result(out).status == "filled"
    assert (h.position("t", call), h.position("q", call)) == (0, 0)
    # Bought 1 at 50, sold 0.4 at 60 and 0.6 at 70: realized 4 + 12.
    assert [f.realized_pnl for f in events_of(out, Fill) if f.wallet == "t"] == [D("4"), D("12")]
    check_invariants(h.engine)


# --- refusals: nothing executes ----------------------------------------------------------


def _refused(h: Harness, out: Output, reason: str, before: dict[str, object]) -> None:
    result = rfq_result(out)
    assert (result.status, result.reason, result.fill_id, result.seq) == (
        "rejected",
        reason,
        None,
        h.seq,
    )
    assert out.events == []
    assert state_without_clock(h.engine) == before


def test_no_legs_is_unknown_quote(h: Harness, syms: tuple[str, str, str, str]) -> None:
    before = state_without_clock(h.engine)
    # What the service sends for a quote it does not know: no quoter, no legs.
    out = h.send("t", AcceptQuote("r-1", "q-1", "", (), 0))
    _refused(h, out, "unknown_quote", before)
    assert (rfq_result(out).rfq_id, rfq_result(out).quote_id) == ("r-1", "q-1")


def test_taker_is_quoter_is_self_trade(h: Harness, syms: tuple[str, str, str, str]) -> None:
    before = state_without_clock(h.engine)
    _refused(h, h.accept("q", "q", four_legs(syms)), "self_trade", before)
    # Before the expiry check, too.
    _refused(h, h.accept("q", "q", four_legs(syms), expires_ms=1), "self_trade", before)


def test_expired_quote(h: Harness, syms: tuple[str, str, str, str]) -> None:
    before = state_without_clock(h.engine)
    legs = four_legs(syms)[:1]
    _refused(h, h.accept("t", "q", legs, expires_ms=h.ts_ms - 1), "quote_expired", before)
    # Valid through its expiry ms itself.
    assert rfq_result(h.accept("t", "q", legs, expires_ms=h.ts_ms)).status == "filled"


def test_second_acceptance_of_an_rfq_is_refused(
    h: Harness, syms: tuple[str, str, str, str]
) -> None:
    legs = four_legs(syms)[:2]
    first = h.ts_ms
    assert rfq_result(h.accept("t", "q", legs, "r-1", "q-1", first + 100)).status == "filled"
    before = state_without_clock(h.engine)
    # The same quote again, another quote of the same RFQ, from another taker too.
    _refused(h, h.accept("t", "q", legs, "r-1", "q-1", first + 100), "quote_already_filled", before)
    _refused(h, h.accept("t", "x", legs, "r-1", "q-2", first + 500), "quote_already_filled", before)
    _refused(h, h.accept("x", "q", legs, "r-1", "q-3", first + 500), "quote_already_filled", before)
    # Another RFQ is another matter.
    assert rfq_result(h.accept("t", "q", legs, "r-2", "q-1", first + 100)).status == "filled"


def test_another_quote_of_a_filled_rfq_is_refused_after_the_first_expired(
    h: Harness, syms: tuple[str, str, str, str]
) -> None:
    """Quotes of one RFQ expire at different times. Once the accepted one has expired,
    another, still valid, must still find the RFQ filled."""
    legs = four_legs(syms)[:1]
    start = h.ts_ms
    assert rfq_result(h.accept("t", "q", legs, "r-1", "q-1", start + 100)).status == "filled"
    h.ts_ms = start + 150
    out = h.accept("t", "x", legs, "r-1", "q-2", start + 30_000)
    assert (rfq_result(out).status, rfq_result(out).reason) == ("rejected", "quote_already_filled")
    # An unrelated acceptance in between does not make it forget either.
    h.ts_ms = start + 200
    assert rfq_result(h.accept("t", "q", legs, "r-2", "q-9", start + 300)).status == "filled"
    h.ts_ms = start + 29_000
    out = h.accept("t", "x", legs, "r-1", "q-3", start + 30_000)
    assert rfq_result(out).reason == "quote_already_filled"


def test_filled_rfqs_are_forgotten_eventually(h: Harness, syms: tuple[str, str, str, str]) -> None:
    """The memory of filled RFQs does not grow for ever."""
    legs = four_legs(syms)[:1]
    h.accept("t", "q", legs, "r-1", "q-1", h.ts_ms + 100)
    h.ts_ms += 7 * 86_400_000
    h.accept("t", "q", legs, "r-2", "q-1")
    assert list(h.engine.state.filled_rfqs) == ["r-2"]


@pytest.mark.parametrize(
    ("bad_leg", "reason"),
    [
        (("BTC-20300101-9999-C", "buy", "1", "50"), "unknown_symbol"),
        ((0, "buy", "1", "50.05"), "invalid_price"),
        ((0, "buy", "1", "0"), "invalid_price"),
        ((0, "buy", "1", "-50"), "invalid_price"),
        ((0, "buy", "1.05", "50"), "invalid_size"),
        ((0, "buy", "0", "50"), "invalid_size"),
        ((0, "buy", "-1", "50"), "invalid_size"),
        ((3, "sell", "1.5", "15"), "invalid_size"),  # ETH: lot 1
        ((3, "sell", "1", "15.5"), "invalid_price"),  # ETH: tick 1
    ],
)
def test_a_bad_leg_refuses_the_whole_quote(
    h: Harness, syms: tuple[str, str, str, str], bad_leg: tuple[object, ...], reason: str
) -> None:
    symbol, side, size, price = bad_leg
    leg = (syms[symbol] if isinstance(symbol, int) else symbol, side, size, price)
    before = state_without_clock(h.engine)
    # The bad leg last: the three before it were fine and must not have executed.
    legs = [*four_legs(syms)[:3], leg]
    _refused(h, h.accept("t", "q", legs), reason, before)  # type: ignore[arg-type]


def test_more_than_four_legs(h: Harness, syms: tuple[str, str, str, str]) -> None:
    before = state_without_clock(h.engine)
    legs = [*four_legs(syms), four_legs(syms)[0]]
    _refused(h, h.accept("t", "q", legs), "invalid_legs", before)


def test_halted_or_expired_leg_is_instrument_not_active(
    h: Harness, syms: tuple[str, str, str, str]
) -> None:
    expiring = h.list_option(strike="3300", expiry_ms=START_TS + 1_000)
    h.admin(HaltInstrument(syms[1]))
    before = state_without_clock(h.engine)
    legs = four_legs(syms)
    _refused(h, h.accept("t", "q", legs), "instrument_not_active", before)
    legs = [legs[0], (expiring, "buy", "1", "5")]
    assert rfq_result(h.accept("t", "q", legs, "r-0", expires_ms=START_TS + 5_000)).status == (
        "filled"
    )
    h.ts_ms = START_TS + 1_000
    out = h.accept("t", "q", legs, "r-1", expires_ms=START_TS + 5_000)
    assert rfq_result(out).reason == "instrument_not_active"
    # The expiry itself happened in this command; nothing else did.
    assert [type(e) for e in out.events] == [InstrumentUpdate]


def test_quoter_frozen_by_mmp(h: Harness, syms: tuple[str, str, str, str]) -> None:
    call, put, _, eth = syms
    h.set_mmp("q", "BTC", 1_000, 5_000, qty_limit="1")
    h.place_id("q", call, "sell", "10", "1", mmp=True)
    h.place("x", call, "buy", "10", "1")
    assert h.engine.state.mmp[("q", "BTC")].is_frozen(h.ts_ms)
    before = state_without_clock(h.engine)
    out = h.accept("t", "q", [(put, "buy", "1", "40")], quoter_mmp=True)
    _refused(h, out, "mmp_frozen", before)
    # Any leg on the frozen underlying refuses it; other underlyings are free.
    out = h.accept("t", "q", [(eth, "buy", "1", "15"), (put, "buy", "1", "40")], quoter_mmp=True)
    assert rfq_result(out).reason == "mmp_frozen"
    assert rfq_result(
        h.accept("t", "q", [(eth, "buy", "1", "15")], "r-e", quoter_mmp=True)
    ).status == ("filled")
    # A quote not under MMP is not refused.
    assert rfq_result(h.accept("t", "q", [(put, "buy", "1", "40")], "r-p")).status == "filled"
    # The taker's own MMP is not the question.
    h.set_mmp("t", "BTC", 1_000, 0, qty_limit="0.1")
    h.place_id("t", call, "sell", "10", "0.1", mmp=True)
    h.place("x", call, "buy", "10", "0.1")
    out = h.accept("t", "x", [(put, "buy", "1", "40")], "r-t", quoter_mmp=True)
    assert rfq_result(out).status == "filled"


def test_insufficient_balance_on_either_side(h: Harness, syms: tuple[str, str, str, str]) -> None:
    call = syms[0]
    h.fund("poor", "100")
    before = state_without_clock(h.engine)
    # The poor taker cannot pay 200 of premium.
    _refused(h, h.accept("poor", "q", [(call, "buy", "4", "50")]), "insufficient_balance", before)
    # The poor quoter cannot sell 1 call short: 450 margin.
    _refused(h, h.accept("t", "poor", [(call, "buy", "1", "50")]), "insufficient_balance", before)
    # Checked after all legs: alone, the buy is too dear; sold back at 100 in the same
    # quote it costs the poor taker 50 and fees.
    alone = h.accept("poor", "q", [(call, "buy", "1", "150")])
    assert rfq_result(alone).reason == "insufficient_balance"
    legs: list[Leg] = [(call, "buy", "1", "150"), (call, "sell", "1", "100")]
    assert rfq_result(h.accept("poor", "q", legs, "r-ok")).status == "filled"
    assert h.balance("poor")[0] == D("100") - D("50") - D("0.075") - D("0.05")
    check_invariants(h.engine)


# --- RFQ fills and the quoter's MMP ------------------------------------------------------


def test_rfq_fills_count_toward_the_quoters_mmp(
    h: Harness, syms: tuple[str, str, str, str]
) -> None:
    call, put, _, eth = syms
    h.set_mmp("q", "BTC", 1_000, 5_000, qty_limit="1")
    mmp_order = h.place_id("q", put, "sell", "90", "1", mmp=True)
    plain = h.place_id("q", put, "sell", "95", "1")
    eth_order = h.place_id("q", eth, "sell", "90", "1", mmp=True)
    out = h.accept(
        "t", "q", [(call, "buy", "0.6", "50"), (put, "buy", "0.4", "40")], "r-1", quoter_mmp=True
    )
    assert rfq_result(out).status == "filled"  # both legs execute; then the freeze
    updates = {u.order_id: u for u in events_of(out, OrderUpdate)}
    assert set(updates) == {mmp_order}
    assert (updates[mmp_order].reason, updates[mmp_order].mmp_triggered) == ("mmp_frozen", True)
    assert [o for o, *_ in h.resting(put, "sell")] == [plain]
    assert [o for o, *_ in h.resting(eth, "sell")] == [eth_order]
    assert h.engine.state.mmp[("q", "BTC")].frozen_until == h.ts_ms + 5_000
    check_invariants(h.engine)


def test_rfq_fills_without_quoter_mmp_do_not_count(
    h: Harness, syms: tuple[str, str, str, str]
) -> None:
    call = syms[0]
    h.set_mmp("q", "BTC", 1_000, 5_000, qty_limit="10")
    h.set_mmp("t", "BTC", 1_000, 5_000, qty_limit="10")
    h.accept("t", "q", [(call, "buy", "5", "50")], "r-1")
    assert h.engine.state.mmp[("q", "BTC")].window_qty == 0
    # Under the quote's MMP the quoter's side counts; the taker's side never does.
    h.accept("t", "q", [(call, "buy", "4", "50")], "r-2", quoter_mmp=True)
    assert h.engine.state.mmp[("q", "BTC")].window_qty == D("4")
    assert h.engine.state.mmp[("t", "BTC")].window_qty == 0
    h.accept("t", "q", [(call, "buy", "6", "50")], "r-3", quoter_mmp=True)
    assert h.engine.state.mmp[("q", "BTC")].is_frozen(h.ts_ms)
    assert not h.engine.state.mmp[("t", "BTC")].is_frozen(h.ts_ms)
